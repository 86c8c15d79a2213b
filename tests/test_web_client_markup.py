"""index.html is well nested, and the console's menu, pages and routes agree: every page
in core/route.js CONSOLE_PAGES has one menu link, one page block and one module entry."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CLIENT = Path(__file__).resolve().parents[1] / "web_client"
VOID = {"meta", "link", "input", "br", "img", "hr", "source", "col", "wbr", "area", "base"}


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str | None]]] = []
        self.problems: list[str] = []
        self.pages: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if "console-page" in classes:
            if any("console-page" in (a.get("class") or "").split() for _, a in self.open):
                self.problems.append(f"console page {found.get('id')} inside another page")
            self.pages.append(found.get("data-page") or "")
        if "console-link" in classes:
            self.links.append(found.get("data-page") or "")
        if tag not in VOID:
            self.open.append((tag, found))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.open:
            self.problems.append(f"</{tag}> closes nothing")
            return
        opened, attrs = self.open.pop()
        if opened != tag:
            self.problems.append(f"</{tag}> closes <{opened} id={attrs.get('id')}>")


def test_index_is_well_nested_and_console_pages_agree() -> None:
    outline = Outline()
    outline.feed((CLIENT / "index.html").read_text(encoding="utf-8"))
    assert outline.problems == []
    assert [tag for tag, _ in outline.open] == []
    route = (CLIENT / "core" / "route.js").read_text(encoding="utf-8")
    listed = re.search(r"CONSOLE_PAGES = Object\.freeze\(\[(.*?)\]\)", route, re.S)
    assert listed is not None
    pages = re.findall(r'"([a-z-]+)"', listed.group(1))
    assert sorted(outline.pages) == sorted(pages)
    assert sorted(outline.links) == sorted(pages)
    registry = (CLIENT / "app" / "console.js").read_text(encoding="utf-8")
    table = re.search(r"const PAGES = \{(.*?)\};", registry, re.S)
    assert table is not None
    assert sorted(re.findall(r"^\s+([a-z]+): create", table.group(1), re.M)) == sorted(pages)
