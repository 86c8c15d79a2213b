"""The Windows service: command planning, carrying out, and the supervisor loop
(host_agent.platform.windows.service), through a fake service manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from host_agent.platform.windows import win32
from host_agent.platform.windows.errors import ServiceCommandError
from host_agent.platform.windows.service import (
    RESTART_DELAYS_MS,
    SAS_POLICY_KEY,
    SERVICE_NAME,
    Step,
    Supervisor,
    carry_out,
    main,
    plan_install,
    plan_start,
    plan_stop,
    plan_uninstall,
    program,
    service_command_line,
    worker_command_line,
)
from tests.host_agent.windows.fakes import FakeHost, FakeServiceApi

pytestmark = pytest.mark.unit

EXE = r"C:\Program Files\Mamori\mamori-agent.exe"
STATE = r"C:\ProgramData\Mamori\agent"
RUNNING, STOPPED = win32.SERVICE_RUNNING, win32.SERVICE_STOPPED
SESSION_CHANGE = win32.SERVICE_CONTROL_SESSIONCHANGE


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_command_lines_are_quoted_for_create_process() -> None:
    """Paths with spaces are quoted; a Python install runs ``-m host_agent``."""
    start = program(True, EXE)
    assert service_command_line(start, STATE) == (
        rf'"{EXE}" service run --state-dir {STATE} --log-file {STATE}\service.log'
    )
    assert worker_command_line(start, STATE, r"Global\MamoriAgentStop-1-1") == (
        rf'"{EXE}" --state-dir {STATE} --stop-event Global\MamoriAgentStop-1-1 '
        rf"--log-file {STATE}\agent.log"
    )
    assert program(False, r"C:\Python311\python.exe") == [
        r"C:\Python311\python.exe", "-m", "host_agent",
    ]  # fmt: skip


def test_fresh_install_plan() -> None:
    """A fresh install closes the state directory, allows SendSAS, creates the service,
    asks for restarts after crashes and starts it."""
    assert plan_install(None, True, True, "CMD", STATE) == [
        Step("restrict", STATE), Step("sas_policy"), Step("create", "CMD"), Step("recovery"),
        Step("start"),
    ]  # fmt: skip


def test_reinstall_over_a_running_service() -> None:
    """Installing again (an update) stops the service and points it at the new program."""
    assert plan_install(RUNNING, True, True, "CMD", STATE) == [
        Step("restrict", STATE), Step("sas_policy"), Step("stop"), Step("update", "CMD"),
        Step("recovery"), Step("start"),
    ]  # fmt: skip


def test_install_needs_an_administrator_and_an_enrollment() -> None:
    """Without administrator rights, or before enrollment, nothing is done and the clinic
    is told in Japanese what to do."""
    with pytest.raises(ServiceCommandError, match="管理者として実行"):
        plan_install(None, False, True, "CMD", STATE)
    with pytest.raises(ServiceCommandError, match="enroll"):
        plan_install(None, True, False, "CMD", STATE)


def test_uninstall_start_stop_plans() -> None:
    """Each command does only what the state needs; a missing service is an error for
    start and stop, and nothing to do for uninstall."""
    assert plan_uninstall(None, True) == []
    assert plan_uninstall(RUNNING, True) == [Step("stop"), Step("delete")]
    assert plan_uninstall(STOPPED, True) == [Step("delete")]
    assert plan_start(STOPPED, True) == [Step("start")]
    assert plan_start(RUNNING, True) == []
    assert plan_stop(RUNNING, True) == [Step("stop")]
    assert plan_stop(STOPPED, True) == []
    with pytest.raises(ServiceCommandError, match="インストールされていません"):
        plan_start(None, True)
    with pytest.raises(ServiceCommandError):
        plan_uninstall(RUNNING, False)


def test_carry_out_calls_the_service_manager(tmp_path: Path) -> None:
    """The steps become these calls, the SAS policy the documented value."""
    api = FakeServiceApi()
    state = str(tmp_path / "agent")
    carry_out(plan_install(None, True, True, "CMD", state), api)
    assert api.calls == [
        ("restrict", state),
        ("policy", SAS_POLICY_KEY, "SoftwareSASGeneration", 1),
        ("create", SERVICE_NAME, "CMD"),
        ("recovery", SERVICE_NAME, RESTART_DELAYS_MS),
        ("start", SERVICE_NAME),
    ]
    assert Path(state).is_dir()
    api.calls.clear()
    carry_out(plan_uninstall(api.state, True), api)
    assert api.calls == [("stop", SERVICE_NAME), ("delete", SERVICE_NAME)]


def test_command_refuses_an_unenrolled_pc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``service install`` before ``enroll`` changes nothing; ``status`` reports."""
    api = FakeServiceApi()
    with pytest.raises(ServiceCommandError, match="enroll"):
        main(["install", "--state-dir", str(tmp_path)], api)
    assert api.calls == []
    assert main(["status"], api) == 0
    assert "not installed" in capsys.readouterr().out


def test_no_service_off_windows() -> None:
    """Elsewhere the command says so instead of failing oddly."""
    with pytest.raises(ServiceCommandError, match="Windows only"):
        main(["status"])


def run_supervisor(
    api: FakeServiceApi, script: list[object], console: list[int] | None = None
) -> tuple[Supervisor, FakeHost]:
    clock = Clock()
    consoles = console or [1]
    supervisor = Supervisor(
        api,
        lambda: consoles[0],
        lambda event: worker_command_line(program(True, EXE), STATE, event),
        clock=clock,
    )
    host = FakeHost(clock, script)
    supervisor.run(host)
    return supervisor, host


def test_worker_runs_in_the_console_session_until_stop() -> None:
    """The worker starts in the console session with a stop event; the service's stop
    signals it and the worker ends on its own."""
    api = FakeServiceApi()
    _, host = run_supervisor(api, [None, None])
    assert host.statuses == [RUNNING, win32.SERVICE_STOP_PENDING]
    (worker,) = api.processes
    assert worker.session == 1
    assert r"--stop-event Global\MamoriAgentStop-1-1" in worker.command_line
    assert api.signalled == {r"Global\MamoriAgentStop-1-1"}
    assert worker.status == 0
    assert not worker.terminated


def test_fast_user_switching_through_the_service() -> None:
    """Session-change controls move the worker: stopped in 1, started in 2."""
    api = FakeServiceApi()
    supervisor, _ = run_supervisor(
        api,
        [(SESSION_CHANGE, win32.WTS_CONSOLE_DISCONNECT, 1),
         (SESSION_CHANGE, win32.WTS_CONSOLE_CONNECT, 2),
         (SESSION_CHANGE, win32.WTS_SESSION_LOGON, 2)],
    )  # fmt: skip
    assert supervisor.launches == [1, 2]
    first, second = api.processes
    assert first.status == 0
    assert second.session == 2


def test_a_crashed_worker_is_restarted_after_a_delay() -> None:
    """The worker dies: after the first backoff (1 s) it runs again in the same session."""
    api = FakeServiceApi()

    def crash() -> None:
        api.processes[0].status = 3

    supervisor, _ = run_supervisor(api, [crash, None, None, None, None])
    assert supervisor.launches == [1, 1]


def test_a_stubborn_worker_is_ended() -> None:
    """A worker that does not stop when asked is terminated."""
    api = FakeServiceApi()

    def stubborn() -> None:
        api.processes[0].stubborn = True

    run_supervisor(api, [stubborn])
    assert api.processes[0].terminated


def test_console_moved_without_a_notification() -> None:
    """The periodic question about the console finds a move nobody was told about."""
    api = FakeServiceApi()
    consoles = [1]

    def switch() -> None:
        consoles[0] = 2

    supervisor, _ = run_supervisor(api, [switch, *[None] * 6], consoles)
    assert supervisor.launches == [1, 2]


def test_launch_failure_is_retried_later() -> None:
    """CreateProcessAsUser failing counts as a crash: tried again after the backoff."""
    api = FakeServiceApi()
    api.launch_error = 5

    def fix() -> None:
        api.launch_error = None

    supervisor, _ = run_supervisor(api, [fix, None, None, None])
    assert supervisor.launches == [1]


def test_the_service_command_line_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the service manager will run is a command line this very parser accepts."""
    api = FakeServiceApi(state=RUNNING)
    line = service_command_line(["mamori-agent.exe"], str(tmp_path))
    args = line.split()[1:]
    assert args[:2] == ["service", "run"]
    assert main(["status", *args[2:]], api) == 0
    assert "running" in capsys.readouterr().out
