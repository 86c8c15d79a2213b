"""A stand-in clinic application (電子カルテ) for the demo and for tests. Not product code.

It fills the screen of the X display it runs on (there is no window manager on Xvfb):
a green header bar, a patient list, a notes field with keyboard focus, and a 保存 button.
All patients are fictitious.

With ``--state-file PATH`` it atomically rewrites a JSON file after every change, so tests
can see what injected input did on the host::

    {"notes": "...", "saves": 0, "selected": "P-1003",
     "keys": ["Henkan_Mode", ...],            # the last keysyms pressed (Tk names)
     "keycodes": [100, ...],                  # and their X keycodes
     "right_clicks": 0,                       # right-button presses anywhere (menus)
     "geometry": {"save_button": [x, y, w, h], "notes": [...], "patients": [...],
                  "header": [...], "status": [...]},
     "patient_rows": {"P-1001": [x, y, w, h], ...},   # screen pixels, rows in view
     "patient_view": [0.0, 0.57]}             # the list's scroll position (Tk yview
                                              # fractions: first and last row shown)

Run: ``DISPLAY=:1 python devkit/sample_ehr.py [--state-file state.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import tkinter as tk
import tkinter.font as tkfont
from pathlib import Path
from tkinter import ttk
from typing import Any

HEADER_COLOUR = "#1e6b5c"
TITLE = "さくら内科クリニック 電子カルテ（デモ）"
# The key log is for tests checking that a key arrived; a short tail is enough.
MAX_KEYS = 32

PATIENTS = [
    ("P-1001", "山田 太郎", "ヤマダ タロウ", 67),
    ("P-1002", "佐藤 花子", "サトウ ハナコ", 45),
    ("P-1003", "鈴木 一郎", "スズキ イチロウ", 72),
    ("P-1004", "高橋 美咲", "タカハシ ミサキ", 29),
    ("P-1005", "田中 健太", "タナカ ケンタ", 38),
    ("P-1006", "伊藤 さくら", "イトウ サクラ", 8),
    ("P-1007", "渡辺 正雄", "ワタナベ マサオ", 81),
    ("P-1008", "中村 由美", "ナカムラ ユミ", 54),
    ("P-1009", "小林 翔", "コバヤシ ショウ", 17),
    ("P-1010", "加藤 節子", "カトウ セツコ", 90),
    ("P-1011", "吉田 大輔", "ヨシダ ダイスケ", 43),
    ("P-1012", "山本 恵", "ヤマモト メグミ", 61),
    # More than the list shows on a 1280x720 screen, so that it scrolls (touch scrolling).
    ("P-1013", "松本 優子", "マツモト ユウコ", 36),
    ("P-1014", "井上 浩二", "イノウエ コウジ", 58),
    ("P-1015", "木村 千尋", "キムラ チヒロ", 24),
    ("P-1016", "林 和夫", "ハヤシ カズオ", 76),
    ("P-1017", "斎藤 真理", "サイトウ マリ", 49),
    ("P-1018", "清水 拓也", "シミズ タクヤ", 33),
    ("P-1019", "山崎 久美子", "ヤマザキ クミコ", 69),
    ("P-1020", "森 大翔", "モリ ヒロト", 12),
    ("P-1021", "池田 芳子", "イケダ ヨシコ", 85),
    ("P-1022", "橋本 誠", "ハシモト マコト", 52),
    ("P-1023", "阿部 彩", "アベ アヤ", 27),
    ("P-1024", "石川 茂", "イシカワ シゲル", 74),
    ("P-1025", "山下 陽菜", "ヤマシタ ヒナ", 6),
    ("P-1026", "中島 隆", "ナカジマ タカシ", 63),
    ("P-1027", "前田 直美", "マエダ ナオミ", 41),
    ("P-1028", "藤田 修", "フジタ オサム", 57),
    ("P-1029", "後藤 美穂", "ゴトウ ミホ", 31),
    ("P-1030", "岡田 勝", "オカダ マサル", 88),
]


def _family(root: tk.Tk) -> str:
    families = set(tkfont.families(root))
    for family in ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "TkDefaultFont"):
        if family in families:
            return family
    return "TkDefaultFont"


class SampleEhr:
    """The window and its state file."""

    def __init__(self, root: tk.Tk, state_file: Path | None) -> None:
        self.root = root
        self.state_file = state_file
        self.saves = 0
        self.right_clicks = 0
        self.keys: list[str] = []
        self.keycodes: list[int] = []
        # No state file until the window is visible: its existence tells tests "ready".
        self.started = False
        family = _family(root)
        body = (family, 14)
        width, height = root.winfo_screenwidth(), root.winfo_screenheight()
        root.title(TITLE)
        root.geometry(f"{width}x{height}+0+0")
        root.configure(background="#f4f7f6")

        self.header = tk.Frame(root, background=HEADER_COLOUR, height=64)
        self.header.pack(side="top", fill="x")
        self.header.pack_propagate(False)
        tk.Label(
            self.header,
            text=TITLE,
            foreground="white",
            background=HEADER_COLOUR,
            font=(family, 22, "bold"),
        ).pack(side="left", padx=20)
        tk.Label(
            self.header,
            text="医師: 院長（デモ）",
            foreground="white",
            background=HEADER_COLOUR,
            font=body,
        ).pack(side="right", padx=20)

        main = tk.Frame(root, background="#f4f7f6")
        main.pack(side="top", fill="both", expand=True, padx=16, pady=16)

        left = tk.Frame(main, background="#f4f7f6")
        left.pack(side="left", fill="y")
        tk.Label(left, text="患者一覧", font=(family, 16, "bold"), background="#f4f7f6").pack(
            anchor="w"
        )
        style = ttk.Style(root)
        style.configure("Treeview", font=body, rowheight=32)
        style.configure("Treeview.Heading", font=(family, 13, "bold"))
        self.patients = ttk.Treeview(
            left, columns=("name", "kana", "age"), height=len(PATIENTS), selectmode="browse"
        )
        self.patients.heading("#0", text="ID")
        self.patients.heading("name", text="氏名")
        self.patients.heading("kana", text="カナ")
        self.patients.heading("age", text="年齢")
        for column, size in (("#0", 90), ("name", 130), ("kana", 170), ("age", 60)):
            self.patients.column(column, width=size, stretch=False)
        for pid, name, kana, age in PATIENTS:
            self.patients.insert("", "end", iid=pid, text=pid, values=(name, kana, f"{age}歳"))
        self.patients.pack(side="top", fill="y", expand=True, pady=(6, 0))
        self.patients.bind("<<TreeviewSelect>>", lambda _e: self.write_state())
        # Tk calls this whenever the list's view changes (a wheel over it, a resize).
        self.patients.configure(yscrollcommand=self._patients_scrolled)

        right = tk.Frame(main, background="#f4f7f6")
        right.pack(side="left", fill="both", expand=True, padx=(16, 0))
        tk.Label(right, text="所見・メモ", font=(family, 16, "bold"), background="#f4f7f6").pack(
            anchor="w"
        )
        self.notes = tk.Text(right, font=(family, 20), wrap="char", undo=True, height=10)
        self.notes.pack(side="top", fill="both", expand=True, pady=(6, 8))
        self.notes.bind("<<Modified>>", self._notes_modified)

        bar = tk.Frame(right, background="#f4f7f6")
        bar.pack(side="top", fill="x")
        self.save_button = tk.Button(
            bar, text="保存", font=(family, 16, "bold"), width=8, command=self.save
        )
        self.save_button.pack(side="left")
        self.status = tk.Label(bar, text="", font=body, background="#f4f7f6")
        self.status.pack(side="left", padx=16)
        root.bind("<Control-s>", lambda _e: self.save())
        root.bind_all("<ButtonPress-3>", self._right_click, add="+")

        # A bind tag in front of the class tags, so that keys a class binding ends with
        # "break" (Tab in a Text) are logged too.
        for widget in (root, self.notes, self.patients, self.save_button):
            widget.bindtags(("KeyLog", *widget.bindtags()))
        root.bind_class("KeyLog", "<KeyPress>", self._key_pressed)
        root.bind("<Configure>", self._configured)

    def start(self) -> None:
        """Show the window, focus the notes field, and write the first state."""
        self.root.update_idletasks()
        self.root.wait_visibility(self.notes)
        self.notes.focus_force()
        self.root.update()
        self.started = True
        self.write_state()

    def save(self) -> None:
        self.saves += 1
        self.status.configure(text=f"保存しました（{self.saves}回目）")
        self.write_state()

    def _notes_modified(self, _event: object) -> None:
        # <<Modified>> fires when the flag flips; clearing it re-arms the event.
        if self.notes.edit_modified():
            self.notes.edit_modified(False)
            self.write_state()

    def _configured(self, event: Any) -> None:
        # The toplevel's bind tag sees every child's <Configure>; only a resize matters.
        if event.widget is self.root:
            self.root.after_idle(self.write_state)

    def _patients_scrolled(self, _first: float, _last: float) -> None:
        self.root.after_idle(self.write_state)

    def _key_pressed(self, event: Any) -> None:
        self.keys = [*self.keys, str(event.keysym)][-MAX_KEYS:]
        self.keycodes = [*self.keycodes, int(event.keycode)][-MAX_KEYS:]
        # After the class binding has inserted the character, so "notes" is current.
        self.root.after_idle(self.write_state)

    def _box(self, widget: tk.Misc) -> list[int]:
        return [
            widget.winfo_rootx(),
            widget.winfo_rooty(),
            widget.winfo_width(),
            widget.winfo_height(),
        ]

    def _right_click(self, _event: object) -> None:
        # Where a context menu would open; counted so that a test can see a right click.
        self.right_clicks += 1
        self.write_state()

    def state(self) -> dict[str, Any]:
        """Everything a test may want to check, in screen pixels."""
        selection = self.patients.selection()
        rows: dict[str, list[int]] = {}
        origin_x, origin_y = self.patients.winfo_rootx(), self.patients.winfo_rooty()
        for pid, *_ in PATIENTS:
            box = self.patients.bbox(pid)
            if box:
                x, y, w, h = box
                rows[pid] = [origin_x + x, origin_y + y, w, h]
        return {
            "notes": self.notes.get("1.0", "end-1c"),
            "saves": self.saves,
            "right_clicks": self.right_clicks,
            "selected": selection[0] if selection else "",
            "keys": self.keys,
            "keycodes": self.keycodes,
            "geometry": {
                "header": self._box(self.header),
                "patients": self._box(self.patients),
                "notes": self._box(self.notes),
                "save_button": self._box(self.save_button),
                "status": self._box(self.status),
            },
            "patient_rows": rows,
            "patient_view": [float(f) for f in self.patients.yview()],
        }

    def write_state(self) -> None:
        """Atomically replace the state file (readers never see half a file)."""
        if self.state_file is None or not self.started:
            return
        data = json.dumps(self.state(), ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".state-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
            os.replace(tmp, self.state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", type=Path, help="JSON file rewritten on every change")
    args = parser.parse_args()
    root = tk.Tk(className="SampleEhr")
    app = SampleEhr(root, args.state_file)
    app.start()
    root.mainloop()


if __name__ == "__main__":
    main()
