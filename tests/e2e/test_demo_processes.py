"""The demo's process management: services run in their own process group and are stopped when the
demo is interrupted (Ctrl-C or SIGTERM), so a second run finds its ports free.

A small driver script plays the demo's part with a real service subprocess (``python -m
http.server``) so that these checks take seconds, not a whole demo run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from predmaint.demo.processes import ManagedProcess, ServiceError, ServiceSpec, free_port
from tests.waiting import wait_until

DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from predmaint.demo.processes import (
        ServiceGroup, ServiceSpec, interrupt_on_termination, python_module_argv,
    )

    port, log_dir = int(sys.argv[1]), Path(sys.argv[2])
    services = ServiceGroup(log_dir, stop_timeout_s=5)
    try:
        with interrupt_on_termination():
            try:
                spec = ServiceSpec("web", python_module_argv("http.server", str(port), "--bind", "127.0.0.1"),
                                   "127.0.0.1", port, ready_path="/")
                proc = services.start(spec, ready_timeout_s=30)
                print(proc.pid, flush=True)
                while True:
                    time.sleep(0.1)
            finally:
                services.stop_all()
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_the_demo_stops_its_services(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(port), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as driver:
        _interrupt_and_check(driver, port, tmp_path, sig)


def _interrupt_and_check(
    driver: subprocess.Popen[str], port: int, tmp_path: Path, sig: signal.Signals
) -> None:
    try:
        assert driver.stdout is not None
        line = driver.stdout.readline()
        assert line.strip().isdigit(), f"driver printed {line!r}"
        service_pid = int(line)
        assert _alive(service_pid)
        driver.send_signal(sig)
        assert driver.wait(timeout=30) == 130
        wait_until(lambda: not _alive(service_pid), 5, "the service outlived the interrupted demo")
        # the port is free again: a second run can bind it
        rerun = ManagedProcess(
            ServiceSpec(
                "web",
                [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                "127.0.0.1",
                port,
                ready_path="/",
            ),
            tmp_path / "rerun.log",
        )
        rerun.start()
        try:
            rerun.wait_ready(30)
        finally:
            rerun.stop(5)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_a_service_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    proc = ManagedProcess(
        ServiceSpec(
            "broken",
            [sys.executable, "-c", "import sys; print('no model'); sys.exit(3)"],
            "127.0.0.1",
            free_port(),
        ),
        tmp_path / "broken.log",
    )
    proc.start()
    with pytest.raises(ServiceError, match=r"broken exited with code 3[\s\S]*no model"):
        proc.wait_ready(30)
    proc.stop(5)
    assert os.path.exists(tmp_path / "broken.log")
