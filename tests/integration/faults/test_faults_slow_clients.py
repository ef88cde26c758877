"""Slow clients (slow-loris) against the real facade as its image runs it (``python -m scoring``:
``service.http_server``), with short read deadlines: connections that dribble their headers get a
408 and are closed once the header deadline passes, one that dribbles its body is closed at the
body deadline, and meanwhile a normal client is served and the health port answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from bench.fault_rig import Facade, dribble
from core.bundle import Bundle

pytestmark = pytest.mark.integration

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 2.0
SLOW_CLIENTS = 50
DRIBBLE_EVERY_S = 0.2
SLACK_S = 1.5
"""Time past a deadline within which the cut must happen (timer, scheduling on a busy machine)."""


@pytest.fixture(scope="module")
def facade(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Facade]:
    root = tmp_path_factory.mktemp("faults-slow")
    env = {
        "PREDMAINT_DATA_DIR": str(root / "predmaint"),
        "SCORING_MODEL_PATH": str(bundle.directory),
        "SCORING_ONLINE_STORE": "none",
        "SCORING_INFERENCE_LOG_DIR": str(root / "log"),
        "SCORING_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "SCORING_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    }
    with Facade(env, root / "facade.log") as running:
        yield running


async def _normal_client(base: str, row: dict[str, float], seconds: float) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            statuses.append((await client.post("/predict", json={"features": row})).status_code)
            await asyncio.sleep(0.05)
    return statuses


def test_slow_headers_are_cut_at_the_deadline_while_others_are_served(
    facade: Facade, row: dict[str, float]
) -> None:
    head = b"POST /predict HTTP/1.1\r\nhost: x\r\n"
    slow_headers = b"x-slow: " + b"a" * 200  # never ends its headers

    async def run() -> tuple[list[tuple[float, bytes]], list[int], int]:
        slow = [
            dribble(facade.port, head, slow_headers, HEADER_TIMEOUT_S + 10, DRIBBLE_EVERY_S)
            for _ in range(SLOW_CLIENTS)
        ]
        results = await asyncio.gather(
            asyncio.gather(*slow), _normal_client(facade.base, row, HEADER_TIMEOUT_S + 1)
        )
        async with httpx.AsyncClient() as client:
            live = (await client.get(f"{facade.health_base}/health/live")).status_code
        return results[0], results[1], live

    cut, served, live = asyncio.run(run())
    assert served and set(served) == {200}
    assert live == 200
    for took, received in cut:
        assert took < HEADER_TIMEOUT_S + SLACK_S, f"a slow client held its connection {took:.2f} s"
        assert received.startswith(b"HTTP/1.1 408"), received[:200]
        body = orjson.loads(received.split(b"\r\n\r\n", 1)[1])
        assert body["error"] == "request_timeout" and body["detail"]["phase"] == "headers"


def test_a_slow_body_is_cut_at_the_body_deadline(facade: Facade) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n"
    )
    took, received = asyncio.run(dribble(facade.port, head, b" " * 400, BODY_TIMEOUT_S + 10, DRIBBLE_EVERY_S))
    assert BODY_TIMEOUT_S - 0.1 < took < BODY_TIMEOUT_S + SLACK_S, took
    assert b" 500 " not in received  # the route saw a disconnect, not a crash
    ok = httpx.get(f"{facade.base}/health/ready", timeout=5)
    assert ok.status_code == 200


def test_the_health_port_answers_both_probes_from_its_own_thread(facade: Facade) -> None:
    live = httpx.get(f"{facade.health_base}/health/live", timeout=5)
    ready = httpx.get(f"{facade.health_base}/health/ready", timeout=5)
    assert live.status_code == 200 and live.json()["status"] == "live"
    assert ready.status_code == 200 and ready.json()["status"] in ("ready", "degraded")
    assert ready.json()["checks"]["model"]["ok"] is True
    assert httpx.post(f"{facade.health_base}/predict", timeout=5).status_code in (404, 501)
