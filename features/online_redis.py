"""Writes windows into Feast's Redis online store directly, in Feast's own format, in bulk.

Feast's path (``provider.ingest_df``) turns the frame into Arrow, then into one protobuf
``ValueProto`` per cell and one ``EntityKeyProto`` per row, and only then calls the Redis store's
``online_write_batch``; for a batch of 5,000 machines that conversion was most of an ingest
worker's time. This writer produces the same hash, byte for byte (a test compares it with Feast's
own write, and Feast's online read returns it): the key is Feast's ``_redis_key`` of the entity
(cached per machine), the field names are Feast's ``_mmh3("<view>:<feature>")``, the values are
serialised ``ValueProto``s encoded here column by column (a missing value is an empty proto, as
Feast writes it), and ``_ts:<view>`` holds the event time as a protobuf ``Timestamp``.

It keeps Feast's rule that a write whose event time is not newer than the stored one is skipped
(one script a write: it reads each row's stored time and writes the row only if it is newer), and
Feast's ``key_ttl_seconds``. It uses the connection pool of the client Feast itself built for the store, so
the connection settings and timeouts (:func:`features.store.open_store`) are the same; a failed
call is not retried (the caller decides, as with ``_no_redis_retries``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, NS_PER_S

if TYPE_CHECKING:
    from feast import FeatureStore

# ValueProto fields (feast/protos/feast/types/Value.proto) as protobuf tags: number << 3 | wire type
_INT64_TAG: Final = b"\x20"  # int64_val = 4, varint
_DOUBLE_TAG: Final = 0x29  # double_val = 5, 64-bit
_BOOL_VALUES: Final = (b"\x38\x00", b"\x38\x01")  # bool_val = 7, varint 0 / 1

_WRITE_NEWER: Final = b"""
local width, ttl, ts_field = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local written = 0
for i = 1, #KEYS do
  local first = 4 + (i - 1) * (width + 2)
  local seconds, nanos = tonumber(ARGV[first]), tonumber(ARGV[first + 1])
  local stored, s, n = redis.call('HGET', KEYS[i], ts_field), 0, 0
  if stored then
    local pos = 1
    while pos <= #stored do
      local tag, value, scale, byte = string.byte(stored, pos), 0, 1, 128
      while byte >= 128 do
        pos = pos + 1
        byte = string.byte(stored, pos)
        value = value + (byte % 128) * scale
        scale = scale * 128
      end
      pos = pos + 1
      if tag == 8 then s = value elseif tag == 16 then n = value end
    end
  end
  if seconds > s or (seconds == s and nanos > n) then
    redis.call('HSET', KEYS[i], unpack(ARGV, first + 2, first + 1 + width))
    if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
    written = written + 1
  end
end
return written
"""
"""Per key: its stored event time (``_ts:<view>``, a protobuf ``Timestamp``: field 1 seconds, field
2 nanos, varints) against the row's (``seconds``, ``nanos``), then, when the row is newer, one HSET
(and EXPIRE with a TTL) of its fixed-width run of field/value arguments. Returns rows written."""

Encoder = Callable[[pd.Series, bytes], list[bytes]]
"""A column's values, each as the RESP bulk strings ``<field> <value>`` of an HSET (field given)."""


def _bulk(data: bytes) -> bytes:
    """A RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(data), data)


@functools.lru_cache(maxsize=65_536)  # the same counts and seconds recur across a batch's rows
def _varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative int64 as its two's complement (10 bytes), as protobuf does."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _doubles(column: pd.Series, field: bytes) -> list[bytes]:
    """Vectorised: one fixed-size record per value (the field, then ``$9``, tag, 8 bytes, CRLF)."""
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    record = np.dtype(
        [("field", f"S{len(field)}"), ("size", "S4"), ("tag", "u1"), ("value", "<f8"), ("end", "S2")]
    )
    records = np.empty(len(values), record)
    records["field"] = field
    records["size"] = b"$9\r\n"
    records["tag"] = _DOUBLE_TAG
    records["value"] = values
    records["end"] = b"\r\n"
    # as fixed-size byte strings: numpy strips trailing NULs only, and every record ends in CRLF
    out: list[bytes] = records.view(f"S{record.itemsize}").tolist()
    missing = field + _bulk(b"")  # NaN: an empty ValueProto, as Feast writes it
    for i in np.flatnonzero(np.isnan(values)).tolist():
        out[i] = missing
    return out


def _ints(column: pd.Series, field: bytes) -> list[bytes]:
    return [field + _bulk(_INT64_TAG + _varint(v)) for v in column.to_numpy(dtype=np.int64).tolist()]


def _bools(column: pd.Series, field: bytes) -> list[bytes]:
    values = (field + _bulk(_BOOL_VALUES[0]), field + _bulk(_BOOL_VALUES[1]))
    return [values[v] for v in column.to_numpy(dtype=np.int8).tolist()]


def timestamp_bytes(ns: int) -> bytes:
    """A serialised ``google.protobuf.Timestamp`` of nanoseconds since the epoch (defaults omitted)."""
    seconds, nanos = divmod(ns, NS_PER_S)
    return (b"\x08" + _varint(seconds) if seconds else b"") + (b"\x10" + _varint(nanos) if nanos else b"")


def _encoder(dtype: Any) -> Encoder:
    """The encoder of a feature type; only the types ``sensor_stats_view`` has (Float32 and Int32
    would be other ``ValueProto`` fields)."""
    from feast.types import Bool, Float64, Int64

    encoders: dict[Any, Encoder] = {Float64: _doubles, Int64: _ints, Bool: _bools}
    if dtype not in encoders:
        raise TypeError(f"feature type {dtype} is not encoded here")
    return encoders[dtype]


class RedisOnlineWriter:
    """Writes rows (one per machine, :func:`features.store.online_rows`) of one feature view.

    Commands are encoded here in RESP and sent on one of the client's pooled connections as one
    short Lua script a batch (compare each stored time, write the newer rows), so that a batch
    costs one reply rather than one per machine: redis-py's pipeline spent about 25 us of Python per
    command packing its arguments and as much again reading each reply (and a separate read of the
    stored times cost a round trip and a protobuf parse per row). A script runs atomically, so a
    batch of 5,000 rows holds Redis for tens of milliseconds. Only for a plain ``redis.Redis``
    client (Feast's ``redis_type: redis``; a cluster would need every key in one slot): a cluster or
    sentinel client raises ``TypeError`` and the caller keeps Feast's own path.
    """

    def __init__(self, store: FeatureStore, view_name: str) -> None:
        import redis
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name

        config = store.config
        client = store._get_provider().online_store._get_client(config.online_store)  # type: ignore[attr-defined]
        if type(client) is not redis.Redis:
            raise TypeError(f"direct writes need a plain redis.Redis client, not {type(client).__name__}")
        view = store.get_feature_view(view_name)
        name = _versioned_fv_name(view, config)
        self._config = config
        self._pool = client.connection_pool
        self._ttl: int | None = config.online_store.key_ttl_seconds
        self._ts_field = _bulk(f"_ts:{name}".encode())
        self._fields: list[tuple[str, bytes, Encoder]] = [
            (f.name, _bulk(_mmh3(f"{name}:{f.name}")), _encoder(f.dtype)) for f in view.features
        ]
        self._width = 2 * (len(self._fields) + 1)  # field/value arguments of one row's HSET
        self._keys: dict[str, bytes] = {}

    def _key(self, machine_id: str) -> bytes:
        """The entity's Redis key (Feast's ``_redis_key``), as a RESP bulk string."""
        key = self._keys.get(machine_id)
        if key is None:
            from feast.infra.online_stores.helpers import _redis_key
            from feast.protos.feast.types.EntityKey_pb2 import EntityKey
            from feast.protos.feast.types.Value_pb2 import Value

            entity = EntityKey(join_keys=[ENTITY_KEY], entity_values=[Value(string_val=machine_id)])
            raw = _redis_key(
                self._config.project,
                entity,
                entity_key_serialization_version=self._config.entity_key_serialization_version,
            )
            key = self._keys[machine_id] = _bulk(raw)
        return key

    def redis_key(self, machine_id: str) -> bytes:
        """The entity's Redis key as Feast names it."""
        bulk = self._key(machine_id)
        return bulk[bulk.index(b"\r\n") + 2 : -2]

    def write(self, rows: pd.DataFrame) -> int:
        """Write ``rows`` (at most one per machine); returns how many were newer than the stored
        ones and so written."""
        if len(rows) == 0:
            return 0
        keys = [self._key(m) for m in rows[ENTITY_KEY].astype(str).tolist()]
        times = pd.DatetimeIndex(rows[EVENT_TIMESTAMP]).tz_convert("UTC").as_unit("ns").asi8.tolist()
        columns = [encode(rows[name], field) for name, field, encode in self._fields]
        args = [_bulk(b"%d" % self._width), _bulk(b"%d" % (self._ttl or 0)), self._ts_field]
        for t, values in zip(times, zip(*columns, strict=True), strict=True):
            seconds, nanos = divmod(t, NS_PER_S)
            args += (_bulk(b"%d" % seconds), _bulk(b"%d" % nanos), self._ts_field, _bulk(timestamp_bytes(t)))
            args += values
        written: int = self._eval(_WRITE_NEWER, keys, args, 3 + len(keys) * (self._width + 2))
        return written

    def _eval(self, script: bytes, keys: list[bytes], args: list[bytes], arg_count: int) -> Any:
        """``EVAL script len(keys) *keys *args``: keys and args already RESP, ``arg_count`` bulk
        strings in all (a chunk of ``args`` may hold several, a field and its value)."""
        head = b"*%d\r\n%b%b%b" % (
            3 + len(keys) + arg_count,
            _bulk(b"EVAL"),
            _bulk(script),
            _bulk(b"%d" % len(keys)),
        )
        return self._send([head, *keys, *args], 1)[0]

    def _send(self, commands: list[bytes], replies: int) -> list[Any]:
        """Send packed commands on one pooled connection and read their replies (an error reply
        raises, as in redis-py; a broken connection is dropped, not returned to the pool)."""
        conn = self._pool.get_connection()
        try:
            conn.send_packed_command([b"".join(commands)])
            return [conn.read_response() for _ in range(replies)]
        except BaseException:
            conn.disconnect()
            raise
        finally:
            self._pool.release(conn)
