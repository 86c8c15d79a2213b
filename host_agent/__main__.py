"""``python -m host_agent``: stream this host's screen to viewers through the broker.

Commands:
    enroll   join the organization once, with the one-time code an admin made in the
             console: ``python -m host_agent enroll --broker https://BROKER:8443 --code CODE
             --host-id ID --name 名前 [--ca-file CA]``. The key pair is made here (0600 in
             the state directory) and a client certificate comes back.
    (run)    ``python -m host_agent [--display :0] ...``: connect to the agent port with that
             certificate (mutual TLS) and serve viewers; the certificate renews itself.
    service  Windows only: ``mamori-agent service install|uninstall|start|stop|status`` (as
             an administrator) manages the LocalSystem service that keeps the agent running
             in the console session (``platform/windows/service.py``).

The state directory is ``--state-dir``, else ``$MAMORI_AGENT_STATE_DIR``, else
``$XDG_STATE_HOME/mamori-agent`` (Windows: ``%ProgramData%\\Mamori\\agent``). Nothing secret
is ever taken from the command line but the one-time code, which is spent at enrollment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path

from host_agent.errors import AgentConfigError, AgentError
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.platform.backends import open_capture, open_injector, watch_stop_request
from host_agent.trust.credentials import AgentState, default_state_dir
from host_agent.trust.enrollment import enroll
from host_agent.trust.renewal import keep_renewed
from host_agent.video.screen_track import MAX_FPS
from host_agent.webrtc.ice import TURN_TRANSPORTS, prefer_turn_transport, restrict_host_candidates
from host_agent.webrtc.peer_session import StreamSettings


def _state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the key, certificate and settings live (default: "
        "$MAMORI_AGENT_STATE_DIR, else ~/.local/state/mamori-agent)",
    )


def _enroll_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mamori-agent enroll", description=__doc__)
    parser.add_argument("--broker", required=True, help="the broker, e.g. https://broker:8443")
    parser.add_argument("--code", required=True, help="the one-time enrollment code")
    parser.add_argument("--host-id", required=True, help="this host's id (a-z, 0-9, -)")
    parser.add_argument("--name", required=True, help="name viewers see, e.g. 診察室1")
    parser.add_argument("--ca-file", help="CA certificate that signed the broker's certificate")
    _state_dir(parser)
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mamori-agent", description=__doc__)
    parser.add_argument(
        "--broker",
        help="the agent port, e.g. wss://broker:8444 (default: what enrollment was told)",
    )
    parser.add_argument("--host-id", help="this host's id; must be the enrolled one")
    parser.add_argument("--name", help="name viewers see (default: the enrolled one)")
    parser.add_argument("--ca-file", help="CA certificate that signed the broker's certificate")
    _state_dir(parser)
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
    parser.add_argument(
        "--turn-transport",
        choices=TURN_TRANSPORTS,
        help="try TURN over this first (tls: a clinic whose router passes only 443); "
        "default: the broker's order",
    )
    parser.add_argument("--log-file", type=Path, help="log here (rotated) instead of stderr")
    parser.add_argument(
        "--stop-event",
        help="Windows: stop when the service signals this named event (the service sets it)",
    )
    return parser


async def _run(args: argparse.Namespace, state: AgentState) -> None:
    enrolled = state.enrollment()
    if args.host_id and args.host_id != enrolled.host_id:
        raise AgentConfigError(f"this host is enrolled as {enrolled.host_id}, not {args.host_id}")
    agent_url = args.broker or enrolled.agent_url
    if not agent_url.startswith("wss://"):
        raise AgentConfigError("the agent port's URL must be wss://")
    if args.ice_address:
        restrict_host_candidates(args.ice_address)
    prefer_turn_transport(args.turn_transport)
    injector = open_injector(args.display)
    link = BrokerLink(
        LinkSettings(
            agent_url,
            enrolled.host_id,
            args.name or enrolled.name,
            lambda: state.ssl_context(args.ca_file),
        ),
        StreamSettings(
            display=args.display,
            fps=args.fps,
            bitrate=args.bitrate,
            capture=open_capture(args.display),
        ),
        injector,
    )
    stop = asyncio.Event()
    stopper: set[asyncio.Task[None]] = set()

    def stopping() -> None:
        stop.set()
        stopper.add(asyncio.ensure_future(link.stop()))

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stopping)
        except NotImplementedError:  # Windows' event loops: the service's stop event instead
            break
    if args.stop_event:

        def stop_requested() -> None:  # on the watching thread
            loop.call_soon_threadsafe(stopping)

        watch_stop_request(args.stop_event, stop_requested)
    renewer = asyncio.create_task(keep_renewed(state, agent_url, stop, args.ca_file))
    try:
        await link.run()
    finally:
        stop.set()
        await renewer
        injector.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _log_to(_log_file(argv))
    try:
        if argv[:1] == ["service"]:
            from host_agent.platform.windows.service import main as service_main

            return service_main(argv[1:])
        if argv[:1] == ["enroll"]:
            args = _enroll_parser().parse_args(argv[1:])
            state = AgentState(args.state_dir or default_state_dir())
            enrolled = enroll(args.broker, args.code, args.host_id, args.name, state, args.ca_file)
            print(
                f"enrolled {enrolled.host_id} in {enrolled.organization}; "
                f"key and certificate in {state.directory}",
                flush=True,
            )
            return 0
        args = _parser().parse_args(argv)
        asyncio.run(_run(args, AgentState(args.state_dir or default_state_dir())))
    except (AgentError, ValueError) as exc:
        print(f"mamori-agent: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(Exception):
        logging.shutdown()
    return 0


def _log_file(argv: list[str]) -> Path | None:
    """``--log-file`` is needed before the arguments are parsed (parsing errors are logged)."""
    for index, arg in enumerate(argv):
        if arg == "--log-file" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--log-file="):
            return Path(arg.split("=", 1)[1])
    return None


def _log_to(path: Path | None) -> None:
    fmt = "%(asctime)s %(name)s %(message)s"
    if path is None:
        logging.basicConfig(level=logging.INFO, format=fmt)
        return
    # The Windows service's worker has no console: a file, kept small (3 x 1 MB).
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    logging.basicConfig(level=logging.INFO, format=fmt, handlers=[handler])


if __name__ == "__main__":
    sys.exit(main())
