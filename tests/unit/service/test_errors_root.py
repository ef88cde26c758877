"""The one error root: every domain error renders the one body with its own status and code, the
shared faults keep one code everywhere, duplicate JSON keys are named, and readiness hides reasons
from untrusted callers."""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time

import pytest

from core.errors import (
    BodyTooLarge,
    InvalidInput,
    PredMaintError,
    ServiceUnavailable,
    UnsupportedMediaType,
    error_body,
)
from service.health import BackgroundProbe, Check, readiness_status, report
from service.json_body import check_duplicate_keys

PACKAGES = ("core", "features", "aml", "scoring", "drift", "functions", "service")


def all_domain_errors() -> list[type[PredMaintError]]:
    """Every subclass of the root in the packages (imported so that each class is defined)."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if info.name.endswith(("function_app", "score", "__main__")):
                continue  # need the Functions host / the AzureML server on import: errors live elsewhere
            importlib.import_module(info.name)
    found: list[type[PredMaintError]] = []
    todo: list[type[PredMaintError]] = [PredMaintError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_domain_error_spells_its_own_code_and_a_valid_status() -> None:
    errors = all_domain_errors()
    assert len(errors) > 20  # the families of core, features, scoring, drift, functions and aml
    for cls in errors:
        assert "code" in vars(cls), f"{cls.__qualname__} inherits its code: spell it on the class"
        assert cls.code.isidentifier() and cls.code == cls.code.lower(), cls
        assert 400 <= cls.status <= 599, cls


def test_one_code_means_one_status_everywhere() -> None:
    status_of: dict[str, set[int]] = {}
    for cls in all_domain_errors():
        status_of.setdefault(cls.code, set()).add(cls.status)
    assert {code: s for code, s in status_of.items() if len(s) > 1} == {}
    assert status_of["invalid_input"] == {422}


def test_the_body_always_has_error_message_and_detail() -> None:
    assert PredMaintError("boom").body() == {"error": "internal_error", "message": "boom", "detail": None}
    too_large = BodyTooLarge(1024).body()
    assert too_large == {
        "error": "body_too_large",
        "message": "request body exceeds 1024 bytes",
        "detail": {"max_bytes": 1024},
    }
    assert set(error_body("x", "y")) == {"error", "message", "detail"}
    assert UnsupportedMediaType("text/plain").body()["detail"]["content_type"] == "text/plain"
    assert ServiceUnavailable("later", retry_after_s=7).headers == {"Retry-After": "7"}


def test_invalid_input_names_the_first_field_and_lists_all() -> None:
    error = InvalidInput.one("current.0.a", "finite_number", "must be finite")
    assert error.status == 422 and error.message == "current.0.a: must be finite (finite_number)"
    assert error.body()["detail"] == [
        {"field": "current.0.a", "rule": "finite_number", "message": "must be finite"}
    ]


def test_the_merged_errors_are_one_class_each() -> None:
    from features.errors import InvalidReadings, OnlineStoreUnavailable
    from functions.errors import BackendUnavailable, MalformedSignal

    store = OnlineStoreUnavailable("online store unreachable", {"store": "redis"}, hint="start redis")
    assert (store.status, store.code, store.headers["Retry-After"]) == (503, "online_store_unavailable", "5")
    assert store.detail == {"store": "redis", "hint": "start redis"}
    assert isinstance(store, ServiceUnavailable)
    assert MalformedSignal("alerts", "required non-empty list").body()["error"] == "invalid_input"
    assert BackendUnavailable("workspace down").status == 503
    assert issubclass(InvalidReadings, PredMaintError) and InvalidReadings.code == "invalid_input"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"a": 1, "a": 2}', "a"),
        (b'{"rows": [{"x": 1}, {"x": 1, "y": 2, "x": 3}]}', "rows.1.x"),
        (b'{"current": [], "reference": [{"v": 1}], "current": null}', "current"),
    ],
)
def test_duplicate_keys_are_422_naming_the_path(body: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_duplicate_keys(body)
    assert info.value.errors[0].field == field and info.value.errors[0].rule == "duplicate_key"


@pytest.mark.parametrize("body", [b'{"a": 1, "b": {"a": 2}}', b"[1, 2]", b"{not json", b"\xff\xfe"])
def test_bodies_without_duplicates_pass_the_check(body: bytes) -> None:
    check_duplicate_keys(body)  # malformed JSON is left to the validator, which names it


def test_readiness_hides_reasons_and_private_facts_from_untrusted_callers() -> None:
    checks = [
        Check("model", ok=True, state="ok", info={"version": "3"}),
        Check(
            "online_store",
            ok=False,
            state="unreachable",
            required=False,
            reason="ConnectionError: redis.internal:6380 refused",
            private={"url": "redis.internal:6380"},
        ),
    ]
    assert readiness_status(checks) == "degraded"
    shown = report("scoring", "degraded", checks, trusted=False)
    assert "redis.internal" not in str(shown)
    assert shown["checks"]["online_store"] == {
        "ok": False,
        "required": False,
        "state": "unreachable",
        "reason": None,
    }
    trusted = report("scoring", "degraded", checks, trusted=True)["checks"]["online_store"]
    assert "refused" in trusted["reason"] and trusted["url"] == "redis.internal:6380"
    assert readiness_status([Check("model", ok=False, state="no_champion")]) == "not_ready"


def test_background_probe_answers_at_once_while_the_probe_hangs() -> None:
    release = threading.Event()

    def hung_probe() -> tuple[bool, str | None]:
        release.wait(10)
        return True, None

    probe = BackgroundProbe(hung_probe, interval_s=0.0, name="test")
    started = time.perf_counter()
    answers = [probe.result() for _ in range(100)]
    elapsed = time.perf_counter() - started
    release.set()
    assert answers[0] == (None, "not probed yet") and elapsed < 1.0
    deadline = time.monotonic() + 5
    while probe.result()[0] is not True:
        assert time.monotonic() < deadline, "the probe's result never arrived"
        time.sleep(0.01)
