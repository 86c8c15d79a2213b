"""The demo: broker + virtual display + sample clinic app + agent, stopped together by Ctrl-C.

Run through ``deploy/demo.sh``, which installs what is missing first.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.display import start_xvfb  # noqa: E402  (path set just above)

CERT_DIR = ROOT / "certs" / "dev"
PORT = int(os.environ.get("MAMORI_DEMO_PORT", "8443"))


def _dev_certificates() -> None:
    if not (CERT_DIR / "server.pem").is_file():
        subprocess.run([sys.executable, "-m", "certs", "dev", str(CERT_DIR)], cwd=ROOT, check=True)


def _spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    # Each child in its own session: Ctrl-C reaches only this script, which then stops the
    # agent before the broker and the app before the display, in order and quietly.
    return subprocess.Popen(args, text=True, start_new_session=True, **kwargs)


def _wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    if proc.stdout is None:
        raise RuntimeError("the broker's output is not captured")
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the broker exited during start; see its messages above")
        if line.startswith(prefix):
            return line.strip()
    raise RuntimeError("the broker did not print its access link in time")


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C and a service manager's SIGTERM both stop everything in order. Installed
    # explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    _dev_certificates()
    token = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "MAMORI_ENV": "dev",
        "MAMORI_AGENT_TOKEN": token,
        "MAMORI_TLS_CERT": str(CERT_DIR / "server.pem"),
        "MAMORI_TLS_KEY": str(CERT_DIR / "server-key.pem"),
        "MAMORI_HOST": "127.0.0.1",
        "MAMORI_PORT": str(PORT),
    }
    procs: list[subprocess.Popen[str]] = []
    with start_xvfb(1280, 720) as display:
        try:
            app_env = {**env, "DISPLAY": display.name}
            procs.append(
                _spawn(
                    [sys.executable, str(ROOT / "deploy" / "demo" / "sample_ehr.py")],
                    env=app_env,
                )
            )
            broker = _spawn(
                [sys.executable, "-m", "broker", "--print-access-link"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
            )
            procs.append(broker)
            link = _wait_for_line(broker, f"https://127.0.0.1:{PORT}/access/", 30)
            procs.append(
                _spawn(
                    [
                        sys.executable,
                        "-m",
                        "host_agent",
                        "--broker",
                        f"wss://127.0.0.1:{PORT}",
                        "--host-id",
                        "demo-clinic-pc",
                        "--name",
                        "診察室1（デモ）",
                        "--ca-file",
                        str(CERT_DIR / "ca.pem"),
                        "--display",
                        display.name,
                    ],
                    cwd=ROOT,
                    env=app_env,
                )
            )
            print()
            print("Mamori demo is running. Open this one-time link in Chrome, Edge or Firefox")
            print(f"(the certificate is from the dev CA {CERT_DIR / 'ca.pem'}; trust it or")
            print("accept the browser warning once). Ctrl-C stops everything.")
            print()
            print(link, flush=True)
            print()
            # Pass the broker's log through while we wait for Ctrl-C.
            for line in broker.stdout or ():
                print(line, end="")
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
