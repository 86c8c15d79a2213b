"""The client's pages (index.html, viewer.html, console.html) are well nested and agree with
their modules: each holds the screens it shows, shares one header, links stylesheets and an
entry module that exist, and has every element its modules look up by id; the console's
menu, pages and routes agree (every page in core/route.js CONSOLE_PAGES has one menu link,
one page block and one module entry)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatchcase
from html.parser import HTMLParser
from pathlib import Path

import pytest

from broker.server.app import ClientFiles

pytestmark = pytest.mark.unit

CLIENT = Path(__file__).resolve().parents[1] / "web_client"
VOID = {"meta", "link", "input", "br", "img", "hr", "source", "col", "wbr", "area", "base"}
# Which screens each page shows (core/route.js pageOf; core/auth.js screenFor names them).
SCREENS = {
    "index.html": {"login", "mfa", "enroll", "account", "hosts"},
    "viewer.html": {"viewer"},
    "console.html": {"admin"},
}
IMPORT = re.compile(
    r"""(?:import|export)\s[^;]*?\sfrom\s+"(\.{1,2}/[^"]+)"|import\s+"(\.{1,2}/[^"]+)\""""
)
LOOKUP = re.compile(r"""getElementById\("([^"]+)"\)""")
MADE = re.compile(r"""\.id = "([^"]+)\"""")


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str | None]]] = []
        self.problems: list[str] = []
        self.pages: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self.screens: list[str] = []
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []
        self.header: list[str] = []  # the header's tags and attributes, in order
        self._in_header = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if found.get("id"):
            self.ids.append(found["id"] or "")
        if tag == "section" and "screen" in classes:
            self.screens.append((found.get("id") or "").removeprefix("screen-"))
        if tag == "link" and found.get("rel") == "stylesheet":
            self.stylesheets.append(found.get("href") or "")
        if tag == "script":
            if found.get("type") != "module" or not found.get("src"):
                self.problems.append("a script that is not a module file")
            self.scripts.append(found.get("src") or "")
        if "console-page" in classes:
            if any("console-page" in (a.get("class") or "").split() for _, a in self.open):
                self.problems.append(f"console page {found.get('id')} inside another page")
            self.pages.append(found.get("data-page") or "")
        if "console-link" in classes:
            self.links.append(found.get("data-page") or "")
        if tag == "header" or self._in_header:
            self.header.append(f"<{tag} {sorted(attrs, key=lambda a: a[0])}>")
            if tag not in VOID:
                self._in_header += 1
        if tag not in VOID:
            self.open.append((tag, found))

    def handle_data(self, data: str) -> None:
        if self._in_header and data.strip():
            self.header.append(" ".join(data.split()))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self._in_header:
            self._in_header -= 1
            self.header.append(f"</{tag}>")
        if not self.open:
            self.problems.append(f"</{tag}> closes nothing")
            return
        opened, attrs = self.open.pop()
        if opened != tag:
            self.problems.append(f"</{tag}> closes <{opened} id={attrs.get('id')}>")


def outline(page: str) -> Outline:
    parsed = Outline()
    parsed.feed((CLIENT / page).read_text(encoding="utf-8"))
    parsed.close()
    return parsed


def module_graph(entry: Path) -> list[Path]:
    """The entry module and every module it imports, directly or not (relative imports)."""
    seen: list[Path] = []
    todo = [entry.resolve()]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.append(module)
        source = module.read_text(encoding="utf-8")
        for match in IMPORT.finditer(source):
            todo.append((module.parent / (match.group(1) or match.group(2))).resolve())
    return seen


def test_there_is_one_page_per_audience() -> None:
    """Sign-in, enrollment, account and hosts; the viewer; the console: three pages."""
    assert sorted(p.name for p in CLIENT.glob("*.html")) == sorted(SCREENS)


@pytest.mark.parametrize("page", sorted(SCREENS))
def test_page_is_well_nested_and_holds_its_screens(page: str) -> None:
    """Every tag closes in order, no id twice, and the page holds exactly its screens."""
    parsed = outline(page)
    assert parsed.problems == []
    assert [tag for tag, _ in parsed.open] == []
    assert sorted(i for i in set(parsed.ids) if parsed.ids.count(i) > 1) == []
    assert set(parsed.screens) == SCREENS[page]


@pytest.mark.parametrize("page", sorted(SCREENS))
def test_page_links_files_that_exist(page: str) -> None:
    """The stylesheets (base.css first) and the one entry module are there to be served."""
    parsed = outline(page)
    assert parsed.stylesheets[0] == "css/base.css"
    for href in parsed.stylesheets:
        assert (CLIENT / href).is_file(), href
    assert len(parsed.scripts) == 1
    assert (CLIENT / parsed.scripts[0]).is_file()


def test_every_stylesheet_is_linked_by_a_page() -> None:
    """No sheet is left behind when a screen moves to another page."""
    linked = {href for page in SCREENS for href in outline(page).stylesheets}
    assert linked == {f"css/{p.name}" for p in (CLIENT / "css").glob("*.css")}


def test_every_page_has_the_same_header() -> None:
    """Brand, menu, logout and language switch are the same markup on every page (its
    links point at the pages, not at fragments of one page)."""
    headers = {page: outline(page).header for page in SCREENS}
    first = headers["index.html"]
    assert first, "index.html has no header"
    for page, header in headers.items():
        assert header == first, page
    assert not any("href', '#" in part for part in first), (
        "a header link that only works on one page"
    )


@pytest.mark.parametrize("page", sorted(SCREENS))
def test_every_element_a_pages_modules_look_up_is_in_that_page(page: str) -> None:
    """Each `getElementById("…")` in the page's module graph names an element of the page
    (or one its modules make): an element left on another page would be null at start."""
    parsed = outline(page)
    modules = module_graph(CLIENT / parsed.scripts[0])
    wanted: set[str] = set()
    made: set[str] = set()
    for module in modules:
        source = module.read_text(encoding="utf-8")
        wanted.update(LOOKUP.findall(source))
        made.update(MADE.findall(source))
    assert sorted(wanted - set(parsed.ids) - made) == []


def test_the_console_menu_pages_and_routes_agree() -> None:
    """Every console page has one menu link, one block in console.html and one module."""
    parsed = outline("console.html")
    route = (CLIENT / "core" / "route.js").read_text(encoding="utf-8")
    listed = re.search(r"CONSOLE_PAGES = Object\.freeze\(\[(.*?)\]\)", route, re.S)
    assert listed is not None
    pages = re.findall(r'"([a-z-]+)"', listed.group(1))
    assert sorted(parsed.pages) == sorted(pages)
    assert sorted(parsed.links) == sorted(pages)
    registry = (CLIENT / "app" / "console.js").read_text(encoding="utf-8")
    table = re.search(r"const PAGES = \{(.*?)\};", registry, re.S)
    assert table is not None
    assert sorted(re.findall(r"^\s+([a-z]+): create", table.group(1), re.M)) == sorted(pages)
    for name in pages:
        assert (CLIENT / "app" / f"console_{name}.js").is_file(), name


def test_the_module_graph_reader_follows_imports() -> None:
    """The id check above reads the whole graph: the viewer page reaches the viewer's
    connection in core/ and the console page every console page's module."""
    viewer = {p.name for p in module_graph(CLIENT / "app" / "viewer_page.js")}
    assert {"viewer.js", "viewer_connection.js", "viewer_session.js", "shell.js"} <= viewer
    console = {p.name for p in module_graph(CLIENT / "app" / "console_page.js")}
    assert {"console_kit.js", "kit.js", "console_users.js", "console_devices.js"} <= console
    assert "viewer.js" not in console


def test_every_file_the_broker_serves_ships_in_the_package() -> None:
    """pyproject's package data for web_client covers every page, sheet, module and icon
    (an installed broker serves the client from the package, not from a checkout)."""
    config = tomllib.loads((CLIENT.parent / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["web_client"]
    served = [
        p.relative_to(CLIENT)
        for p in CLIENT.rglob("*")
        if p.is_file() and p.suffix in ClientFiles.SUFFIXES and "node_modules" not in p.parts
    ]

    def shipped(path: Path) -> bool:
        # setuptools globs: "*" stays within one folder ("*.html" is the top level only).
        return any(
            len(path.parts) == len(pattern.split("/"))
            and all(map(fnmatchcase, path.parts, pattern.split("/")))
            for pattern in patterns
        )

    assert len(served) > 40
    assert [str(p) for p in served if not shipped(p)] == []
