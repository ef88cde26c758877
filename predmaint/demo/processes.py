"""The demo's services as real subprocesses on loopback, and their clean shutdown.

Each service runs in its own session (process group), so that stopping it reaches every process it
started (uvicorn workers, reloaders) and so that a Ctrl-C in the terminal reaches only the demo,
which then stops the services in order: SIGTERM to the group, then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import httpx


class ServiceError(Exception):
    """A service did not start, exited early or never became ready."""


class Interrupted(KeyboardInterrupt):
    """The demo received SIGTERM or SIGHUP; raised so that every ``finally`` runs."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceSpec:
    """How to start one service and how to tell it is ready."""

    name: str
    argv: list[str]
    host: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str = "/health/ready"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ManagedProcess:
    """One service subprocess: started in its own process group, output to a log file."""

    def __init__(self, spec: ServiceSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        env = {**os.environ, **self.spec.env, "PYTHONUNBUFFERED": "1"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self.spec.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout_s: float) -> float:
        """Poll the readiness endpoint until it answers 200; seconds it took.

        Raises :class:`ServiceError` with the log's tail when the process exits or time runs out.
        """
        start = time.monotonic()
        url = self.spec.base_url + self.spec.ready_path
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - start < timeout_s:
                if not self.running:
                    code = self._proc.returncode if self._proc else None
                    raise ServiceError(
                        f"{self.spec.name} exited with code {code} before it was ready; "
                        f"log {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    resp = client.get(url)
                    if resp.status_code == 200:
                        return time.monotonic() - start
                    last = f"{resp.status_code} {resp.text[:200]}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.2)
        raise ServiceError(
            f"{self.spec.name} was not ready at {url} after {timeout_s:.0f} s (last: {last}); "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout_s``; the exit code."""
        proc = self._proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=timeout_s)
            # anything the service left behind in its group goes too
            _signal_group(proc.pid, signal.SIGKILL)
            return proc.returncode
        finally:
            if self._log:
                self._log.close()
                self._log = None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ServiceGroup:
    """Starts services in order and stops them in reverse, whatever happens in between."""

    def __init__(self, log_dir: Path, *, stop_timeout_s: float) -> None:
        self.log_dir = log_dir
        self.stop_timeout_s = stop_timeout_s
        self.processes: list[ManagedProcess] = []

    def start(self, spec: ServiceSpec, ready_timeout_s: float) -> ManagedProcess:
        proc = ManagedProcess(spec, self.log_dir / f"{spec.name}.log")
        self.processes.append(proc)
        proc.start()
        proc.wait_ready(ready_timeout_s)
        return proc

    def start_all(self, specs: list[ServiceSpec], ready_timeout_s: float) -> list[ManagedProcess]:
        """Start every service at once, then wait until each is ready (their start-ups overlap)."""
        started = []
        for spec in specs:
            proc = ManagedProcess(spec, self.log_dir / f"{spec.name}.log")
            self.processes.append(proc)
            proc.start()
            started.append(proc)
        deadline = time.monotonic() + ready_timeout_s
        for proc in started:
            proc.wait_ready(max(1.0, deadline - time.monotonic()))
        return started

    def check_alive(self) -> None:
        for proc in self.processes:
            if not proc.running:
                raise ServiceError(
                    f"{proc.spec.name} stopped unexpectedly; log {proc.log_path}:\n{proc.log_tail()}"
                )

    def stop_all(self) -> None:
        # while stopping, a second Ctrl-C must not leave children behind
        with _signals_ignored():
            for proc in reversed(self.processes):
                proc.stop(self.stop_timeout_s)

    def __enter__(self) -> ServiceGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if not _is_main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Interrupted` (SIGINT already raises KeyboardInterrupt),
    so that ``finally`` blocks stop the services whichever way the demo is ended."""

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    sigs = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, _raise) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def child_pids(parent: int | None = None) -> list[int]:
    """Live processes whose parent is ``parent`` (default: this process); Linux ``/proc`` only."""
    parent = os.getpid() if parent is None else parent
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def stop_children(timeout_s: float) -> list[int]:
    """SIGTERM, then SIGKILL, whatever this process still has running (a pipeline step left by a
    retrain thread when the demo is interrupted); the pids it stopped."""
    pids = child_pids()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(p in child_pids() for p in pids):
        time.sleep(0.1)
    for pid in child_pids():
        if pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in pids:  # reap
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    return pids


def python_module_argv(module: str, *args: str) -> list[str]:
    """``python -m module args...`` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", module, *args]
