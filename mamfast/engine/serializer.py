"""JSON job serializer for arq: no pickle ever crosses Redis.

arq pickles jobs by default, which lets anyone who can write to Redis run
code in every worker. Both the pool (producer) and the workers use these two
functions instead. `loads` only ever parses JSON; a pickle payload planted in
the queue fails to decode and arq records the job as failed without running it.
"""

from __future__ import annotations

import json
from typing import Any

PICKLE_PROTOCOL_MARKER = 0x80


class UnsafePayloadError(ValueError):
    """The payload is not JSON (for instance a pickle): refused, never executed."""


def dumps(obj: dict[str, Any]) -> bytes:
    # default=str keeps exceptions and datetimes in arq's result dicts serialisable.
    return json.dumps(obj, default=str, separators=(",", ":")).encode()


def loads(data: bytes) -> dict[str, Any]:
    if data[:1] and data[0] == PICKLE_PROTOCOL_MARKER:
        raise UnsafePayloadError("refusing a pickle payload in the job queue")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafePayloadError(f"job payload is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UnsafePayloadError("job payload is not a JSON object")
    return value
