"""``python -m broker backup DIR`` and ``restore DIR``: the database, the audit signing key and
the secret key, as one folder an operator can store off the machine.

- SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies a consistent
  snapshot while the broker keeps running. A file copy of a WAL database is not a backup:
  the last transactions may sit in ``-wal`` and the copy can be torn mid-write.
- PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot, online) and ``pg_restore``
  into an empty database (the password travels in ``PGPASSWORD``, never on a command line).
- The audit signing key (``audit-signing-key.pem``): without it new checkpoints could not
  continue the signed history (verification of old ones needs only its public key).
- The secret key (``secret-key``): TOTP secrets and the clinics' CA keys are sealed under it;
  a database restored without it is a database nobody can sign in to. Restore refuses to run
  unless ``MAMORI_SECRET_KEY`` is that key, so the two can never be mixed up.

The folder is written 0700, each file 0600, with ``manifest.json`` holding each file's SHA-256
(checked before a restore). Restore writes only into an empty place: an empty data folder
(SQLite) or an empty database (PostgreSQL); it never overwrites a live broker's data.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.ops.errors import OpsError

MANIFEST: Final = "manifest.json"
SQLITE_FILE: Final = "mamori.db"
PG_FILE: Final = "mamori.pgdump"
KEY_FILE: Final = "audit-signing-key.pem"
SECRET_FILE: Final = "secret-key"  # noqa: S105  (a file name)
FORMAT: Final = 1


@dataclass(frozen=True)
class Manifest:
    created_at: str
    dialect: str
    revision: str | None
    files: dict[str, str]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise OpsError("an in-memory database has nothing to back up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while writers go on."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    finally:
        src.close()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment carrying it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(*command: str, env: dict[str, str]) -> None:
    executable = shutil.which(command[0])
    if executable is None:
        raise OpsError(f"{command[0]} is not installed (PostgreSQL client tools)")
    done = subprocess.run(  # noqa: S603  (fixed program, arguments from our settings)
        [executable, *command[1:]], env=env, capture_output=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise OpsError(f"{command[0]} failed: {done.stderr.decode(errors='replace')[:500]}")


async def _revision(url: str) -> str | None:
    db = Database(url)
    try:
        return await db.current_revision()
    finally:
        await db.dispose()


def backup(settings: Settings, target: Path) -> Manifest:
    """Write a backup of the broker's data into ``target`` (absent or empty)."""
    if target.exists() and any(target.iterdir()):
        raise OpsError(f"{target} is not empty: back up into a new folder")
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.chmod(0o700)
    url = make_url(settings.database_url)
    dialect = url.get_backend_name()
    revision = asyncio.run(_revision(settings.database_url))
    if dialect == "sqlite":
        _sqlite_copy(_sqlite_path(url), target / SQLITE_FILE)
        database_file = SQLITE_FILE
    else:
        conninfo, env = _libpq(url)
        _run(
            "pg_dump", "--format=custom", "--no-owner", "--no-privileges",
            f"--file={target / PG_FILE}", f"--dbname={conninfo}", env=env,
        )  # fmt: skip
        (target / PG_FILE).chmod(0o600)
        database_file = PG_FILE
    key_path = settings.audit_key_path
    if not key_path.is_file():
        raise OpsError(f"the audit signing key {key_path} is missing")
    _write_private(target / KEY_FILE, key_path.read_bytes())
    _write_private(target / SECRET_FILE, settings.secret_key.encode() + b"\n")
    files = {name: _sha256(target / name) for name in (database_file, KEY_FILE, SECRET_FILE)}
    manifest = Manifest(Clock().now().isoformat(), dialect, revision, files)
    _write_private(
        target / MANIFEST,
        json.dumps({"format": FORMAT, **manifest.__dict__}, indent=2).encode(),
    )
    return manifest


def read_manifest(source: Path) -> Manifest:
    """The backup's manifest, every file checked against its SHA-256."""
    try:
        raw = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise OpsError(f"{source} holds no readable {MANIFEST}: {exc}") from None
    if raw.get("format") != FORMAT:
        raise OpsError(f"unknown backup format {raw.get('format')!r}")
    manifest = Manifest(raw["created_at"], raw["dialect"], raw["revision"], dict(raw["files"]))
    for name, digest in manifest.files.items():
        if "/" in name or not (source / name).is_file() or _sha256(source / name) != digest:
            raise OpsError(f"{name} in {source} is missing or altered (SHA-256 differs)")
    return manifest


async def _empty_postgres(url: str) -> bool:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            count = await conn.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            )
    finally:
        await db.dispose()
    return int(count or 0) == 0


def restore(settings: Settings, source: Path) -> Manifest:
    """Restore ``source`` into the configured, empty database and data folder."""
    manifest = read_manifest(source)
    saved_key = (source / SECRET_FILE).read_text().strip()
    if not hmac.compare_digest(saved_key.encode(), settings.secret_key.encode()):
        raise OpsError(
            "MAMORI_SECRET_KEY is not the backup's: set it to the value in "
            f"{source / SECRET_FILE} (TOTP secrets and CA keys are sealed under it)"
        )
    url = make_url(settings.database_url)
    dialect = url.get_backend_name()
    if dialect != manifest.dialect:
        raise OpsError(f"the backup is of {manifest.dialect}, the target is {dialect}")
    key_path = settings.audit_key_path
    if key_path.exists():
        raise OpsError(f"{key_path} exists: restore into an empty data folder")
    if dialect == "sqlite":
        path = _sqlite_path(url)
        if path.exists():
            raise OpsError(f"{path} exists: restore into an empty data folder")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _sqlite_copy(source / SQLITE_FILE, path)
    else:
        if not asyncio.run(_empty_postgres(settings.database_url)):
            raise OpsError("the target database is not empty: restore into a new one")
        conninfo, env = _libpq(url)
        _run(
            "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
            f"--dbname={conninfo}", str(source / PG_FILE), env=env,
        )  # fmt: skip
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(key_path, (source / KEY_FILE).read_bytes())
    return manifest
