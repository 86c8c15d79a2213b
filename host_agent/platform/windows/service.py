"""The Windows service: ``mamori-agent service install|uninstall|start|stop|status|run``.

Why a service. The agent must start with the PC, before anyone signs in, and it must see
and drive the lock screen and UAC prompts, which live on the secure (``Winlogon``) desktop
that only LocalSystem may open. A LocalSystem service cannot do this itself: it runs in
session 0, which has no display. So the service is a supervisor: it starts the agent (the
*worker*, the ordinary ``mamori-agent`` run command) as LocalSystem *in the session
attached to the console* (its own token, with that session id set, on ``winsta0\\default``
— as RustDesk, TightVNC and Chrome Remote Desktop do), follows the console when it moves
(``desktop.SessionTracker``: fast user switching, logoff, Remote Desktop) and restarts the
worker with backoff when it dies. A viewer's session ends when the worker moves, and the
viewer connects again to the same PC.

``install`` (as an administrator) also:

- closes the state directory (``%ProgramData%\\Mamori\\agent``: the private key) to
  everyone but LocalSystem and Administrators — ProgramData lets every user read by default;
- sets the ``SoftwareSASGeneration`` policy to 1, so that the service may send
  Ctrl+Alt+Del (SendSAS) for a viewer;
- asks the service manager to restart the service after a crash.

The worker is asked to stop through a named event (``--stop-event``), so that it can
release held keys and say goodbye to the broker; after ``STOP_WAIT_S`` it is terminated.

Pure: the ``plan_*`` functions decide, from what is installed and who is asking, which steps
to take; ``carry_out`` performs them through the thin module's ``ServiceApi``; the
``Supervisor`` loop runs on a ``ServiceHost``. The tests drive all three with fakes; what
they cannot prove (that the service manager, CreateProcessAsUser and the session
notifications behave as documented) is on the README's check-list.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path, PureWindowsPath
from typing import Final

from host_agent.errors import AgentConfigError
from host_agent.platform.windows.desktop import (
    LaunchWorker,
    SessionAction,
    SessionTracker,
    StopWorker,
)
from host_agent.platform.windows.errors import ServiceCommandError, Win32Error
from host_agent.platform.windows.win32 import (
    SERVICE_CONTROL_SESSIONCHANGE,
    SERVICE_CONTROL_SHUTDOWN,
    SERVICE_CONTROL_STOP,
    SERVICE_RUNNING,
    SERVICE_STOP_PENDING,
    SERVICE_STOPPED,
    ServiceApi,
    ServiceHost,
    WorkerProcess,
)

log = logging.getLogger(__name__)

SERVICE_NAME: Final = "MamoriAgent"
DISPLAY_NAME: Final = "Mamori Agent (遠隔アクセス)"
DESCRIPTION: Final = (
    "Mamori: この PC の画面を、許可された医師・職員のブラウザへ暗号化して送ります。"
    " / Streams this PC's screen to approved viewers, encrypted."
)
SAS_POLICY_KEY: Final = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System"
SAS_POLICY_VALUE: Final = "SoftwareSASGeneration"
SAS_BY_SERVICES: Final = 1  # 1: services may call SendSAS (2: Ease of Access apps, 3: both)
RESTART_DELAYS_MS: Final = (5_000, 30_000, 60_000)
CONSOLE_POLL_S: Final = 2.0
CONTROL_WAIT_S: Final = 0.5
STOP_WAIT_S: Final = 10.0


# -- the steps and the plans ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing ``carry_out`` does: ``action`` names a ``ServiceApi`` call."""

    action: str  # create, update, recovery, sas_policy, restrict, start, stop, delete
    argument: str = ""


def program(frozen: bool, executable: str) -> list[str]:
    """How to start this agent again: the .exe itself, or Python with ``-m host_agent``."""
    return [executable] if frozen else [executable, "-m", "host_agent"]


def service_command_line(start: list[str], state_dir: str) -> str:
    """What the service manager runs (quoted for CreateProcess); it logs beside the worker."""
    log_file = str(PureWindowsPath(state_dir) / "service.log")
    return subprocess.list2cmdline(
        [*start, "service", "run", "--state-dir", state_dir, "--log-file", log_file]
    )


def worker_command_line(start: list[str], state_dir: str, stop_event: str) -> str:
    """What the service runs in the console session: the agent itself, logging to a file."""
    log_file = str(PureWindowsPath(state_dir) / "agent.log")
    return subprocess.list2cmdline(
        [*start, "--state-dir", state_dir, "--stop-event", stop_event, "--log-file", log_file]
    )


def plan_install(
    state: int | None, admin: bool, enrolled: bool, command_line: str, state_dir: str
) -> list[Step]:
    """Steps to install (or re-install over) the service and start it.

    Raises:
        ServiceCommandError: not an administrator, or this PC is not enrolled yet.
    """
    _need_admin(admin)
    if not enrolled:
        raise ServiceCommandError(
            "この PC はまだ登録されていません。先に mamori-agent enroll を実行してください"
            " (not enrolled: run mamori-agent enroll first)"
        )
    steps = [Step("restrict", state_dir), Step("sas_policy")]
    if state is None:
        steps.append(Step("create", command_line))
    else:
        if state != SERVICE_STOPPED:
            steps.append(Step("stop"))
        steps.append(Step("update", command_line))
    return [*steps, Step("recovery"), Step("start")]


def plan_uninstall(state: int | None, admin: bool) -> list[Step]:
    """Steps to stop and remove the service (the state directory stays: it holds the
    enrollment; the guide says how to delete it)."""
    _need_admin(admin)
    if state is None:
        return []
    return ([] if state == SERVICE_STOPPED else [Step("stop")]) + [Step("delete")]


def plan_start(state: int | None, admin: bool) -> list[Step]:
    _need_admin(admin)
    _need_installed(state)
    return [] if state == SERVICE_RUNNING else [Step("start")]


def plan_stop(state: int | None, admin: bool) -> list[Step]:
    _need_admin(admin)
    _need_installed(state)
    return [] if state == SERVICE_STOPPED else [Step("stop")]


def _need_admin(admin: bool) -> None:
    if not admin:
        raise ServiceCommandError(
            "管理者として実行してください（右クリック →「管理者として実行」）"
            " (run as administrator)"
        )


def _need_installed(state: int | None) -> None:
    if state is None:
        raise ServiceCommandError(
            "サービスがインストールされていません (the service is not installed)"
        )


def carry_out(steps: Sequence[Step], api: ServiceApi, stop_wait_s: float = STOP_WAIT_S) -> None:
    """Perform the steps in order.

    Raises:
        Win32Error: a call failed; the steps before it stay done.
    """
    for step in steps:
        if step.action == "create":
            api.create_service(SERVICE_NAME, DISPLAY_NAME, step.argument, DESCRIPTION)
        elif step.action == "update":
            api.update_service(SERVICE_NAME, step.argument)
        elif step.action == "recovery":
            api.set_recovery(SERVICE_NAME, RESTART_DELAYS_MS)
        elif step.action == "sas_policy":
            api.set_policy(SAS_POLICY_KEY, SAS_POLICY_VALUE, SAS_BY_SERVICES)
        elif step.action == "restrict":
            Path(step.argument).mkdir(parents=True, exist_ok=True)
            api.restrict_directory(step.argument)
        elif step.action == "start":
            api.start_service(SERVICE_NAME)
        elif step.action == "stop":
            api.stop_service(SERVICE_NAME)
            deadline = time.monotonic() + stop_wait_s
            while api.service_state(SERVICE_NAME) != SERVICE_STOPPED:
                if time.monotonic() > deadline:
                    raise ServiceCommandError("the service did not stop in time")
                time.sleep(0.2)
        elif step.action == "delete":
            api.delete_service(SERVICE_NAME)
        else:
            raise ValueError(f"unknown step {step.action}")


# -- the supervisor ---------------------------------------------------------------------------


@dataclass
class _Worker:
    process: WorkerProcess
    stop_event: str


class Supervisor:
    """The service's loop: one worker, in the console session (see the module)."""

    def __init__(
        self,
        api: ServiceApi,
        console: Callable[[], int],
        command_line: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            api: the thin module's service calls.
            console: WTSGetActiveConsoleSessionId.
            command_line: the worker's command line for a stop-event name.
            clock: monotonic seconds (the tests move it).
        """
        self._api = api
        self._console = console
        self._command_line = command_line
        self._clock = clock
        self.tracker = SessionTracker(clock)
        self._workers: dict[int, _Worker] = {}
        self._serial = count(1)
        self.launches: list[int] = []

    def run(self, host: ServiceHost) -> None:
        """Serve until the service manager says stop (or the system shuts down)."""
        host.set_status(SERVICE_RUNNING)
        self._apply(self.tracker.start(self._console()))
        next_console = self._clock() + CONSOLE_POLL_S
        while True:
            control = host.next_control(CONTROL_WAIT_S)
            if control is not None:
                code, event, session = control
                if code in (SERVICE_CONTROL_STOP, SERVICE_CONTROL_SHUTDOWN):
                    host.set_status(SERVICE_STOP_PENDING)
                    self._apply(self.tracker.stop())
                    return
                if code == SERVICE_CONTROL_SESSIONCHANGE:
                    log.info("session change %d in session %d", event, session)
                    self._apply(self.tracker.session_change(event, session))
            self._reap()
            if self._clock() >= next_console:
                # Notifications can be missed: ask which session has the console now.
                next_console = self._clock() + CONSOLE_POLL_S
                self._apply(self.tracker.console_is(self._console()))
            self._apply(self.tracker.tick())

    def _apply(self, actions: list[SessionAction]) -> None:
        for action in actions:
            if isinstance(action, StopWorker):
                self._stop(action)
            elif isinstance(action, LaunchWorker):
                self._launch(action.session_id)

    def _launch(self, session: int) -> None:
        event = f"Global\\MamoriAgentStop-{session}-{next(self._serial)}"
        try:
            self._api.create_event(event)
            process = self._api.launch_in_session(session, self._command_line(event))
        except Win32Error as exc:
            log.error("cannot start the agent in session %d: %s", session, exc)
            self._apply(self.tracker.worker_exited(session, -1))
            return
        log.info("agent started in session %d (pid %d)", session, process.pid)
        self._workers[session] = _Worker(process, event)
        self.launches.append(session)

    def _stop(self, action: StopWorker) -> None:
        worker = self._workers.pop(action.session_id, None)
        if worker is None:
            return
        log.info("stopping the agent in session %d: %s", action.session_id, action.reason)
        try:
            self._api.signal_event(worker.stop_event)
        except Win32Error:
            log.warning("stop event not signalled", exc_info=True)
        status = worker.process.wait(STOP_WAIT_S)
        if status is None:
            log.warning("the agent in session %d did not stop: ending it", action.session_id)
            worker.process.terminate()
            status = worker.process.wait(STOP_WAIT_S)
        self._apply(self.tracker.worker_exited(action.session_id, -1 if status is None else status))

    def _reap(self) -> None:
        for session, worker in list(self._workers.items()):
            status = worker.process.wait(0)
            if status is not None:
                del self._workers[session]
                log.warning("the agent in session %d ended with status %d", session, status)
                self._apply(self.tracker.worker_exited(session, status))


# -- the command ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mamori-agent service", description="The Windows service of the Mamori agent."
    )
    parser.add_argument(
        "command", choices=("install", "uninstall", "start", "stop", "status", "run")
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="default: %%ProgramData%%\\Mamori\\agent"
    )
    # Read by __main__ before parsing (logging starts first); accepted here so it parses.
    parser.add_argument("--log-file", type=Path, help="log here instead of stderr")
    return parser


def main(argv: list[str], api: ServiceApi | None = None) -> int:
    """``mamori-agent service ...``; returns the exit status.

    Raises:
        AgentConfigError: not Windows, not allowed, not enrolled (the caller prints it).
    """
    from host_agent.trust.credentials import AgentState, default_state_dir

    args = _parser().parse_args(argv)
    if api is None:
        if sys.platform != "win32":
            raise ServiceCommandError("the service exists on Windows only")
        from host_agent.platform.windows.win32 import service_api

        api = service_api()
    state_dir = str(args.state_dir or default_state_dir())
    start = program(bool(getattr(sys, "frozen", False)), sys.executable)
    try:
        state = api.service_state(SERVICE_NAME)
        if args.command == "status":
            names = {None: "not installed", SERVICE_STOPPED: "stopped", SERVICE_RUNNING: "running"}
            print(f"{SERVICE_NAME}: {names.get(state, f'state {state}')}")
            return 0
        if args.command == "run":
            supervisor = Supervisor(
                api,
                _console_session,
                lambda event: worker_command_line(start, state_dir, event),
            )
            api.run_service(SERVICE_NAME, supervisor.run)
            return 0
        admin = api.is_admin()
        if args.command == "install":
            try:
                AgentState(Path(state_dir)).enrollment()
                enrolled = True
            except AgentConfigError:
                enrolled = False
            steps = plan_install(
                state, admin, enrolled, service_command_line(start, state_dir), state_dir
            )
        elif args.command == "uninstall":
            steps = plan_uninstall(state, admin)
        elif args.command == "start":
            steps = plan_start(state, admin)
        else:
            steps = plan_stop(state, admin)
        carry_out(steps, api)
    except Win32Error as exc:
        raise ServiceCommandError(f"{args.command}: {exc}") from exc
    print(f"{SERVICE_NAME}: {args.command} done ({len(steps)} step(s))")
    return 0


def _console_session() -> int:
    from host_agent.platform.windows.win32 import desktop_api

    return desktop_api().active_console_session()
