"""The bench's "glass": a frame code painted at 100 Hz beside a page of dense clinic text.

    DISPLAY=:N python -m bench.glass --log paints.txt [--mode static]

Two parts share the screen of a virtual display:

- a code strip at the top-left corner (``bench/glass_code.py``), painted by its own thread on
  its own X connection, 100 times a second: each step inverts two blocks with one X request
  and then waits for the server (``sync``), so the time logged for counter *n* is when its
  pixels were in the framebuffer. Lines ``n wall_time_s`` go to ``--log``;
- a Tk window with what a clinic screen holds: a page of dense EHR text (Japanese and
  figures), a photo-like image panel and a notes line. Modes: ``static`` (nothing but the code
  moves), ``typing`` (a few characters a second on the notes line), ``scrolling`` (the page
  scrolls smoothly, 3 px every 20 ms), ``scroll<N>`` (the page scrolls at N px/s, 100 <= N
  <= 5000, by whole pixels every 10 ms, kept at that speed by the clock: a flick through a
  long chart), ``image`` (the image pans inside its panel at 30 Hz), and the other rate
  modes of ``bench/glass_content.py``: ``pages<N>`` (page switches), ``pan<N>`` and
  ``xray<N>`` (a full-screen photo or radiograph panning sideways).

Commands on stdin, one per line; answers on stdout:

    mode typing            -> ok mode typing
    mode scroll1000        -> ok mode scroll1000
    caret on               -> ok caret                (a blinking caret where typing goes)
    static_at 1700000000.5 -> settled 1700000000.49   (last activity paint before that time)
    quit

Geometry (``text_box``) is printed once at start as ``ready {json}``: the receivers compare
that region with the source pixels once the screen has settled.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
import tkinter as tk
import tkinter.font as tkfont
from typing import Any, Final

from bench import glass_code
from bench.glass_content import (
    clinic_text,
    content_speed,
    is_rate_mode,
    page_rate,
    photo_ppm,
    radiograph_ppm,
    scroll_speed,
)

MODES: Final = ("static", "typing", "scrolling", "image")
CODE_HZ: Final = 100
TYPING_CPS: Final = 6
CARET_MS: Final = 530  # Windows' default caret blink (GetCaretBlinkTime)
SCROLL_PX: Final = 3
SCROLL_MS: Final = 20
IMAGE_MS: Final = 33
SPEED_MS: Final = 10
HEADER_H: Final = 48
TYPED: Final = "BP 128/82 mmHg, HR 72, 体温 36.8℃。咳嗽なし、胸部聴診異常なし。次回2週間後。"


class CodePainter(threading.Thread):
    """Paints the frame code at 100 Hz on its own X connection and logs each paint."""

    def __init__(self, display: str, log_path: str) -> None:
        super().__init__(name="glass-code", daemon=True)
        self._display_name = display
        self._log = open(log_path, "w", encoding="ascii", buffering=1 << 16)  # noqa: SIM115
        self._halt = threading.Event()
        self.ready = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        from Xlib import error as xerror

        try:
            self._paint()
        except (xerror.ConnectionClosedError, OSError):
            pass  # the display went away first: the bench is tearing down
        finally:
            self._log.close()

    def _paint(self) -> None:
        from Xlib import X
        from Xlib import display as xdisplay

        conn = xdisplay.Display(self._display_name)
        screen = conn.screen()
        window = screen.root.create_window(
            0, 0, glass_code.WIDTH, glass_code.HEIGHT, 0, screen.root_depth,
            X.InputOutput, X.CopyFromParent,
            background_pixel=screen.white_pixel, override_redirect=True,
        )  # fmt: skip
        window.map()
        window.configure(stack_mode=X.Above)
        black = window.create_gc(foreground=screen.black_pixel)
        invert = window.create_gc(function=X.GXinvert)
        conn.sync()
        n = 0
        window.clear_area(0, 0, glass_code.WIDTH, glass_code.HEIGHT)
        rects = []
        for i, bit in enumerate(glass_code.bits_of(n)):
            row = 0 if bit else 1  # a 1 is black on top, white below; a 0 the other way round
            rects.append((i * glass_code.BLOCK, row * glass_code.BLOCK, glass_code.BLOCK,
                          glass_code.BLOCK))  # fmt: skip
        window.poly_fill_rectangle(black, rects)
        conn.sync()
        self._log.write(f"{n} {time.time():.6f}\n")
        self.ready.set()
        period = 1 / CODE_HZ
        next_at = time.monotonic() + period
        while not self._halt.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += period
            if next_at < time.monotonic():
                next_at = time.monotonic() + period  # fell behind: do not burst
            n += 1
            x = glass_code.changed_bit(n) * glass_code.BLOCK
            # Both blocks of the changed bit flip in one request: a capture sees the old
            # counter or the new one, never half of each.
            window.poly_fill_rectangle(invert, [(x, 0, glass_code.BLOCK, glass_code.BLOCK * 2)])
            conn.sync()
            self._log.write(f"{n} {time.time():.6f}\n")
        conn.close()


class Glass:
    """The Tk side: text page, image panel, notes line, and the modes that animate them."""

    def __init__(self, root: tk.Tk) -> None:
        self.root = root
        self.mode = "static"
        self.last_activity = time.time()
        width, height = root.winfo_screenwidth(), root.winfo_screenheight()
        root.overrideredirect(True)
        root.geometry(f"{width}x{height}+0+0")
        root.configure(background="#ffffff")
        families = set(tkfont.families(root))
        family = next(
            (f for f in ("Noto Sans CJK JP", "Noto Sans JP", "DejaVu Sans") if f in families),
            "TkDefaultFont",
        )
        panel_w = width * 5 // 16
        text_w = width - panel_w - 16
        tk.Label(
            root, text="さくら内科クリニック 経過記録 (bench glass)", font=(family, 13, "bold"),
            background="#ffffff", foreground="#1a1f1d", anchor="w",
        ).place(x=glass_code.WIDTH + 16, y=6, height=36)  # fmt: skip
        self.text = tk.Text(
            root, font=(family, 10), wrap="none", borderwidth=0, highlightthickness=0,
            background="#ffffff", foreground="#1a1f1d", spacing1=1, padx=8, cursor="arrow",
        )  # fmt: skip
        # Long enough that the fastest scroll wraps around rarely (a jump, like a page switch).
        self.text.insert("1.0", clinic_text(1600))
        self.text.place(x=0, y=HEADER_H, width=text_w, height=height - HEADER_H)
        self.text_box = (0, HEADER_H, text_w, height - HEADER_H)
        # The notes line is the one typing edits: line 6, visible whatever the size.
        self.notes_index = "6.0"
        self.text.insert(self.notes_index, "所見: \n")
        self.typed = 0
        # "caret on": a 2x15 px bar after the notes line's end, shown and hidden every
        # CARET_MS (Tk's own insert cursor did not blink at rest on Xvfb).
        self.caret: tk.Frame | None = None
        self.scroll_debt = 0.0
        self.scroll_at = time.monotonic()

        image_w, image_h = panel_w - 16, (panel_w - 16) * 3 // 4
        self.canvas = tk.Canvas(
            root, width=image_w, height=image_h, highlightthickness=0, background="#000000"
        )
        self.canvas.place(x=text_w + 16, y=HEADER_H + 16)
        self.photo = tk.PhotoImage(data=photo_ppm(image_w * 2, image_h * 2), format="ppm")
        self.image = self.canvas.create_image(0, 0, image=self.photo, anchor="nw")
        self.image_limits = (image_w, image_h)
        self.image_step = [3, 2]
        tk.Label(
            root, text=clinic_text(24), font=(family, 9), justify="left", anchor="nw",
            background="#f4f6f5", foreground="#1a1f1d",
        ).place(x=text_w + 16, y=HEADER_H + 32 + image_h, width=image_w,
                height=height - HEADER_H - 48 - image_h)  # fmt: skip
        # The full-screen pictures the panning modes move below the header (hidden in
        # other modes), half a screen wider than it; made now, so no window pays for them.
        self.pan_span = width // 2
        self.pan_canvas = tk.Canvas(
            root, width=width, height=height - HEADER_H, highlightthickness=0,
            background="#000000",
        )  # fmt: skip
        size = (width + self.pan_span, height - HEADER_H)
        self.pan_photos = {
            "pan": tk.PhotoImage(data=photo_ppm(*size), format="ppm"),
            "xray": tk.PhotoImage(data=radiograph_ppm(*size), format="ppm"),
        }
        self.pan_item = self.pan_canvas.create_image(0, 0, image=self.pan_photos["pan"],
                                                     anchor="nw")  # fmt: skip
        self.pan_x = 0
        self.pan_direction = -1
        self.commands: queue.Queue[str] = queue.Queue()
        self._tick()
        self._poll_commands()

    def _tick(self) -> None:
        delay = 50
        if self.mode == "typing":
            if self.typed >= len(TYPED):
                self.text.delete(f"{self.notes_index} lineend -{self.typed}c",
                                 f"{self.notes_index} lineend")  # fmt: skip
                self.typed = 0
            self.text.insert(f"{self.notes_index} lineend", TYPED[self.typed])
            self.typed += 1
            delay = 1000 // TYPING_CPS
        elif self.mode == "scrolling":
            if self.text.yview()[1] >= 1.0:
                self.text.yview_moveto(0)
            else:
                self.text.yview_scroll(SCROLL_PX, "pixels")
            delay = SCROLL_MS
        elif (speed := scroll_speed(self.mode)) is not None:
            now = time.monotonic()
            # Whole pixels at the speed the clock says, however late this tick came.
            self.scroll_debt = min(self.scroll_debt + speed * (now - self.scroll_at), speed)
            self.scroll_at = now
            step = int(self.scroll_debt)
            self.scroll_debt -= step
            if self.text.yview()[1] >= 1.0:
                self.text.yview_moveto(0)
            elif step:
                self.text.yview_scroll(step, "pixels")
            delay = SPEED_MS
        elif (rate := page_rate(self.mode)) is not None:
            if self.text.yview()[1] >= 1.0:
                self.text.yview_moveto(0)
            else:
                self.text.yview_scroll(1, "pages")
            delay = 1000 // rate
        elif (panning := content_speed(self.mode)) is not None:
            self._pan(panning[1])
            delay = SPEED_MS
        elif self.mode == "image":
            x, y = self.canvas.coords(self.image)
            w, h = self.image_limits
            dx, dy = self.image_step
            if not -w <= x + dx <= 0:
                self.image_step[0] = dx = -dx
            if not -h <= y + dy <= 0:
                self.image_step[1] = dy = -dy
            self.canvas.move(self.image, dx, dy)
            delay = IMAGE_MS
        if self.mode != "static":
            self.root.update_idletasks()
            self.last_activity = time.time()
        self.root.after(delay, self._tick)

    def _pan(self, speed: int) -> None:
        """Whole pixels sideways at ``speed`` px/s by the clock, back and forth."""
        now = time.monotonic()
        self.scroll_debt = min(self.scroll_debt + speed * (now - self.scroll_at), speed)
        self.scroll_at = now
        step = int(self.scroll_debt)
        self.scroll_debt -= step
        x = self.pan_x + self.pan_direction * step
        if not -self.pan_span <= x <= 0:
            self.pan_direction = -self.pan_direction
            x = max(-self.pan_span, min(0, x))
        self.pan_x = x
        self.pan_canvas.coords(self.pan_item, x, 0)

    def _show_panning(self) -> None:
        panning = content_speed(self.mode)
        if panning is None:
            self.pan_canvas.place_forget()
            return
        self.pan_canvas.itemconfigure(self.pan_item, image=self.pan_photos[panning[0]])
        self.pan_canvas.place(x=0, y=HEADER_H)

    def _poll_commands(self) -> None:
        while True:
            try:
                line = self.commands.get_nowait()
            except queue.Empty:
                break
            self._command(line)
        self.root.after(10, self._poll_commands)

    def _command(self, line: str) -> None:
        words = line.split()
        if not words:
            return
        if words[0] == "mode" and len(words) == 2 and (words[1] in MODES or is_rate_mode(words[1])):
            self.mode = words[1]
            self.scroll_at = time.monotonic()
            self.scroll_debt = 0.0
            self._show_panning()
            reply(f"ok mode {self.mode}")
        elif words == ["caret", "on"]:
            if self.caret is None:
                self.caret = tk.Frame(self.root, width=2, height=15, background="#000000")
                self._blink(True)
            reply("ok caret")
        elif words[0] == "static_at" and len(words) == 2:
            delay_ms = max(0, int((float(words[1]) - time.time()) * 1000))
            self.root.after(delay_ms, self._settle)
        elif words[0] == "quit":
            self.root.quit()
        else:
            reply(f"error {line!r}")

    def _blink(self, show: bool) -> None:
        """The caret after the notes line's end: shown or hidden, then the other in CARET_MS."""
        assert self.caret is not None
        box = self.text.bbox(f"{self.notes_index} lineend")
        if show and box is not None:
            x, y, _, h = box
            self.caret.place(x=x + 1, y=HEADER_H + y + max(0, h - 15) // 2)
        else:
            self.caret.place_forget()
        self.root.after(CARET_MS, self._blink, not show)

    def _settle(self) -> None:
        self.mode = "static"
        reply(f"settled {self.last_activity:.6f}")


def reply(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.glass", description=__doc__)
    parser.add_argument("--log", required=True, help="where to write 'counter wall_time' lines")
    parser.add_argument("--mode", choices=MODES, default="static")
    args = parser.parse_args(argv)
    display = os.environ.get("DISPLAY")
    if not display:
        print("bench.glass: DISPLAY is not set", file=sys.stderr)
        return 2
    root = tk.Tk()
    glass = Glass(root)
    glass.mode = args.mode
    root.update()
    painter = CodePainter(display, args.log)
    painter.start()
    painter.ready.wait(10)

    def read_stdin() -> None:
        for line in sys.stdin:
            glass.commands.put(line.strip())
        glass.commands.put("quit")

    threading.Thread(target=read_stdin, name="glass-stdin", daemon=True).start()
    geometry: dict[str, Any] = {
        "text_box": list(glass.text_box),
        "code": [0, 0, glass_code.WIDTH, glass_code.HEIGHT],
        "screen": [root.winfo_screenwidth(), root.winfo_screenheight()],
    }
    reply("ready " + json.dumps(geometry))
    root.mainloop()
    painter.stop()
    painter.join(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
