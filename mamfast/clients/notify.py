"""Notifications: one message per scan, through Apprise or a plain webhook.

The checkpoint store records an event, atomically with the commit, each time
a release enters a terminal status (ready, complete, needs_attention). A scan
records which releases it submitted (a batch). The flusher, run after scans,
by a worker cron and at the end of `mamfast run`, composes one message for
each batch whose releases have all finished, and one for finished releases
that belong to no open batch (a `mamfast retry`, say). Each message goes into
every URL's own outbox, in the same transaction that forgets its events, and
leaves an outbox only once delivered to that URL: a URL that fails gets it
later, and the URLs that worked never get it twice. An event that cannot be
read is skipped with a warning.

URLs are Apprise URLs (discord://, tgram://, json://, ...) or a plain
http(s) webhook, which gets a JSON POST (`content` for Discord, plus `title`,
`body` and `events`). URLs hold tokens: they are never logged unmasked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiohttp
from pydantic import BaseModel

from mamfast.config import Settings
from mamfast.engine import keys, locks
from mamfast.engine.engine import Engine
from mamfast.redact import mask_url

log = logging.getLogger(__name__)

BATCH_TTL = 30 * 24 * 3600
OUTBOX_LIMIT = 100  # messages kept for a URL that keeps failing (the oldest go first)
LABELS = {"ready": "ready to upload", "complete": "seeding", "needs_attention": "needs attention"}


class Event(BaseModel):
    asin: str
    title: str = ""
    status: str
    error: str | None = None
    folder: str | None = None
    at: str | None = None


class Message(BaseModel):
    title: str
    body: str
    events: list[Event]


class SendResult(BaseModel):
    url: str  # masked
    ok: bool
    detail: str = ""


# --------------------------------------------------------------------------- batches


async def record_batch(engine: Engine[Any], asins: Sequence[str]) -> str | None:
    """Remember the releases one scan submitted, so they are announced together."""
    if not asins:
        return None
    scan_id = f"{time.time():.6f}"
    async with engine.redis.pipeline(transaction=True) as pipe:
        pipe.sadd(keys.batch(scan_id), *asins)
        pipe.expire(keys.batch(scan_id), BATCH_TTL)
        pipe.zadd(keys.BATCHES, {scan_id: time.time()})
        await pipe.execute()
    return scan_id


async def flush(engine: Engine[Any]) -> list[SendResult]:
    """Send what is ready to send; safe to call from several places at once."""
    ttl = engine.settings.lock_ttl
    async with locks.held_if_free(
        engine.redis, keys.NOTIFY_LOCK, ttl=ttl, purpose="notify"
    ) as lease:
        return [] if lease is None else await _flush_locked(engine)


async def _flush_locked(engine: Engine[Any]) -> list[SendResult]:
    raw = await engine.redis.lrange(keys.EVENTS, 0, -1)  # type: ignore[misc]
    events = _readable(raw)
    latest = {e.asin: e for e in events}  # a release's last transition is what counts
    urls = [u.get_secret_value() for u in engine.settings.notify_urls]
    if not urls:
        await _forget(engine, len(raw), [])
        return []
    messages, closed, waiting = await _compose(engine, latest)
    keep = [e for e in events if e.asin in waiting]
    await _forget(engine, len(raw), closed, keep=keep, post=(urls, messages))
    delivered = await asyncio.gather(*(_deliver(engine, url) for url in urls))
    return [result for results in delivered for result in results]


def _readable(raw: Sequence[bytes]) -> list[Event]:
    events = []
    for item in raw:
        try:
            events.append(Event.model_validate_json(item))
        except ValueError as exc:  # hand-written or from another version: not worth a crash
            log.warning("skipping an unreadable notification event (%s)", type(exc).__name__)
    return events


async def _deliver(engine: Engine[Any], url: str) -> list[SendResult]:
    """Send this URL's outbox in order; stop at the first failure (tried again next time)."""
    outbox = keys.notify_outbox(url_id(url))
    results = []
    while (head := await engine.redis.lindex(outbox, 0)) is not None:  # type: ignore[misc]
        try:
            message = Message.model_validate_json(head)
        except ValueError:
            log.warning("dropping an unreadable message for %s", shown(url))
            await engine.redis.lpop(outbox)  # type: ignore[misc]
            continue
        result = await _send_one(url, message)
        results.append(result)
        if not result.ok:  # said every time: a URL that keeps failing must not go unnoticed
            log.warning(
                "notification to %s failed (%s); it is kept for that URL and sent again at the "
                "next try (a worker tries every 30 s, `mamfast run` at its end). Check "
                "MAMFAST_NOTIFY_URLS; `mamfast notify test` tries every URL",
                result.url,
                result.detail,
            )
            break
        await engine.redis.lpop(outbox)  # type: ignore[misc]
    return results


def url_id(url: str) -> str:
    """A name for a URL's outbox that does not reveal the URL (it holds tokens)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


async def _compose(
    engine: Engine[Any], latest: dict[str, Event]
) -> tuple[list[Message], list[str], set[str]]:
    """Messages to send, batches they close, and ASINs still waiting on an open batch."""
    wanted = set(engine.settings.notify_events)
    messages, closed, waiting = [], [], set()
    for scan_id in [s.decode() for s in await engine.redis.zrange(keys.BATCHES, 0, -1)]:
        members = sorted(m.decode() for m in await engine.redis.smembers(keys.batch(scan_id)))  # type: ignore[misc]
        records = await engine.store.get_many(members)
        if any(not r.terminal for r in records):
            waiting.update(members)
            continue
        closed.append(scan_id)
        batch = [latest.get(r.asin) or _event_of(r) for r in records]
        picked = [e for e in batch if e.status in wanted]
        if picked:
            messages.append(compose(picked, heading="scan finished"))
    announced = {e.asin for m in messages for e in m.events}
    loose = [
        e
        for asin, e in latest.items()
        if asin not in waiting and asin not in announced and e.status in wanted
    ]
    if loose:
        messages.append(compose(loose, heading="releases updated"))
    return messages, closed, waiting


def _event_of(record: Any) -> Event:
    return Event(
        asin=record.asin, title=record.title, status=record.status.value, error=record.last_error
    )


async def _forget(
    engine: Engine[Any],
    count: int,
    closed: list[str],
    keep: Sequence[Event] = (),
    post: tuple[Sequence[str], Sequence[Message]] = ((), ()),
) -> None:
    """Drop `count` events (keeping `keep`) and close batches; `post` puts the messages
    made from them in each URL's outbox in the same transaction, so none is lost or
    made twice."""
    urls, messages = post
    async with engine.redis.pipeline(transaction=True) as pipe:
        for url in urls if messages else ():
            outbox = keys.notify_outbox(url_id(url))
            pipe.rpush(outbox, *(m.model_dump_json() for m in messages))
            pipe.ltrim(outbox, -OUTBOX_LIMIT, -1)
        pipe.ltrim(keys.EVENTS, count, -1)  # events that arrived meanwhile stay
        if keep:
            pipe.rpush(keys.EVENTS, *(e.model_dump_json() for e in keep))
        for scan_id in closed:
            pipe.delete(keys.batch(scan_id))
            pipe.zrem(keys.BATCHES, scan_id)
        await pipe.execute()


def compose(events: Sequence[Event], *, heading: str) -> Message:
    counts = Counter(e.status for e in events)
    summary = ", ".join(f"{n} {LABELS.get(s, s)}" for s, n in sorted(counts.items()))
    lines = []
    for e in sorted(events, key=lambda e: (e.status != "needs_attention", e.title)):
        line = f"- {LABELS.get(e.status, e.status)}: {e.title or e.asin} ({e.asin})"
        if e.status == "needs_attention" and e.error:
            line += f": {e.error[:300]}"
        elif e.folder:
            line += f": {e.folder}"
        lines.append(line)
    return Message(
        title=f"mamfast: {heading}: {summary}", body="\n".join(lines), events=list(events)
    )


# --------------------------------------------------------------------------- transports


def shown(url: str) -> str:
    """`discord://webhook_id/token` -> `discord://***`: tokens live anywhere in these URLs."""
    return mask_url(url, keep="scheme")


async def send(settings: Settings, message: Message) -> list[SendResult]:
    urls = [u.get_secret_value() for u in settings.notify_urls]
    return list(await asyncio.gather(*(_send_one(url, message) for url in urls)))


async def _send_one(url: str, message: Message) -> SendResult:
    try:
        if url.startswith(("http://", "https://")):
            return await _webhook(url, message)
        return await _apprise(url, message)
    except Exception as exc:  # one bad URL must not stop the others (the caller reports it)
        return SendResult(url=shown(url), ok=False, detail=type(exc).__name__)


async def _apprise(url: str, message: Message) -> SendResult:
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return SendResult(url=shown(url), ok=False, detail="not a URL Apprise understands")
    ok = bool(await sender.async_notify(body=message.body, title=message.title))
    return SendResult(url=shown(url), ok=ok, detail="" if ok else "Apprise could not deliver it")


async def _webhook(url: str, message: Message) -> SendResult:
    payload = {
        "content": f"**{message.title}**\n{message.body}"[:2000],  # Discord's limit
        "title": message.title,
        "body": message.body,
        "events": [e.model_dump() for e in message.events],
    }
    timeout = aiohttp.ClientTimeout(total=15)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, json=payload) as reply,
    ):
        ok = 200 <= reply.status < 300
        return SendResult(url=shown(url), ok=ok, detail="" if ok else f"HTTP {reply.status}")


def test_message() -> Message:
    event = Event(asin="B0TEST0000", title="A test notification", status="ready", folder="-")
    return Message(
        title="mamfast: test notification",
        body="If you can read this, mamfast can reach you.",
        events=[event],
    )


def dumps(results: Sequence[SendResult]) -> str:
    return json.dumps([r.model_dump() for r in results], indent=2)
