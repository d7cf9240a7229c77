"""Checkpoint store: one Redis hash per release, written by fenced compare-and-set.

Redis (with AOF) is the source of truth; arq is only the transport. A write
that advances a release goes through one Lua script that checks, atomically:

* the fencing token is the newest one handed out for this release, so a worker
  whose lock expired (paused, partitioned) cannot overwrite newer progress;
* the record's dispatch counter (`run`) is the one the writer read, so a stale
  job cannot commit;
* an infohash, once recorded, never changes and belongs to one release only,
  so one release can never become two torrents.

The hash keeps the full record as JSON in `doc`, plus the few fields the
script compares (`run`, `infohash`) and the ones cheap listings read.

A record that does not decode (edited by hand, planted, written by a newer
version) is never guessed at: reading it alone raises `DamagedRecordError`,
and listings skip it with a warning, so one bad record cannot stop `status`,
the reconciler, clean-up or notifications. `read_many` also names the damaged
ones, for `status` to show.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from mamfast.engine import keys
from mamfast.errors import (
    DamagedRecordError,
    FenceRejectedError,
    InfohashMismatchError,
    StaleJobError,
)
from mamfast.models import Release, Status, utcnow

log = logging.getLogger(__name__)

# KEYS: release hash, releases zset, active set
# ARGV: doc, run, stage, status, infohash, terminal (0/1), asin, created epoch
_CREATE = """
if redis.call('exists', KEYS[1]) == 1 then
  return redis.call('hget', KEYS[1], 'doc')
end
redis.call('hset', KEYS[1], 'doc', ARGV[1], 'run', ARGV[2], 'stage', ARGV[3],
           'status', ARGV[4], 'infohash', ARGV[5])
redis.call('zadd', KEYS[2], ARGV[8], ARGV[7])
if ARGV[6] == '1' then redis.call('srem', KEYS[3], ARGV[7])
else redis.call('sadd', KEYS[3], ARGV[7]) end
return false
"""

# KEYS: release hash, fence counter, active set, infohash owner (new), infohash owner (old),
#       events list
# ARGV: token, expected run, doc, run, stage, status, infohash, terminal, asin, forget infohash,
#       event JSON
_COMMIT = """
if redis.call('exists', KEYS[1]) == 0 then return 'missing' end
local newest = tonumber(redis.call('get', KEYS[2]) or '0')
if tonumber(ARGV[1]) < newest then return 'fenced' end
if redis.call('hget', KEYS[1], 'run') ~= ARGV[2] then return 'stale' end
local recorded = redis.call('hget', KEYS[1], 'infohash') or ''
if ARGV[7] ~= recorded then
  if recorded ~= '' and ARGV[10] ~= '1' then return 'infohash:' .. recorded end
  if ARGV[7] ~= '' then
    local owner = redis.call('get', KEYS[4])
    if owner and owner ~= ARGV[9] then return 'owner:' .. owner end
    redis.call('set', KEYS[4], ARGV[9])
  end
  if recorded ~= '' then redis.call('del', KEYS[5]) end
end
if ARGV[8] == '1' and redis.call('hget', KEYS[1], 'status') ~= ARGV[6] then
  -- one event per transition into a terminal status, for notifications
  redis.call('rpush', KEYS[6], ARGV[11])
  redis.call('ltrim', KEYS[6], -10000, -1)
end
redis.call('hset', KEYS[1], 'doc', ARGV[3], 'run', ARGV[4], 'stage', ARGV[5],
           'status', ARGV[6], 'infohash', ARGV[7], 'fence', ARGV[1])
if ARGV[8] == '1' then redis.call('srem', KEYS[3], ARGV[9])
else redis.call('sadd', KEYS[3], ARGV[9]) end
return 'ok'
"""


# KEYS: release hashes. Per key: its status if the record is finished (complete or ready)
# and knows its source folder, else ''. The doc is only searched on the server, so checking
# thousands of records costs one round trip and no decoding here.
_FINISHED = """
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('hmget', key, 'status', 'doc')
  out[i] = ''
  if (v[1] == 'complete' or v[1] == 'ready') and v[2]
     and string.find(v[2], '"source_dir":"', 1, true) then
    out[i] = v[1]
  end
end
return out
"""
_FINISHED_BATCH = 1000  # keys per script call: Redis stays responsive between them


class DamagedRecord(BaseModel):
    """A record that cannot be read, and why (for `status`)."""

    asin: str  # as found in the release index: may be anything
    problem: str
    hint: str


class ReleaseStore:
    """Typed access to release records; every method is one or two round trips."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._create = redis.register_script(_CREATE)
        self._commit = redis.register_script(_COMMIT)
        self._finished = redis.register_script(_FINISHED)
        self._warned: set[str] = set()  # damaged records already logged by this process

    async def get(self, asin: str) -> Release | None:
        """The record, None if there is none; DamagedRecordError if it cannot be read."""
        try:
            doc = await self._redis.hget(keys.release(asin), "doc")  # type: ignore[misc]
        except ResponseError as exc:
            raise wrong_type(asin, exc) from None
        return decode(asin, doc) if doc else None

    async def get_many(self, asins: Sequence[str]) -> list[Release]:
        """The readable records among `asins` (damaged ones are logged once and skipped)."""
        records, damaged = await self.read_many(asins)
        for bad in damaged:
            if bad.asin not in self._warned:
                self._warned.add(bad.asin)
                log.warning("skipping a damaged release record: %s", bad.problem)
        return records

    async def read_many(self, asins: Sequence[str]) -> tuple[list[Release], list[DamagedRecord]]:
        if not asins:
            return [], []
        async with self._redis.pipeline(transaction=False) as pipe:
            for asin in asins:
                pipe.hget(keys.release(asin), "doc")
            docs = await pipe.execute(raise_on_error=False)
        records: list[Release] = []
        damaged: list[DamagedRecord] = []
        for asin, doc in zip(asins, docs, strict=True):
            if not doc:
                continue
            try:
                if isinstance(doc, ResponseError):
                    raise wrong_type(asin, doc)
                records.append(decode(asin, doc))
            except DamagedRecordError as exc:
                damaged.append(DamagedRecord(asin=asin, problem=exc.message, hint=exc.hint))
        return records, damaged

    async def finished(self, asins: Sequence[str]) -> dict[str, Status]:
        """Those of `asins` whose record exists, is complete or ready and knows its source
        folder, with their status: a scan need not submit them again. A record that does
        not say so plainly (damaged, written otherwise) is left out: it is submitted."""
        found: dict[str, Status] = {}
        for start in range(0, len(asins), _FINISHED_BATCH):
            batch = list(asins[start : start + _FINISHED_BATCH])
            statuses = await self._finished(keys=[keys.release(a) for a in batch])
            for asin, status in zip(batch, statuses, strict=True):
                if status:
                    found[asin] = Status(_text(status))
        return found

    async def asins(self) -> list[str]:
        return [_text(a) for a in await self._redis.zrange(keys.RELEASES, 0, -1)]

    async def active_asins(self) -> list[str]:
        members = await self._redis.smembers(keys.ACTIVE)  # type: ignore[misc]
        return sorted(_text(a) for a in members)

    async def all(self) -> list[Release]:
        return await self.get_many(await self.asins())

    async def create(self, release: Release) -> tuple[Release, bool]:
        """Create the record unless one exists; returns (stored record, created?)."""
        existing = await self._create(
            keys=[keys.release(release.asin), keys.RELEASES, keys.ACTIVE],
            args=[
                release.model_dump_json(),
                release.run,
                release.stage.value,
                release.status.value,
                release.infohash or "",
                "1" if release.terminal else "0",
                release.asin,
                int(release.created_at.timestamp()),
            ],
        )
        if existing:
            return decode(release.asin, existing), False
        if release.infohash:
            await self._redis.set(keys.infohash_owner(release.infohash), release.asin, nx=True)
        return release, True

    async def commit(
        self,
        release: Release,
        *,
        token: int,
        expected_run: int,
        forget_infohash: str | None = None,
    ) -> Release:
        """Write `release` if the fence and run still match; returns what was stored."""
        stored = release.model_copy(update={"updated_at": utcnow()})
        old_hash = forget_infohash or ""
        result = _text(
            await self._commit(
                keys=[
                    keys.release(stored.asin),
                    keys.fence(stored.asin),
                    keys.ACTIVE,
                    keys.infohash_owner(stored.infohash or "-"),
                    keys.infohash_owner(old_hash or "-"),
                    keys.EVENTS,
                ],
                args=[
                    token,
                    expected_run,
                    stored.model_dump_json(),
                    stored.run,
                    stored.stage.value,
                    stored.status.value,
                    stored.infohash or "",
                    "1" if stored.terminal else "0",
                    stored.asin,
                    "1" if forget_infohash else "0",
                    event_json(stored),
                ],
            )
        )
        _raise_for(result, stored)
        return stored

    async def delete(self, asin: str) -> None:
        """Remove a record from Redis (and the indexes); for damaged records only."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.release(asin))
            pipe.zrem(keys.RELEASES, asin)
            pipe.srem(keys.ACTIVE, asin)
            await pipe.execute()

    async def fence_value(self, asin: str) -> int:
        value = await self._redis.get(keys.fence(asin))
        return int(value) if value else 0

    async def infohash_owner(self, infohash: str) -> str | None:
        value = await self._redis.get(keys.infohash_owner(infohash))
        return _text(value) if value else None


def decode(asin: str, doc: bytes | str) -> Release:
    """A stored record, checked: it must validate and belong to the key it is stored under."""
    try:
        release = Release.model_validate_json(doc)
    except ValidationError as exc:
        raise DamagedRecordError(
            f"the release record {asin!r} in Redis cannot be read ({first_error(exc)})",
            hint=damaged_hint(asin),
        ) from None
    if release.asin != asin:
        raise DamagedRecordError(
            f"the release record stored as {asin!r} says it is {release.asin}",
            hint=damaged_hint(asin),
        )
    return release


def wrong_type(asin: str, exc: ResponseError) -> DamagedRecordError:
    """A release key that is not a hash (set by hand) is damaged, like a record that does not
    decode: one such key must not stop `status` or the reconciler. Other errors are raised."""
    if "WRONGTYPE" not in str(exc):
        raise exc
    return DamagedRecordError(
        f"the release record {asin!r} in Redis cannot be read (its key holds no hash)",
        hint=damaged_hint(asin),
    )


def damaged_hint(asin: str) -> str:
    return (
        f"drop it with `mamfast state forget {shlex.quote(asin)}`, then run `mamfast enqueue`: "
        "the release is rebuilt from the library, and what is already staged or hashed is reused"
    )


def first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, in one short line without the offending value."""
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "entry"
    return f"{where}: {err['msg']}"


def event_json(release: Release) -> str:
    """What a notification needs to know about a release that just finished or failed."""
    return json.dumps(
        {
            "asin": release.asin,
            "title": release.title,
            "status": release.status.value,
            "error": release.last_error,
            "folder": str(Path(release.json_path).parent) if release.json_path else None,
            "at": release.updated_at.isoformat(),
        }
    )


def _raise_for(result: str, release: Release) -> None:
    if result == "ok":
        return
    if result == "fenced":
        raise FenceRejectedError(
            f"{release.asin}: checkpoint refused, a newer worker holds this release",
            hint="this worker's lock expired; the newer holder's progress is kept",
        )
    if result in ("stale", "missing"):
        raise StaleJobError(f"{release.asin}: the record changed under this job ({result})")
    kind, _, other = result.partition(":")
    if kind == "infohash":
        raise InfohashMismatchError(
            f"{release.asin}: the torrent would get infohash {release.infohash}, but {other} "
            "is already recorded for this release; refusing to make a second torrent",
            hint=f"if the files really changed on purpose, run `mamfast reset {release.asin} "
            "--stage torrent --forget-torrent`",
        )
    raise InfohashMismatchError(
        f"{release.asin}: infohash {release.infohash} already belongs to release {other}",
        hint="two releases have identical content; keep one and delete the other's folder",
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def asin_list(values: Iterable[Any]) -> list[str]:
    return [_text(v) for v in values]
