"""``python -m broker``: run the broker, or administer it from the command line.

Commands:
    serve (default)      run the broker on uvicorn with TLS
    create-admin         create an organization's first admin; prints a one-time
                         enrollment link (24 h) on a line of its own
    agent-token          create or rotate an organization's agent token; prints it
    gen-secret-key       print a new random MAMORI_SECRET_KEY
    audit verify         verify the audit hash chains (exit 1 names the first broken record)
    audit purge          export, then remove, audit records older than the retention period
    audit public-key     print the public key of the audit checkpoint signatures
    audit checkpoint     sign a checkpoint on every audit chain that grew

All but gen-secret-key read the same MAMORI_* environment as the server and migrate the
database first.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import secrets
import sys

from broker.accountability import audit_cli
from broker.app import create_app
from broker.clock import Clock
from broker.config import SECRET_KEY_BYTES, Settings
from broker.db.engine import Database
from broker.errors import ConfigError
from broker.security import accounts, agents
from broker.security.accounts import Purpose, Role
from broker.security.audit import Actor, Event, Outcome, record
from broker.server import build_server


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
            if await accounts.username_taken(s, name):
                raise ConfigError(f"user {name} exists already")
            org = await accounts.find_org(s, org_name) or await accounts.create_org(
                s, org_name, now
            )
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


async def agent_token(settings: Settings, org_name: str) -> str:
    db = Database(settings.database_url)
    now = Clock().now()
    try:
        await db.migrate()
        async with db.session() as s:
            org = await accounts.find_org(s, org_name)
            if org is None:
                raise ConfigError(f"no organization named {org_name}")
            token = await agents.rotate_token(s, org.id, None, now)
            record(
                s,
                Actor("cli", None, org.id, "cli"),
                Event.AGENT_TOKEN_ROTATED,
                Outcome.SUCCESS,
                now,
            )
            await s.commit()
    finally:
        await db.dispose()
    return token


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        return asyncio.run(audit_cli.verify(settings, args.org, args.public_key))
    if args.audit_command == "purge":
        return asyncio.run(audit_cli.purge(settings, args.before, args.export, args.org))
    if args.audit_command == "public-key":
        return audit_cli.public_key(settings)
    return asyncio.run(audit_cli.checkpoint(settings))


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
    token = sub.add_parser("agent-token", help="create or rotate an organization's agent token")
    token.add_argument("--org", required=True)
    sub.add_parser("gen-secret-key", help="print a new random MAMORI_SECRET_KEY")
    audit_cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "gen-secret-key":
        print(base64.urlsafe_b64encode(secrets.token_bytes(SECRET_KEY_BYTES)).decode().rstrip("="))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
        if args.command == "create-admin":
            url = asyncio.run(create_admin(settings, args.org, args.username, args.display_name))
            print("One-time enrollment link for the first admin (valid 24 h):", flush=True)
            print(url, flush=True)
            return 0
        if args.command == "agent-token":
            print(asyncio.run(agent_token(settings, args.org)), flush=True)
            return 0
        if args.command == "audit":
            return _audit(settings, args)
    except ConfigError as exc:
        print(f"mamori-broker: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    build_server(settings, app).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
