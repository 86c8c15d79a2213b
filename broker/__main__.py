"""``python -m broker``: run the broker, or administer it from the command line.

Commands:
    serve (default)      run the broker on uvicorn with TLS
    create-admin         create an organization's first admin; prints a one-time
                         enrollment link (24 h) on a line of its own
    enrollment-code      a one-time code (1 h) for a clinic PC to enroll; prints it and
                         the command to run on that PC
    certs ca             create (if needed) and print an organization's agent CA
    certs list           an organization's agent certificates
    certs revoke         revoke one (--serial) or every (--host-id) certificate of a host
    gen-secret-key       print a new random MAMORI_SECRET_KEY
    check-config         print every setting in force (secrets masked) and exit 0, or the
                         problems and exit 2
    audit verify         verify the audit hash chains (exit 1 names the first broken record)
    audit purge          export, then remove, audit records older than the retention period
    audit public-key     print the public key of the audit checkpoint signatures
    audit checkpoint     sign a checkpoint on every audit chain that grew
    db upgrade           migrate the database to the newest schema
    db current           print the database's schema revision; exit 1 unless it is the newest
    backup DIR           copy the database (online), the audit signing key and the secret key
                         into DIR (new or empty; 0700)
    restore DIR          restore such a backup into an empty data folder or database; refuses
                         unless MAMORI_SECRET_KEY is the backup's

All but gen-secret-key read the same MAMORI_* environment as the server; those that use the
database migrate it first (check-config and db current do not touch it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import re
import secrets
import sys
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession

from broker.agents import enrollment as agent_enrollment
from broker.agents.ca import AgentAuthority
from broker.agents.enrollment import HOST_ID_PATTERN
from broker.api.admin_hosts import enroll_command
from broker.audit import cli as audit_cli
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.config import SECRET_KEY_BYTES, Settings
from broker.db import cli as db_cli
from broker.db.engine import Database
from broker.db.models import Organization
from broker.errors import ConfigError
from broker.identity import accounts
from broker.identity.accounts import Purpose, Role
from broker.ops import backup as ops_backup
from broker.ops.errors import OpsError
from broker.ops.logs import configure_logging
from broker.server.app import create_app
from broker.server.servers import serve


async def create_admin(settings: Settings, org_name: str, username: str, display: str) -> str:
    """Create the organization if needed and an admin in it; returns the enrollment URL."""
    db = Database(settings.database_url)
    now = Clock().now()
    try:
        await db.migrate()
        async with db.session() as s:
            name = accounts.normalize_username(username)
            if not accounts.valid_username(name):
                raise ConfigError("user names are 3-64 of a-z 0-9 . _ @ + -")
            org = await accounts.find_org(s, org_name) or await accounts.create_org(
                s, org_name, now
            )
            if await accounts.username_taken(s, org.id, name):
                raise ConfigError(f"user {name} exists already in {org_name}")
            user = await accounts.create_user(s, org.id, name, display or name, Role.ADMIN, now)
            token = await accounts.issue_link(
                s, user, Purpose.FIRST_ADMIN, None, now, settings.invite_ttl_s
            )
            actor = Actor("cli", None, org.id, "cli")
            record(
                s,
                actor,
                Event.INVITE,
                Outcome.SUCCESS,
                now,
                target_user_id=user.id,
                detail="role=admin first_admin",
            )
            await s.commit()
    finally:
        await db.dispose()
    return f"{settings.origin()}/#/enroll/{token}"


def _authority(settings: Settings) -> AgentAuthority:
    return AgentAuthority(
        settings.secret_key_bytes, timedelta(seconds=settings.agent_cert_lifetime_s)
    )


async def _organization(s: AsyncSession, org_name: str) -> Organization:
    org = await accounts.find_org(s, org_name)
    if org is None:
        raise ConfigError(f"no organization named {org_name}")
    return org


async def enrollment_code(settings: Settings, org_name: str, host_id: str, name: str) -> list[str]:
    """A one-time enrollment code for ``host_id``: the code, then the agent's command."""
    if not re.match(HOST_ID_PATTERN, host_id):
        raise ConfigError("host ids are 1-63 of a-z 0-9 - and start with a letter or digit")
    db = Database(settings.database_url)
    now = Clock().now()
    try:
        await db.migrate()
        async with db.session() as s:
            org = await _organization(s, org_name)
            await _authority(settings).ensure_ca(s, org.id, now)
            issued = await agent_enrollment.create_code(s, org.id, host_id, name, None, now)
            record(
                s,
                Actor("cli", None, org.id, "cli"),
                Event.ENROLLMENT_CODE_CREATED,
                Outcome.SUCCESS,
                now,
                detail=f"host={host_id} expires_at={issued.record.expires_at.isoformat()}",
            )
            await s.commit()
    finally:
        await db.dispose()
    return [issued.code, enroll_command(settings.origin(), issued.code, host_id, name)]


async def certs_command(settings: Settings, args: argparse.Namespace) -> list[str]:
    """``certs ca|list|revoke``: the organization's agent CA and certificates."""
    db = Database(settings.database_url)
    now = Clock().now()
    authority = _authority(settings)
    lines: list[str] = []
    try:
        await db.migrate()
        async with db.session() as s:
            org = await _organization(s, args.org)
            if args.certs_command == "ca":
                ca = await authority.ensure_ca(s, org.id, now)
                await s.commit()
                lines.append(ca.public_bytes(serialization.Encoding.PEM).decode().strip())
            elif args.certs_command == "list":
                for c in await authority.certificates(s, org.id):
                    state = (
                        "revoked" if c.revoked_at else ("expired" if now > c.not_after else "valid")
                    )
                    lines.append(
                        f"{c.serial}\t{c.host_id}\t{state}\tnot_after={c.not_after.isoformat()}"
                        f"\tissued={c.issued_at.isoformat()}"
                        + (f"\trenewed={c.renewed_at.isoformat()}" if c.renewed_at else "")
                        + (
                            f"\trevoked={c.revoked_at.isoformat()} ({c.revoked_reason})"
                            if c.revoked_at
                            else ""
                        )
                    )
            else:
                lines = await _revoke(s, authority, org.id, args, now)
                await s.commit()
    finally:
        await db.dispose()
    return lines


async def _revoke(
    s: AsyncSession, authority: AgentAuthority, org_id: int, args: argparse.Namespace, now: datetime
) -> list[str]:
    if args.serial:
        row = await authority.revoke(s, org_id, args.serial, args.reason, now)
        if row is None:
            raise ConfigError(f"no live certificate {args.serial} in this organization")
        revoked = [(row.host_id, row.serial)]
    else:
        serials = await authority.revoke_host(s, org_id, args.host_id, args.reason, now)
        revoked = [(args.host_id, serial) for serial in serials]
    for host_id, serial in revoked:
        record(
            s,
            Actor("cli", None, org_id, "cli"),
            Event.CERT_REVOKED,
            Outcome.SUCCESS,
            now,
            detail=f"host={host_id} serial={serial} reason={args.reason}",
        )
    return [f"revoked {serial} ({host_id})" for host_id, serial in revoked]


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        return asyncio.run(audit_cli.verify(settings, args.org, args.public_key))
    if args.audit_command == "purge":
        return asyncio.run(audit_cli.purge(settings, args.before, args.export, args.org))
    if args.audit_command == "public-key":
        return audit_cli.public_key(settings)
    return asyncio.run(audit_cli.checkpoint(settings))


def _db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "upgrade":
        return asyncio.run(db_cli.upgrade(settings))
    return asyncio.run(db_cli.current(settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m broker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the broker (the default)")
    admin = sub.add_parser("create-admin", help="first admin of an organization")
    admin.add_argument("--org", required=True, help="organization (clinic) name")
    admin.add_argument("--username", required=True)
    admin.add_argument("--display-name", default="")
    code_parser = sub.add_parser("enrollment-code", help="a one-time code for a PC to enroll")
    code_parser.add_argument("--org", required=True)
    code_parser.add_argument("--host-id", required=True, help="the PC's id (a-z, 0-9, -)")
    code_parser.add_argument("--name", required=True, help="the name viewers see, e.g. 診察室1")
    certs = sub.add_parser("certs", help="an organization's agent CA and certificates")
    certs_sub = certs.add_subparsers(dest="certs_command", required=True)
    for name, text in (("ca", "create (if needed) and print the CA"), ("list", "list")):
        certs_sub.add_parser(name, help=text).add_argument("--org", required=True)
    revoke = certs_sub.add_parser("revoke", help="revoke a certificate, or all of a host's")
    revoke.add_argument("--org", required=True)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--serial", help="hex serial (as listed)")
    which.add_argument("--host-id", help="every live certificate of this host")
    revoke.add_argument(
        "--reason", default="unspecified", choices=["unspecified", "decommissioned", "compromised"]
    )
    sub.add_parser("gen-secret-key", help="print a new random MAMORI_SECRET_KEY")
    sub.add_parser("check-config", help="print the settings in force, or what is wrong")
    audit_cli.add_commands(sub)
    db_cli.add_commands(sub)
    for name, text in (("backup", "back up into DIR"), ("restore", "restore from DIR")):
        sub.add_parser(name, help=text).add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "gen-secret-key":
        print(base64.urlsafe_b64encode(secrets.token_bytes(SECRET_KEY_BYTES)).decode().rstrip("="))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
        if args.command == "check-config":
            for name, value in settings.effective():
                print(f"{name}={value}", flush=True)
            return 0
        if args.command == "create-admin":
            url = asyncio.run(create_admin(settings, args.org, args.username, args.display_name))
            print("One-time enrollment link for the first admin (valid 24 h):", flush=True)
            print(url, flush=True)
            return 0
        if args.command == "enrollment-code":
            code, command = asyncio.run(
                enrollment_code(settings, args.org, args.host_id, args.name)
            )
            print("One-time enrollment code (valid 1 h):", flush=True)
            print(code, flush=True)
            print("Run on the clinic PC:", flush=True)
            print(command, flush=True)
            return 0
        if args.command == "certs":
            for line in asyncio.run(certs_command(settings, args)):
                print(line, flush=True)
            return 0
        if args.command == "audit":
            return _audit(settings, args)
        if args.command == "db":
            return _db(settings, args)
        if args.command == "backup":
            manifest = ops_backup.backup(settings, args.dir)
            print(f"backed up ({manifest.dialect}, schema {manifest.revision}) to {args.dir}")
            print("Keep it off this machine: it holds the secret key.", flush=True)
            return 0
        if args.command == "restore":
            manifest = ops_backup.restore(settings, args.dir)
            print(f"restored the backup of {manifest.created_at} (schema {manifest.revision})")
            return 0
    except OpsError as exc:
        print(f"mamori-broker: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        for line in str(exc).splitlines():  # settings report every problem, one a line
            print(f"mamori-broker: {line}", file=sys.stderr)
        return 2
    app = create_app(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
