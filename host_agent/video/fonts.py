"""Fonts for what the agent draws itself (watermark, session banner): Japanese-capable."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Final

from PIL import ImageFont

log = logging.getLogger(__name__)

_WINDOWS_FONTS: Final = Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts"
# Debian's fonts-noto-cjk (deploy/setup.sh installs it); Japanese names need a CJK face.
# On a Japanese Windows: Yu Gothic (8.1 and later), Meiryo (Vista and later), MS Gothic.
CJK_FONT_PATHS: Final = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"),
    _WINDOWS_FONTS / "YuGothM.ttc",
    _WINDOWS_FONTS / "meiryo.ttc",
    _WINDOWS_FONTS / "msgothic.ttc",
)


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A Japanese-capable face at ``size`` pixels, or Pillow's default if none is installed."""
    for path in CJK_FONT_PATHS:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    log.warning("no CJK font found: Japanese text the agent draws will show as boxes")
    return ImageFont.load_default()
