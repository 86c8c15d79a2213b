"""What the agent shows on the host's own screen, as images: the banner and the privacy notice.

MHLW.md rows 11–12: people in the clinic must see that the PC is being operated remotely,
and by whom. The banner (a red strip at the top, seen by the viewer too) is drawn the same on
every desktop system; the privacy notice covers a whole monitor while a session that asked
for it runs, so that the room sees the notice instead of patient data (Windows:
``platform/windows/privacy.py``). Text is rendered with Pillow in a Japanese-capable face
(``video/fonts.py``): system fonts on X11 often lack Japanese.
"""

from __future__ import annotations

from typing import Final

from PIL import Image, ImageDraw

from host_agent.video.fonts import font

HEIGHT: Final = 34
PADDING: Final = 14
BACKGROUND: Final = (0xB3, 0x26, 0x1E)  # a red no one mistakes for the EHR's own chrome
NOTICE_BACKGROUND: Final = (0x1F, 0x2A, 0x44)  # a calm dark blue, not an error's red
NOTICE_LINES: Final = (
    "遠隔操作中",
    "このパソコンは現在、遠隔から操作されています。",
    "This PC is being operated remotely.",
)


def render_banner(text: str) -> Image.Image:
    """The banner's pixels: white text on red, sized to the text."""
    face = font(20)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left, _, right, _ = probe.textbbox((0, 0), text, font=face)
    image = Image.new("RGB", (int(right - left) + 2 * PADDING, HEIGHT), BACKGROUND)
    ImageDraw.Draw(image).text((PADDING, 4), text, fill=(255, 255, 255), font=face)
    return image


def render_notice(who: str, width: int, height: int) -> Image.Image:
    """A whole monitor's privacy notice: what is happening and who is operating, centred.

    Args:
        who: the viewer's name and organisation as the banner shows them.
        width, height: the monitor's size in physical pixels.
    """
    image = Image.new("RGB", (width, height), NOTICE_BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, explanation, english = NOTICE_LINES
    scale = max(1, min(width, height) // 540)
    lines = [(title, font(40 * scale)), (who, font(28 * scale))]
    lines += [(explanation, font(20 * scale)), (english, font(16 * scale))]
    boxes = [draw.textbbox((0, 0), text, font=face) for text, face in lines]
    gap = 18 * scale
    total = sum(int(b[3] - b[1]) for b in boxes) + gap * (len(lines) - 1)
    y = (height - total) // 2
    for (text, face), box in zip(lines, boxes, strict=True):
        x = (width - int(box[2] - box[0])) // 2
        draw.text((x - box[0], y - box[1]), text, fill=(255, 255, 255), font=face)
        y += int(box[3] - box[1]) + gap
    return image
