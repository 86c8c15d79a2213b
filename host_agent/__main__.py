"""``python -m host_agent``: stream this host's screen to viewers through the broker.

The shared agent token is read from ``MAMORI_AGENT_TOKEN`` (never from the command line,
where any local user could read it in the process list).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from host_agent.broker_link import BrokerLink, LinkSettings, client_ssl_context
from host_agent.errors import AgentError
from host_agent.ice import restrict_host_candidates
from host_agent.injection import open_injector
from host_agent.peer_session import StreamSettings
from host_agent.screen_track import MAX_FPS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mamori-agent", description=__doc__)
    parser.add_argument("--broker", required=True, help="broker URL, e.g. wss://broker:8443")
    parser.add_argument("--host-id", required=True, help="this host's id (a-z, 0-9, -)")
    parser.add_argument("--name", required=True, help="name viewers see, e.g. 診察室1")
    parser.add_argument("--ca-file", help="CA certificate that signed the broker's certificate")
    parser.add_argument("--display", default=os.environ.get("DISPLAY"), help="X display")
    parser.add_argument(
        "--fps",
        type=int,
        default=MAX_FPS,
        choices=range(1, MAX_FPS + 1),
        metavar=f"1..{MAX_FPS}",
        help="most frames per second (a static screen sends about one a second)",
    )
    parser.add_argument(
        "--bitrate",
        type=int,
        default=8_000_000,
        help="most bits per second; the browser's estimate (REMB) lowers it",
    )
    parser.add_argument(
        "--ice-address",
        action="append",
        help="offer only this local address for media (repeat); default: all but loopback",
    )
    return parser


async def _run(args: argparse.Namespace, token: str) -> None:
    if args.ice_address:
        restrict_host_candidates(args.ice_address)
    injector = open_injector(args.display)
    link = BrokerLink(
        LinkSettings(args.broker, args.host_id, args.name, token, client_ssl_context(args.ca_file)),
        StreamSettings(display=args.display, fps=args.fps, bitrate=args.bitrate),
        injector,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(link.stop()))
    try:
        await link.run()
    finally:
        injector.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token = os.environ.get("MAMORI_AGENT_TOKEN", "")
    if not token:
        print("mamori-agent: MAMORI_AGENT_TOKEN is not set", file=sys.stderr)
        return 2
    try:
        asyncio.run(_run(args, token))
    except AgentError as exc:
        print(f"mamori-agent: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"mamori-agent: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(Exception):
        logging.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
