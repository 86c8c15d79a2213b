"""The agent's state directory: its key and certificate, and what enrollment told it.

Files (the directory is 0700):
    agent.pem            the private key (P-256, made on this host, never sent anywhere)
                         followed by its client certificate; mode 0600, replaced in one
                         step on renewal so key and certificate never disagree
    organization-ca.pem  the organization's agent CA (what signed agent.pem)
    broker-ca.pem        the CA that signed the broker's server certificate, if enrollment
                         was given ``--ca-file`` (else the system's store is used)
    agent.json           host id, name, organization, the broker's and the agent port's URLs
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from host_agent.errors import AgentConfigError

IDENTITY_FILE: Final = "agent.pem"
ORG_CA_FILE: Final = "organization-ca.pem"
BROKER_CA_FILE: Final = "broker-ca.pem"
STATE_FILE: Final = "agent.json"


def default_state_dir() -> Path:
    """``$MAMORI_AGENT_STATE_DIR``, else ``$XDG_STATE_HOME/mamori-agent``; on Windows
    ``%ProgramData%\\Mamori\\agent``, which the LocalSystem service reads and ``service
    install`` closes to everyone but LocalSystem and Administrators."""
    explicit = os.environ.get("MAMORI_AGENT_STATE_DIR")
    if explicit:
        return Path(explicit)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Mamori" / "agent"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mamori-agent"


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` in one step (temp file, fsync, rename), created ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Enrollment:
    """What enrollment told the agent (``agent.json``)."""

    host_id: str
    name: str
    organization: str
    broker_url: str
    agent_url: str


class AgentState:
    """The state directory of one enrolled agent."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def identity_file(self) -> Path:
        return self.directory / IDENTITY_FILE

    @property
    def broker_ca_file(self) -> Path | None:
        path = self.directory / BROKER_CA_FILE
        return path if path.is_file() else None

    def enrollment(self) -> Enrollment:
        """What enrollment saved; AgentConfigError if this host never enrolled."""
        path = self.directory / STATE_FILE
        if not path.is_file() or not self.identity_file.is_file():
            raise AgentConfigError(
                f"not enrolled (no {path}): run python -m host_agent enroll first"
            )
        try:
            return Enrollment(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise AgentConfigError(f"{path} is damaged: enroll again") from exc

    def certificate(self) -> x509.Certificate:
        """The current client certificate (the one in ``agent.pem``)."""
        try:
            return x509.load_pem_x509_certificate(self.identity_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise AgentConfigError(f"no usable certificate in {self.identity_file}") from exc

    def save(
        self,
        key: ec.EllipticCurvePrivateKey,
        cert: x509.Certificate,
        org_ca: x509.Certificate,
        enrollment: Enrollment | None = None,
        broker_ca_file: Path | None = None,
    ) -> None:
        """Store a new key and certificate (and, at enrollment, what the broker said and a
        copy of the CA file that verifies the broker)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if broker_ca_file is not None:
            write_private(self.directory / BROKER_CA_FILE, broker_ca_file.read_bytes(), 0o644)
        write_private(
            self.directory / ORG_CA_FILE, org_ca.public_bytes(serialization.Encoding.PEM), 0o644
        )
        if enrollment is not None:
            write_private(
                self.directory / STATE_FILE,
                json.dumps(asdict(enrollment), ensure_ascii=False, indent=1).encode(),
                0o644,
            )
        identity = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ) + cert.public_bytes(serialization.Encoding.PEM)
        write_private(self.identity_file, identity, 0o600)

    def ssl_context(self, ca_file: str | None = None) -> ssl.SSLContext:
        """Verify the broker (``ca_file``, else the saved broker CA, else the system's store)
        and show this host's certificate; TLS 1.3 only."""
        cafile = ca_file or (str(self.broker_ca_file) if self.broker_ca_file else None)
        context = ssl.create_default_context(cafile=cafile)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(str(self.identity_file))
        return context
