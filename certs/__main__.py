"""``python -m certs dev DIR``: a development CA and server certificate for 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from certs.authority import write_dev_server_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certs")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="write a dev CA and a server certificate")
    dev.add_argument("directory", type=Path)
    dev.add_argument("--name", action="append", default=None, help="DNS name or IP (repeat)")
    args = parser.parse_args(argv)
    names = args.name or ["127.0.0.1", "localhost"]
    files = write_dev_server_files(args.directory, names)
    print(f"CA certificate: {files.ca_cert}")
    print(f"server certificate: {files.server_cert} (SPKI sha256 {files.spki_sha256_b64})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
