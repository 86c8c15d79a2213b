"""``python -m broker``: run the broker on uvicorn with TLS."""

from __future__ import annotations

import argparse
import logging
import sys

from broker.app import create_app
from broker.config import Settings
from broker.errors import ConfigError
from broker.server import build_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mamori-broker", description=__doc__)
    parser.add_argument(
        "--print-access-link",
        action="store_true",
        help="print a one-time access link at start (until accounts exist)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"mamori-broker: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    if args.print_access_link:
        token = app.state.access_links.issue_link_token()
        host = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host  # noqa: S104
        print("Open this one-time link in a browser:", flush=True)
        print(f"https://{host}:{settings.port}/access/{token}", flush=True)
    build_server(settings, app).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
