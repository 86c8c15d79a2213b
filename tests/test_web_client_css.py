"""Every stylesheet of the web client is well formed: braces balance, and no rule sits inside
another rule (a missing ``}`` once nested a whole file's tail under one selector, where
browsers with CSS nesting silently stopped applying it). Rules may sit only at the top level
or inside a grouping at-rule (``@media``, ``@supports``, ...); inside a rule there are only
declarations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CSS = Path(__file__).resolve().parents[1] / "web_client" / "css"
# At-rules whose block holds rules; any other at-rule's block holds declarations
# (@font-face, @page) or, for @keyframes, keyframe selectors with declarations.
GROUPING = {"media", "supports", "container", "layer", "document", "scope", "starting-style"}
DECLARATION = re.compile(r"^(--[A-Za-z0-9_-]+|-?[a-z][a-z0-9-]*)\s*:\s*\S", re.S)


@dataclass
class Block:
    kind: str  # "rule", "group", "keyframes" or "declarations"
    head: str
    line: int


def problems(source: str) -> list[str]:
    """What is wrong with one stylesheet's structure; empty when nothing is."""
    found: list[str] = []
    stack: list[Block] = []
    text = ""  # what came since the last `{`, `}` or `;`
    line = 1
    i = 0

    def where() -> str:
        return f"line {line}"

    def finish_declaration() -> None:
        nonlocal text
        chunk = " ".join(text.split())
        text = ""
        if not chunk:
            return
        inside = stack[-1] if stack else None
        if inside is None or inside.kind in ("group", "keyframes"):
            if not chunk.startswith("@"):  # @import/@charset/@layer a; are statements
                found.append(f"{where()}: '{chunk[:40]}' outside any rule")
        elif not DECLARATION.match(chunk):
            found.append(f"{where()}: '{chunk[:40]}' is no declaration (inside {inside.head!r})")

    while i < len(source):
        ch = source[i]
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            if end < 0:
                found.append(f"{where()}: comment never closed")
                return found
            line += source.count("\n", i, end)
            i = end + 2
            continue
        if ch in "\"'":
            j = i + 1
            while j < len(source) and source[j] != ch:
                if source[j] == "\n":
                    break
                j += 2 if source[j] == "\\" else 1
            if j >= len(source) or source[j] != ch:
                found.append(f"{where()}: string never closed")
                return found
            text += source[i : j + 1]
            i = j + 1
            continue
        if ch == "\n":
            line += 1
        if ch == "{":
            head = " ".join(text.split())
            text = ""
            outer = stack[-1] if stack else None
            if not head:
                found.append(f"{where()}: a block with no selector")
            if outer is not None and outer.kind in ("rule", "declarations"):
                found.append(f"{where()}: '{head[:40]}' nested inside '{outer.head[:40]}'")
            if head.startswith("@"):
                name = head[1:].split(maxsplit=1)[0].split("(")[0].lower() if len(head) > 1 else ""
                kind = (
                    "group"
                    if name in GROUPING
                    else "keyframes"
                    if name.endswith("keyframes")
                    else "declarations"
                )
            else:
                kind = "rule"
            stack.append(Block(kind, head, line))
        elif ch == "}":
            finish_declaration()
            if not stack:
                found.append(f"{where()}: '}}' closes nothing")
            else:
                stack.pop()
        elif ch == ";":
            finish_declaration()
        else:
            text += ch
        i += 1
    finish_declaration()
    for block in stack:
        found.append(f"line {block.line}: '{block.head[:40]}' never closed")
    return found


SHEETS = sorted(CSS.glob("*.css"))


def test_there_are_stylesheets() -> None:
    """The client's styles live in web_client/css/, one sheet per feature."""
    assert {p.name for p in SHEETS} >= {"base.css", "console.css", "viewer.css"}


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda p: p.name)
def test_stylesheet_is_well_formed(sheet: Path) -> None:
    """Braces balance; rules only at the top level or in @media/@supports; no nesting."""
    assert problems(sheet.read_text(encoding="utf-8")) == []


def test_the_checker_finds_a_missing_closing_brace() -> None:
    """The shape of the old bug: a rule left open swallows the rules after it."""
    broken = ".report-clinic {\n  color: var(--muted);\n\n.alert-item {\n  padding: 0;\n}\n"
    found = problems(broken)
    assert any("nested inside '.report-clinic'" in p for p in found)
    assert any("never closed" in p for p in found)


def test_the_checker_finds_an_empty_rule_left_open() -> None:
    """A selector whose declarations were lost in a merge nests the next rule."""
    broken = '.a[data-x="w"] .b {\n/* ---- next section */\n.c { color: red; }\n'
    assert any("nested inside" in p for p in problems(broken))


def test_the_checker_finds_a_stray_brace_and_stray_text() -> None:
    """A '}' too many, and a declaration outside any rule, are both reported."""
    assert any("closes nothing" in p for p in problems(".a { color: red; }\n}\n"))
    assert any("outside any rule" in p for p in problems("color: red;\n.a { margin: 0; }\n"))
    assert any("no declaration" in p for p in problems(".a { color red; }\n"))


def test_the_checker_accepts_media_queries_strings_and_comments() -> None:
    """Grouping at-rules hold rules; braces in strings and comments do not count."""
    good = (
        '@media (max-width: 40rem) {\n  .a { content: "}{"; }\n}\n'
        "/* { */\n.b::after { content: '\\'{'; --x: 1; }\n"
        "@keyframes spin { from { opacity: 0; } to { opacity: 1; } }\n"
    )
    assert problems(good) == []
