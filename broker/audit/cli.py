"""``python -m broker audit ...``: verify the audit chains, purge after export, print the
checkpoint key's public key, sign checkpoints now.

verify       exit 0 and one OK line per chain when every chain holds; otherwise exit 1 and,
             per broken chain, the first edited, deleted or reordered record (sequence and
             row id). ``--public-key FILE`` checks the checkpoints against an auditor's copy.
purge        ``--before DATE --export FILE``: writes the records before DATE to FILE (JSON
             lines with hashes), then removes them; refused inside the retention period or
             when a chain does not verify.
public-key   the PEM public key and its id (SHA-256), for an auditor to keep.
checkpoint   sign the head of every chain that grew since its last checkpoint.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from broker.audit import key as audit_key
from broker.audit import purge as audit_purge
from broker.audit.ledger import AuditSigner, attach_signer, checkpoint_moved_chains
from broker.audit.record import Actor, Event, Outcome, record
from broker.audit.verify import ChainReport, chains, verify_chain_of
from broker.clock import Clock
from broker.config import Settings
from broker.db.engine import Database
from broker.db.models import Organization
from broker.errors import ConfigError, PurgeRefused
from broker.identity import accounts

EXIT_BROKEN = 1


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``audit`` command and its subcommands."""
    audit = sub.add_parser("audit", help="verify, purge or inspect the audit trail")
    commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = commands.add_parser("verify", help="verify the hash chains and checkpoints")
    verify.add_argument("--org", help="only this organization's chain")
    verify.add_argument("--public-key", type=Path, help="an auditor's copy of the public key")
    purge = commands.add_parser("purge", help="export, then remove, records before a date")
    purge.add_argument("--before", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    purge.add_argument("--export", required=True, type=Path, help="a new file (JSON lines)")
    purge.add_argument("--org", help="only this organization's chain")
    commands.add_parser("public-key", help="print the checkpoint key's public key")
    commands.add_parser("checkpoint", help="sign a checkpoint on every chain that grew")


def chain_name(report_chain: int, names: dict[int, str]) -> str:
    if report_chain == 0:
        return "broker (events of no organization)"
    return f"{names.get(report_chain, '?')} (organization {report_chain})"


def describe(report: ChainReport, name: str) -> str:
    """One line an operator can act on."""
    through = (
        f"verified up to record {report.last_sequence} (id {report.last_id}) "
        f"at {report.last_at.isoformat() if report.last_at else '-'}"
        if report.last_sequence is not None
        else "no record verified"
    )
    if report.problem is None:
        return (
            f"OK      {name}: {report.records} records, {report.checkpoints} checkpoints; {through}"
        )
    where = f"record {report.problem.sequence}"
    if report.problem_id is not None:
        where += f" (id {report.problem_id})"
    what = {
        "edited": f"{where} was edited",
        "missing_before": f"{where}: records before it were deleted or moved",
        "out_of_order": f"{where} is out of order",
        "truncated": f"records from {report.problem.sequence} on were deleted",
        "bad_checkpoint": f"checkpoint at record {report.problem.sequence} is not signed by "
        "this key (forged)",
        "checkpoint_mismatch": f"records after {report.rewritten_after or 0} up to "
        f"{report.problem.sequence} were rewritten; {where} does not match its signed "
        "checkpoint",
    }.get(report.problem.problem, f"{where}: {report.problem.problem}")
    return f"BROKEN  {name}: {what}; {through}"


async def _org_id(db: Database, name: str | None) -> int | None:
    if name is None:
        return None
    async with db.session() as s:
        org = await accounts.find_org(s, name)
    if org is None:
        raise ConfigError(f"no organization named {name}")
    return org.id


async def verify(settings: Settings, org: str | None, public_key_file: Path | None) -> int:
    public_key: Ed25519PublicKey = (
        audit_key.load_public_key(public_key_file)
        if public_key_file is not None
        else audit_key.load_private_key(settings.audit_key_path, create=False).public_key()
    )
    db = Database(settings.database_url)
    try:
        await db.migrate()
        org_id = await _org_id(db, org)
        broken = []
        async with db.session() as s:
            names = dict((await s.execute(select(Organization.id, Organization.name))).all())
            for chain in await chains(s, org_id):
                report = await verify_chain_of(s, chain, public_key)
                print(describe(report, chain_name(chain, names)), flush=True)
                if not report.ok:
                    broken.append(report)
        if broken:
            async with db.session() as s:
                for report in broken:
                    record(
                        s,
                        Actor("cli", None, report.chain or None, "cli"),
                        Event.AUDIT_CHAIN_BROKEN,
                        Outcome.FAILURE,
                        Clock().now(),
                        detail=f"{report.problem} id={report.problem_id}",
                    )
                await s.commit()
            return EXIT_BROKEN
        return 0
    finally:
        await db.dispose()


def _signer(settings: Settings) -> AuditSigner:
    key = audit_key.load_private_key(settings.audit_key_path, create=True)
    return AuditSigner(key, settings.audit_checkpoint_every)


async def purge(settings: Settings, before: date, export: Path, org: str | None) -> int:
    signer = _signer(settings)
    db = Database(settings.database_url)
    attach_signer(db.sessions, signer)
    try:
        await db.migrate()
        done = await audit_purge.purge(
            db,
            signer,
            before=datetime(before.year, before.month, before.day, tzinfo=UTC),
            export_path=export,
            now=Clock().now(),
            retention_days=settings.audit_retention_days,
            org_id=await _org_id(db, org),
        )
    except (PurgeRefused, FileExistsError) as exc:
        raise ConfigError(str(exc)) from exc
    finally:
        await db.dispose()
    removed = sum(p.removed for p in done)
    print(f"exported and removed {removed} records from {len(done)} chains to {export}")
    for p in done:
        print(f"  chain {p.chain}: records up to {p.through_sequence} ({p.removed})")
    return 0


def public_key(settings: Settings) -> int:
    key = audit_key.load_private_key(settings.audit_key_path, create=True).public_key()
    print(audit_key.public_key_pem(key), end="")
    print(f"key id (SHA-256 of the raw key): {audit_key.key_id(key)}")
    return 0


async def checkpoint(settings: Settings) -> int:
    signer = _signer(settings)
    db = Database(settings.database_url)
    try:
        await db.migrate()
        signed = await checkpoint_moved_chains(db.sessions, signer, Clock().now())
    finally:
        await db.dispose()
    print(f"signed {signed} checkpoints")
    return 0
