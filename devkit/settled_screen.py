"""Screens that settle, for the lossless-tile test and bench: coloured EHR-like text and a
grayscale radiograph-like image, rendered with Pillow and shown on an X display through one
override-redirect window (its background pixmap: the picture survives exposures).

The content is deterministic (a seed) so that a test can compare the viewer's pixels with
exactly what was drawn, and a bench run with the next one.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from Xlib import X
from Xlib import display as xdisplay

from host_agent.video.fonts import font

RGB = npt.NDArray[np.uint8]
# Colours of EHR text: body, allergy red, link blue, a green status, a gray note.
INKS: Final = ((20, 20, 20), (200, 30, 30), (20, 60, 200), (20, 130, 60), (110, 110, 110))
WORDS: Final = (
    "患者", "山田", "太郎", "血圧", "128/82", "mmHg", "アレルギー", "ペニシリン", "処方",
    "Amlodipine", "5mg", "1日1回", "HbA1c", "6.8%", "再診", "2026-11-21", "検査", "結果",
)  # fmt: skip
STRIP_ROWS: Final = 32  # rows per PutImage: well under the core protocol's request limit


def text_picture(width: int, height: int, seed: int = 0, size: int = 14) -> RGB:
    """Dense coloured antialiased text on white (an EHR page)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    face = font(size)
    y = 4
    while y + size < height:
        x = 6
        while x < width - 40:
            word = str(WORDS[int(rng.integers(len(WORDS)))])
            ink = INKS[int(rng.integers(len(INKS)))]
            draw.text((x, y), word, fill=ink, font=face)
            x += int(draw.textlength(word, font=face)) + 8
        y += size + 6
    return np.asarray(image, dtype=np.uint8).copy()


def radiograph_picture(width: int, height: int, seed: int = 0) -> RGB:
    """A grayscale radiograph-like image: smooth anatomy-like shapes, fine texture, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cx, cy = width / 2, height / 2
    body = np.exp(-(((xx - cx) / (0.38 * width)) ** 2 + ((yy - cy) / (0.55 * height)) ** 2))
    ribs = 0.12 * (np.sin(yy / 9.0 + 0.6 * np.sin(xx / 40.0)) > 0.6)
    lungs = sum(
        0.35 * np.exp(-(((xx - cx + s * 0.17 * width) / (0.11 * width)) ** 2
                        + ((yy - cy) / (0.3 * height)) ** 2))
        for s in (-1, 1)
    )  # fmt: skip
    value = 30 + 190 * body * (1 - lungs) + 40 * ribs * body + rng.normal(0, 3, (height, width))
    gray = np.clip(value, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def gradient_picture(width: int, height: int) -> RGB:
    """A smooth horizontal grayscale ramp (banding shows any loss at once)."""
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    return np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2)


class ShownPicture:
    """One window at (x, y) showing an RGB picture; ``show`` replaces it (a damage)."""

    def __init__(self, display_name: str, x: int, y: int, picture: RGB) -> None:
        self.conn: Any = xdisplay.Display(display_name)
        screen = self.conn.screen()
        self._root = screen.root
        self._depth = screen.root_depth
        h, w = picture.shape[:2]
        self.window = screen.root.create_window(
            x, y, w, h, 0, self._depth, X.InputOutput, X.CopyFromParent,
            background_pixel=0, override_redirect=True,
        )  # fmt: skip
        self.window.map()
        self.show(picture)

    def show(self, picture: RGB, at: tuple[int, int] = (0, 0)) -> None:
        """Draw ``picture`` at ``at`` inside the window, and keep it as its background."""
        h, w = picture.shape[:2]
        bgrx = np.zeros((h, w, 4), dtype=np.uint8)
        bgrx[..., :3] = picture[..., ::-1]
        geometry = self.window.get_geometry()
        pixmap = getattr(self, "_pixmap", None)
        if pixmap is None:
            pixmap = self._pixmap = self.window.create_pixmap(
                geometry.width, geometry.height, self._depth
            )
        gc = pixmap.create_gc()
        for top in range(0, h, STRIP_ROWS):
            rows = bgrx[top : top + STRIP_ROWS]
            pixmap.put_image(gc, at[0], at[1] + top, w, rows.shape[0], X.ZPixmap, self._depth, 0,
                             rows.tobytes())  # fmt: skip
        gc.free()
        self.window.change_attributes(background_pixmap=pixmap)
        self.window.clear_area(at[0], at[1], w, h)
        self.conn.sync()

    def close(self) -> None:
        self.conn.close()
