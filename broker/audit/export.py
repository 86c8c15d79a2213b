"""Audit exports a clinic can open: CSV for Excel (UTF-8 with BOM, Japanese headers) and
JSON lines for tools.

Excel on Japanese Windows opens a CSV as Shift_JIS unless it starts with a UTF-8 byte order
mark, which garbles every Japanese name; the BOM makes it open correctly with a double click.
Cells that begin with = + - @ are prefixed with an apostrophe so a crafted user name cannot
run as a formula when the clinic opens the file (CSV injection, OWASP).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

BOM: Final = "\ufeff"
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(
    columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]], *, header: bool = True
) -> str:
    """CSV text with a BOM; ``columns`` pairs each field with its (Japanese) header.
    ``header=False`` gives rows only (no BOM either): the next chunk of a streamed file."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        out.write(BOM)
        writer.writerow([title for _, title in columns])
    for row in rows:
        writer.writerow([_cell(row.get(field)) for field, _ in columns])
    return out.getvalue()


def to_json_lines(rows: Iterable[Mapping[str, Any]]) -> str:
    """One JSON object per line, UTF-8 text as is."""
    return "".join(json.dumps(dict(row), ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
