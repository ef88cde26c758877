"""Run code of a reproduced image with nothing but its file set and its virtualenv importable.

Processes get a clean environment (:meth:`Image.process_env`) and start in the image's
``WORKDIR`` inside the tree, as ``python -m ...`` would in the container; probes are passed as
``python -c`` source, so ``sys.path`` is the working directory plus the virtualenv, never the
repository or the project's ``.venv``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from predmaint.demo.processes import free_port
from tools.imagecheck.build import Image

RESULT_PREFIX = "IMAGECHECK-RESULT "
"""A probe prints ``IMAGECHECK-RESULT <json>``; :func:`run_probe` returns the JSON."""


class EntrypointFailed(Exception):
    """An entrypoint did not start or a probe failed; the message holds the process's stderr."""


def run_probe(
    image: Image,
    source: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> Any:
    """Run probe ``source`` in the image; its result, or :class:`EntrypointFailed` with its stderr."""
    done = subprocess.run(
        [str(image.python), "-c", source],
        cwd=cwd or image.host(image.workdir),
        env=image.process_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    # anywhere in a line of either stream: the inference server routes print() through its logger
    lines = (done.stdout + "\n" + done.stderr).splitlines()
    results = [line.split(RESULT_PREFIX, 1)[1] for line in lines if RESULT_PREFIX in line]
    if done.returncode != 0 or not results:
        raise EntrypointFailed(f"{image.label}: probe exited {done.returncode}:\n{done.stderr[-4000:]}")
    return json.loads(results[-1])


def loopback_cmd(cmd: tuple[str, ...], port: int) -> list[str]:
    """The image's CMD with ``--host``/``--port`` pointed at a free loopback port (the container
    binds 0.0.0.0 on its own network namespace; here that would be the machine's)."""
    out = list(cmd)
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port))):
        if flag not in out:
            raise EntrypointFailed(f"CMD {cmd} has no {flag}: cannot move it to loopback")
        out[out.index(flag) + 1] = value
    return out


@contextmanager
def serve(
    image: Image,
    *,
    env: dict[str, str] | None = None,
    health_path: str = "/health/live",
    timeout_s: float = 120,
) -> Iterator[str]:
    """Start the image's CMD on loopback, wait until ``health_path`` answers 200, yield its base URL.
    A process that exits first raises :class:`EntrypointFailed` with its stderr."""
    if image.cmd is None:
        raise EntrypointFailed(f"{image.label}: no CMD")
    port = free_port()
    argv = image.argv(loopback_cmd(image.cmd, port))
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as stderr:
        print(f"[imagecheck] {image.label}: CMD {' '.join(image.cmd)} (on port {port})", flush=True)
        process = subprocess.Popen(
            argv,
            cwd=image.host(image.workdir),
            env=image.process_env(env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )

        def output() -> str:
            stderr.seek(0)
            return stderr.read()[-4000:]

        try:
            deadline = time.monotonic() + timeout_s
            started = time.monotonic()
            while True:
                if process.poll() is not None:
                    raise EntrypointFailed(f"{image.label}: CMD exited {process.returncode}:\n{output()}")
                try:
                    if httpx.get(base + health_path, timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    message = f"{image.label}: {health_path} not 200 after {timeout_s} s"
                    raise EntrypointFailed(f"{message}:\n{output()}")
                time.sleep(0.2)
            took = time.monotonic() - started
            print(f"[imagecheck] {image.label}: {health_path} 200 after {took:.1f} s", flush=True)
            yield base
        except BaseException as exc:
            if isinstance(exc, AssertionError):
                exc.args = (f"{exc.args[0] if exc.args else ''}\n--- {image.label} stderr ---\n{output()}",)
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
