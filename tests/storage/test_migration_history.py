"""The migration history is one line, numbered in the order it runs: 0001 first, each file's
``down_revision`` the file before it, one head (a branch or a renumbering mistake would run
migrations out of order on a real database)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from alembic.script import Script, ScriptDirectory

from broker.db.engine import alembic_config, head_revision

pytestmark = pytest.mark.unit

VERSIONS = Path(__file__).resolve().parents[2] / "broker" / "db" / "migrations" / "versions"
FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.py")


def migration_files() -> list[Path]:
    return sorted(p for p in VERSIONS.glob("*.py") if p.name != "__init__.py")


def scripts_base_first() -> list[Script]:
    return list(reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions())))


def test_there_is_exactly_one_head() -> None:
    """Alembic sees one head, and it is the last file."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [head_revision()]
    assert migration_files()[-1].name.startswith(f"{heads[0]}_")


def test_files_are_numbered_without_gaps_and_name_their_revision() -> None:
    """Files are 0001_x.py, 0002_y.py, ... and each file's revision id is its number."""
    files = migration_files()
    numbers = []
    for path in files:
        match = FILE_NAME.fullmatch(path.name)
        assert match is not None, f"{path.name} is not NNNN_name.py"
        numbers.append(match.group(1))
    assert numbers == [f"{n:04d}" for n in range(1, len(files) + 1)]
    by_path = {Path(s.path).name: s.revision for s in scripts_base_first()}
    assert by_path == {p.name: n for p, n in zip(files, numbers, strict=True)}


def test_the_chain_is_linear_in_file_name_order() -> None:
    """Walked from the base, the revisions come in file-name order, each revising the one
    before it: no branch, no merge, no dependency outside the line."""
    scripts = scripts_base_first()
    assert [Path(s.path).name for s in scripts] == [p.name for p in migration_files()]
    previous = None
    for script in scripts:
        assert script.down_revision == previous, script.path
        assert not script.branch_labels, script.path
        assert not script.dependencies, script.path
        previous = script.revision


def test_each_docstring_names_its_own_revision_and_parent() -> None:
    """The "Revision ID" and "Revises" lines a reader sees agree with the code."""
    for script in scripts_base_first():
        doc = ast.get_docstring(ast.parse(Path(script.path).read_text())) or ""
        assert f"\nRevision ID: {script.revision}\n" in f"\n{doc}\n", script.path
        parent = script.down_revision or "(none)"
        assert f"\nRevises: {parent}\n" in f"\n{doc}\n", script.path
