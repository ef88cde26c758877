"""The API key of a service (``SCORING_API_KEY``, ``DRIFT_API_KEY``): one mechanism for both.

A request carries the key in ``x-api-key`` or ``Authorization: Bearer <key>``; it is compared in
constant time (``hmac.compare_digest``). A caller is *trusted* (sees dependency reasons in readiness)
when it presents the key, or when the service runs without one (then every caller can already use
every route, so hiding reasons from them protects nothing).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable


class ApiKey:
    def __init__(self, key: str | None) -> None:
        self._key = key.encode() if key else None

    @property
    def configured(self) -> bool:
        return self._key is not None

    def accepts(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """True when no key is configured or these (ASGI, lower-case) headers carry it."""
        if self._key is None:
            return True
        given = presented_key(headers)
        return bool(given) and hmac.compare_digest(given, self._key)


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The key a request presents (``x-api-key`` first, else a bearer token), or ``b""``."""
    bearer = b""
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].strip()
    return bearer
