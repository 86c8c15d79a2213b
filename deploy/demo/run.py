"""The demo: broker + virtual display + sample clinic app + agent, stopped together by Ctrl-C.

Run through ``deploy/demo.sh``, which installs what is missing first. Each run starts with a
fresh demo database (``data/demo/``, git-ignored): a clinic "デモ診療所", its first admin
(``python -m broker create-admin``, whose one-time enrollment link is printed on a line of
its own) and the demo PC enrolled the way a clinic enrolls one: a one-time code
(``python -m broker enrollment-code``), ``python -m host_agent enroll`` with it (the key is
made in ``data/demo/agent/``), then the agent, which connects to the agent port
(``MAMORI_AGENT_PORT``, 8444) with its client certificate. The secret key is generated once
into ``data/demo/secret.key``.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from devkit.display import start_xvfb  # noqa: E402  (path set just above)

CERT_DIR = ROOT / "certs" / "dev"
DATA_DIR = ROOT / "data" / "demo"
PORT = int(os.environ.get("MAMORI_DEMO_PORT", "8443"))
AGENT_PORT = PORT + 1
AGENT_STATE = DATA_DIR / "agent"
HOST_ID = "demo-clinic-pc"
HOST_NAME = "診察室1（デモ）"
# A host name, not 127.0.0.1: browsers refuse passkeys on IP addresses.
ORIGIN = f"https://localhost:{PORT}"
ORG = "デモ診療所"


def _dev_certificates() -> None:
    if not (CERT_DIR / "server.pem").is_file():
        subprocess.run([sys.executable, "-m", "certs", "dev", str(CERT_DIR)], cwd=ROOT, check=True)


def _secret_key() -> str:
    """The demo's MAMORI_SECRET_KEY, made once and kept (0600) in the data folder."""
    path = DATA_DIR / "secret.key"
    if not path.is_file():
        DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key)
    return path.read_text().strip()


def _fresh_database() -> str:
    """Each demo run starts with no accounts (the printed link is the only way in) and an
    agent that has yet to enroll."""
    for leftover in DATA_DIR.glob("mamori.db*"):
        leftover.unlink()
    for leftover in AGENT_STATE.glob("*"):
        leftover.unlink()
    return f"sqlite+aiosqlite:///{DATA_DIR / 'mamori.db'}"


def _broker_cli(args: list[str], env: dict[str, str]) -> list[str]:
    """Run ``python -m broker ARGS`` and return its output lines."""
    done = subprocess.run(
        [sys.executable, "-m", "broker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m broker {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.splitlines()


def _wait_for_port(proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the broker exited during start; see its messages above")
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the broker did not start listening in time")


def _spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    # Each child in its own session: Ctrl-C reaches only this script, which then stops the
    # agent before the broker and the app before the display, in order and quietly.
    return subprocess.Popen(args, text=True, start_new_session=True, **kwargs)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C and a service manager's SIGTERM both stop everything in order. Installed
    # explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    _dev_certificates()
    env = {
        **os.environ,
        "MAMORI_ENV": "dev",
        "MAMORI_SECRET_KEY": _secret_key(),
        "MAMORI_DATABASE_URL": _fresh_database(),
        # The audit signing key is kept here too (created on the first run, 0600).
        "MAMORI_DATA_DIR": str(DATA_DIR),
        "MAMORI_PUBLIC_URL": ORIGIN,
        "MAMORI_TLS_CERT": str(CERT_DIR / "server.pem"),
        "MAMORI_TLS_KEY": str(CERT_DIR / "server-key.pem"),
        "MAMORI_HOST": "127.0.0.1",
        "MAMORI_PORT": str(PORT),
        "MAMORI_AGENT_PORT": str(AGENT_PORT),
        # The demo's browser and agent share this machine.
        "MAMORI_ICE_LOOPBACK": "on",
        # A person reads the demo's terminal: plain lines (JSON is for log collectors).
        "MAMORI_LOG_FORMAT": os.environ.get("MAMORI_LOG_FORMAT", "text"),
    }
    output = _broker_cli(
        ["create-admin", "--org", ORG, "--username", "admin", "--display-name", "院長（デモ）"],
        env,
    )
    link = next(line for line in output if line.startswith(f"{ORIGIN}/#/enroll/"))
    code_output = _broker_cli(
        ["enrollment-code", "--org", ORG, "--host-id", HOST_ID, "--name", HOST_NAME], env
    )
    code = code_output[code_output.index("One-time enrollment code (valid 1 h):") + 1].strip()
    procs: list[subprocess.Popen[str]] = []
    with start_xvfb(1280, 720) as display:
        try:
            # The app and the agent get no broker secrets: only their display.
            app_env = {**os.environ, "DISPLAY": display.name}
            procs.append(
                _spawn(
                    [sys.executable, str(ROOT / "devkit" / "sample_ehr.py")],
                    env=app_env,
                )
            )
            broker = _spawn([sys.executable, "-m", "broker"], cwd=ROOT, env=env)
            procs.append(broker)
            _wait_for_port(broker, 60)
            # The clinic PC enrolls: its key is made here, a CSR and the code go to the
            # broker, a client certificate comes back (printed command = the console's).
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "host_agent",
                    "enroll",
                    "--broker",
                    ORIGIN,
                    "--code",
                    code,
                    "--host-id",
                    HOST_ID,
                    "--name",
                    HOST_NAME,
                    "--ca-file",
                    str(CERT_DIR / "ca.pem"),
                    "--state-dir",
                    str(AGENT_STATE),
                ],
                cwd=ROOT,
                env=app_env,
                check=True,
                timeout=60,
            )
            procs.append(
                _spawn(
                    [
                        sys.executable,
                        "-m",
                        "host_agent",
                        "--state-dir",
                        str(AGENT_STATE),
                        "--display",
                        display.name,
                    ],
                    cwd=ROOT,
                    env=app_env,
                )
            )
            print()
            print("Mamori demo is running. Open this one-time enrollment link for the first")
            print("admin in Chrome, Edge or Firefox on this machine (the certificate is from the")
            print(f"dev CA {CERT_DIR / 'ca.pem'}; trust it or accept the browser warning once).")
            print("Set a password, add a passkey or an authenticator app, keep the recovery")
            print("codes, and the demo clinic PC appears. Register this browser as a viewing")
            print("device (この端末を登録する), then approve it yourself under 管理 → 端末の承認")
            print("(the only admin may; audited as a self-approval). Ctrl-C stops everything.")
            print()
            print(link, flush=True)
            print()
            return 1 if broker.wait() else 0
        except KeyboardInterrupt:
            print("\nstopping the demo…")
            return 0
        finally:
            # Newest first: the agent leaves the broker, the broker stops, then the app.
            for proc in reversed(procs):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    sys.exit(main())
