"""The viewer tells the host whether its lossless-tile overlay works, on the `input` channel.

The host sends settled blocks twice otherwise: as lossless tiles (drawn over the video by
``web_client/app/tile_overlay.js``) and as the video's own refinement at QP 11, because a
browser without ``createImageBitmap`` or WebP decoding drops the overlay and then only the
refinement sharpens the text. Once the viewer has drawn a tile it says so, and the host
stops refining what its tiles cover; if the overlay fails later it says that too, and the
host refines again (``host_agent/video/lossless_tiles.py``).

Wire form, one compact JSON object, closed (exactly these fields)::

    viewer -> host   {"t":"tiles","ok":true}      the overlay drew a tile
                     {"t":"tiles","ok":false}     the overlay is off for this page

A viewer that lies only makes its own picture worse. ``web_client/core/tiles.js``
(``tileOverlayState``) builds it: keep the two in step. Sans-I/O and stdlib only.
"""

from __future__ import annotations

import json
from typing import Final

MAX_STATE_BYTES: Final = 64
_FIELDS: Final = frozenset({"t", "ok"})


class TileOverlayMessageError(ValueError):
    """A ``tiles`` message with other fields or values."""


def tile_overlay_state(ok: bool) -> str:
    """The viewer -> host message (tests' viewers; the browser builds it in tiles.js)."""
    return json.dumps({"t": "tiles", "ok": ok}, separators=(",", ":"))


def parse_tile_overlay_state(raw: str | bytes) -> bool | None:
    """Whether the viewer's overlay works, or None if ``raw`` is not a ``tiles`` message
    (then it is another parser's to judge).

    Raises:
        TileOverlayMessageError: a ``tiles`` message with other fields or a non-boolean.
    """
    if isinstance(raw, bytes) or len(raw) > MAX_STATE_BYTES or '"tiles"' not in raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("t") != "tiles":
        return None
    if set(data) != _FIELDS or not isinstance(data["ok"], bool):
        raise TileOverlayMessageError('tiles: fields must be exactly "t" and "ok" (a boolean)')
    return bool(data["ok"])
