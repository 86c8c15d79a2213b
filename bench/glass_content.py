"""What the bench's glass shows (``bench/glass.py``): chart text, a photo, a radiograph, and
the names of its speed modes. Pure functions, no Tk: the suite tests them without a display.

Modes with a rate in their name (the issue asks for each content at several speeds):

- ``scroll<N>``: the text page scrolls at N px/s (a flick through a long chart);
- ``pages<N>``: the text jumps a whole page N times a second (switching between records);
- ``pan<N>``: a full-screen photo pans sideways at N px/s (the move a vertical-only scroll
  detector does not see);
- ``xray<N>``: a full-screen grayscale radiograph-like image pans sideways at N px/s (a
  DICOM viewer dragged; it then settles when the mode goes back to ``static``).
"""

from __future__ import annotations

from typing import Final

import numpy as np

SPEEDS: Final = range(100, 5001)  # px/s
PAGE_RATES: Final = range(1, 21)  # page switches a second
PANNING: Final = ("pan", "xray")


def _rate(mode: str, prefix: str, allowed: range) -> int | None:
    rest = mode[len(prefix) :]
    if mode.startswith(prefix) and rest.isdigit() and int(rest) in allowed:
        return int(rest)
    return None


def scroll_speed(mode: str) -> int | None:
    """The px/s of a ``scroll<N>`` mode, or None for any other mode name."""
    return _rate(mode, "scroll", SPEEDS)


def page_rate(mode: str) -> int | None:
    """The switches a second of a ``pages<N>`` mode, or None."""
    return _rate(mode, "pages", PAGE_RATES)


def content_speed(mode: str) -> tuple[str, int] | None:
    """(``"pan"`` or ``"xray"``, px/s) of a panning mode, or None."""
    for prefix in PANNING:
        speed = _rate(mode, prefix, SPEEDS)
        if speed is not None:
            return prefix, speed
    return None


def is_rate_mode(mode: str) -> bool:
    return any(f(mode) is not None for f in (scroll_speed, page_rate, content_speed))


def clinic_text(lines: int = 400) -> str:
    """Deterministic dense chart text: dates, vitals, labs, prescriptions (all fictitious)."""
    rng = np.random.default_rng(6)
    drugs = [
        "アムロジピン錠5mg",
        "メトホルミン錠250mg",
        "ロスバスタチン錠2.5mg",
        "ランソプラゾールOD錠15mg",
        "カンデサルタン錠8mg",
        "酸化マグネシウム錠330mg",
        "アセトアミノフェン錠200mg",
    ]
    notes = [
        "症状安定、継続処方。",
        "食後血糖やや高値、食事指導を実施。",
        "咳嗽改善傾向、経過観察。",
        "腰痛あり、湿布追加。",
        "HbA1c 改善、運動継続を勧める。",
        "夜間頻尿の訴えあり、次回検尿。",
    ]
    out = []
    for i in range(lines):
        day = 1 + i % 28
        sys_bp, dia_bp = rng.integers(108, 160), rng.integers(62, 96)
        out.append(
            f"2026-{1 + (i // 28) % 12:02d}-{day:02d} {8 + i % 10:02d}:{(i * 7) % 60:02d}  "
            f"P-{1001 + i % 40}  BP {sys_bp}/{dia_bp}  HR {rng.integers(58, 96)}  "
            f"BT {36 + rng.integers(0, 12) / 10:.1f}  SpO2 {rng.integers(94, 100)}%  "
            f"HbA1c {5 + rng.integers(0, 40) / 10:.1f}  Cr {0.5 + rng.integers(0, 80) / 100:.2f}  "
            f"Rp: {drugs[i % len(drugs)]} 1日{1 + i % 3}回 {14 * (1 + i % 4)}日分  "
            f"{notes[i % len(notes)]}"
        )
    return "\n".join(out)


def photo_ppm(width: int, height: int) -> bytes:
    """A smooth, noisy, photo-like picture (what an X-ray or a camera image costs to code)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(7)
    r = 128 + 90 * np.sin(x / 37.0) * np.cos(y / 23.0)
    g = 128 + 80 * np.sin((x + y) / 51.0)
    b = 128 + 70 * np.cos(np.hypot(x - width / 2, y - height / 2) / 19.0)
    rgb = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    pixels = np.clip(rgb, 0, 255).astype(np.uint8)
    return f"P6 {width} {height} 255\n".encode() + pixels.tobytes()


def radiograph_ppm(width: int, height: int) -> bytes:
    """A grayscale radiograph-like picture: soft tissue as smooth shading, bright rib-like
    arcs and a spine column, film grain. Gray (R = G = B), as a DICOM viewer shows it: the
    case the agent's gray lossless tiles and the video's chroma both meet."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(11)
    cx, cy = width / 2, height / 2
    body = 70 + 60 * np.exp(-(((x - cx) / (0.42 * width)) ** 2 + ((y - cy) / (0.6 * height)) ** 2))
    spine = 90 * np.exp(-(((x - cx) / (0.035 * width)) ** 2))
    ribs = np.zeros_like(x)
    for k in range(-6, 7):
        arc = cy + k * height / 11 + 0.18 * height * ((x - cx) / width) ** 2 * 4
        ribs += 55 * np.exp(-(((y - arc) / (0.012 * height)) ** 2))
    gray = body + spine + ribs + rng.normal(0, 6, (height, width))
    pixels = np.clip(gray, 0, 255).astype(np.uint8)
    rgb = np.repeat(pixels[:, :, None], 3, axis=2)
    return f"P6 {width} {height} 255\n".encode() + rgb.tobytes()
