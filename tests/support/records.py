"""Release records written straight into Redis, as an edited export or a stranger would."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mamfast.engine import keys
from mamfast.models import Release


def record_doc(asin: str, **fields: Any) -> dict[str, Any]:
    """A valid record's JSON with `fields` laid over it, and `asin`, none of them checked."""
    doc = Release(asin="B0PLACEHLD").model_dump(mode="json")
    doc.update(fields)
    doc["asin"] = asin
    return doc


async def plant_record(redis: Any, asin: str, doc: Mapping[str, Any]) -> None:
    """Store `doc` under `asin` the way the store does (hash, index, active set), unchecked."""
    await redis.hset(
        keys.release(asin),
        mapping={
            "doc": json.dumps(doc),
            "run": 1,
            "stage": str(doc.get("stage", "stage")),
            "status": str(doc.get("status", "queued")),
            "infohash": "",
        },
    )
    await redis.zadd(keys.RELEASES, {asin: 1})
    await redis.sadd(keys.ACTIVE, asin)
