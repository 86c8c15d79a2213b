"""The agent has no code that could read the clipboard or files for sending (DESIGN.md,
"Pixel-only, by construction"): checked on the source, so a new import cannot slip in."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

AGENT = Path(__file__).resolve().parent.parent / "host_agent"

# Modules whose only purpose here would be clipboard or file access for sending.
FORBIDDEN_MODULES = {
    "pyperclip",
    "win32clipboard",
    "tkinter",
    "shutil",
    "glob",
    "ftplib",
    "smtplib",
    "gi",
    "PyQt5",
    "PySide6",
}
# X11 selection (clipboard) calls and the like, wherever they come from.
FORBIDDEN_NAMES = {
    "convert_selection",
    "get_selection_owner",
    "set_selection_owner",
    "SelectionNotify",
    "SelectionRequest",
    "clipboard_get",
    "clipboard_append",
    "GetClipboardData",
    "OpenClipboard",
    "xclip",
    "xsel",
    "read_text",
    "read_bytes",
    "open",
    "scandir",
    "listdir",
    "walk",
    "PRIMARY",
    "SECONDARY",
    "CLIPBOARD",
    "iterdir",
    "sendfile",
}
# Uses that look like file access but are not reading data for sending, each with why.
ALLOWED_CALLS = {
    ("encoder.py", "open"),  # av.CodecContext.open(): starts the encoder
    ("x264.py", "glob"),  # finds the libx264 shared library inside PyAV's wheel to load it
    # The agent's own credentials in its state directory: writes its key and certificate
    # (0600), reads them back for TLS and renewal, reads agent.json, and copies the CA file
    # it was given to verify the broker. Nothing read there is sent but the certificate.
    ("credentials.py", "open"),
    ("credentials.py", "read_bytes"),
    ("credentials.py", "read_text"),
}


def findings(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                names = [a.name for a in node.names]
            for name in names:
                if (path.name, name) in ALLOWED_CALLS:
                    continue
                if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES):
                    found.append(f"{path.name}:{node.lineno} imports {name}")
        elif isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in FORBIDDEN_NAMES and (path.name, name) not in ALLOWED_CALLS:
                found.append(f"{path.name}:{node.lineno} uses {name}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.upper() in {"CLIPBOARD", "PRIMARY", "SECONDARY"}
        ):
            found.append(f"{path.name}:{node.lineno} names the {node.value} selection")
    return found


def test_agent_has_no_clipboard_or_file_reading_code() -> None:
    """No agent module imports a clipboard or file API, or calls one."""
    problems = [f for path in sorted(AGENT.rglob("*.py")) for f in findings(path)]
    assert problems == []


def test_the_check_catches_what_it_looks_for(tmp_path: Path) -> None:
    """The scanner flags a clipboard read and a file read written the usual ways."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pyperclip\nfrom Xlib import Xatom\n"
        "d.get_selection_owner(Xatom.PRIMARY)\ntext = Path('x').read_text()\n"
        "with open('karte.txt') as f: pass\nsel = 'CLIPBOARD'\n"
    )
    problems = findings(bad)
    for expected in (
        "imports pyperclip",
        "uses PRIMARY",
        "get_selection_owner",
        "read_text",
        "uses open",
        "CLIPBOARD selection",
    ):
        assert any(expected in p for p in problems), (expected, problems)
