"""The Audnex client: regions in order, both error formats, retries, limits, cache.

One client (and one pooled aiohttp session) per worker. What every request
goes through, in order:

1. the shared response cache (a hit costs no request at all);
2. the shared circuit breaker (open: fail fast, the service is down);
3. the shared token bucket (a 429 pauses the whole pool);
4. the request itself, with a timeout, at most `concurrency` at once per worker.

How answers are read:

* 200: the record; it must validate, else the release fails with the URL and
  status in the message (garbage is not cached, and not retried: a server
  that answers garbage once will answer it again).
* 404 (`NOT_FOUND`, `REGION_UNAVAILABLE`), other 4xx, and a 500 whose message
  says "not available": not in this region, try the next one.
* 429: everyone waits `Retry-After` (else 60 s), then this call tries again.
* 401/403/408, other 5xx (and Cloudflare's 52x), timeouts, connection errors:
  retried with exponential backoff and jitter; each one counts against the
  breaker. When the tries run out: `AudnexUnavailableError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from mamfast.asin import valid_asin
from mamfast.clients.audnex.cache import Cached, Kind, NoCache, RedisResponseCache, ResponseCache
from mamfast.clients.audnex.models import Book, Chapters, ErrorBody, Found
from mamfast.clients.breaker import Breaker, LocalBreaker, RedisBreaker
from mamfast.clients.ratelimit import LocalTokenBucket, RateLimiter, RedisTokenBucket, take
from mamfast.config import Settings
from mamfast.engine import keys, stats
from mamfast.engine.backoff import backoff
from mamfast.errors import AudnexUnavailableError, MamfastError, MetadataError
from mamfast.models import utcnow

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

MAX_BODY = 4 * 1024 * 1024
USER_AGENT = "mamfast/0.1 (audiobook uploader helper)"


class AudnexNotFoundError(MamfastError):
    """No region has this ASIN (not a failure by itself: the stage decides)."""

    def __init__(self, asin: str, regions: Sequence[str], reasons: Sequence[str] = ()) -> None:
        self.asin = asin
        self.regions = list(regions)
        self.reasons = list(reasons)
        details = [f"{r} ({why})" if why else r for r, why in zip(regions, reasons, strict=False)]
        if not regions:
            details = list(reasons) or ["no region"]
        super().__init__(f"{asin} not found in {', '.join(details)}")

    @property
    def short(self) -> str:
        """ "not found in us, uk" for warnings."""
        if not self.regions:
            return "; ".join(self.reasons) or "not found"
        return f"not found in {', '.join(self.regions)}"


@dataclass(frozen=True)
class RetryPolicy:
    """Knobs that tests shrink; the defaults suit the public Audnex instance."""

    attempts: int = 4
    backoff_base: float = 1.0
    backoff_cap: float = 10.0
    default_retry_after: float = 60.0
    max_limit_wait: float = 90.0  # longer waits for a token become a retry-later
    concurrency: int = 2  # requests in flight per worker (Audnex asks for gentleness)
    breaker_threshold: int = 5
    breaker_cooldown: float = 60.0
    burst: int = 5


@dataclass
class _Reply:
    status: int
    body: str
    retry_after: float | None = None


@dataclass
class AudnexClient:
    session: aiohttp.ClientSession
    base_url: str
    regions: list[str]
    limiter: RateLimiter
    breaker: Breaker
    cache: ResponseCache
    timeout: float = 20.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    owns_session: bool = True
    requests_made: int = 0  # for tests and status output
    stats_redis: Redis | None = None  # rate-limit waits counted here (engine.stats); None: not
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._slots = asyncio.Semaphore(self.policy.concurrency)

    # ------------------------------------------------------------------ construction

    @classmethod
    def for_worker(
        cls, settings: Settings, redis: Redis, *, policy: RetryPolicy | None = None
    ) -> AudnexClient:
        """Limits, breaker and cache shared with every other worker through Redis."""
        policy = policy or RetryPolicy()
        return cls(
            session=new_session(settings.audnex_timeout),
            base_url=settings.audnex_url,
            regions=list(settings.audnex_regions),
            limiter=RedisTokenBucket(
                redis,
                keys.AUDNEX_BUCKET,
                keys.AUDNEX_PAUSE,
                per_minute=settings.audnex_rate_per_minute,
                burst=min(policy.burst, settings.audnex_rate_per_minute),
            ),
            breaker=RedisBreaker(
                redis,
                keys.AUDNEX_BREAKER,
                keys.AUDNEX_PROBE,
                threshold=policy.breaker_threshold,
                cooldown=policy.breaker_cooldown,
                probe_ttl=settings.audnex_timeout * 2,
            ),
            cache=RedisResponseCache(redis, ttl=settings.audnex_cache_ttl),
            timeout=settings.audnex_timeout,
            policy=policy,
            stats_redis=redis,
        )

    @classmethod
    def standalone(cls, settings: Settings, *, policy: RetryPolicy | None = None) -> AudnexClient:
        """For one-off commands without Redis: the same rules, kept in this process."""
        policy = policy or RetryPolicy()
        return cls(
            session=new_session(settings.audnex_timeout),
            base_url=settings.audnex_url,
            regions=list(settings.audnex_regions),
            limiter=LocalTokenBucket(
                per_minute=settings.audnex_rate_per_minute,
                burst=min(policy.burst, settings.audnex_rate_per_minute),
            ),
            breaker=LocalBreaker(
                threshold=policy.breaker_threshold, cooldown=policy.breaker_cooldown
            ),
            cache=NoCache(),
            timeout=settings.audnex_timeout,
            policy=policy,
        )

    async def close(self) -> None:
        if self.owns_session and not self.session.closed:
            await self.session.close()

    # ------------------------------------------------------------------ public API

    async def lookup(self, asin: str) -> Found:
        """The book and its chapters from the first region that has it.

        Raises AudnexNotFoundError (no region has it), AudnexUnavailableError
        (breaker open, rate limited for long, offline) or MetadataError (garbage).
        """
        asin = asin.strip().upper()
        if not valid_asin(asin):
            raise AudnexNotFoundError(asin, [], [f"{asin!r} is not an Audible ASIN"])
        tried: list[str] = []
        reasons: list[str] = []
        for region in self.regions:
            entry, cached = await self._fetch("book", asin, region, Book)
            if entry.status == "missing":
                tried.append(region)
                reasons.append(entry.reason)
                continue
            book = _validated(Book, entry.body, self._url("book", asin), 200)
            chapters = await self.chapters(asin, region)
            return Found(book=book, chapters=chapters, region=region, from_cache=cached)
        raise AudnexNotFoundError(asin, tried, reasons)

    async def chapters(self, asin: str, region: str) -> Chapters | None:
        """Chapters are a bonus: when Audnex has none, MediaInfo's chapter menu stands in."""
        try:
            entry, _ = await self._fetch("chapters", asin, region, Chapters)
        except AudnexUnavailableError as exc:
            log.warning("%s: no Audnex chapters (%s); using the file's chapters", asin, exc)
            return None
        if entry.status == "missing":
            return None
        chapters = _validated(Chapters, entry.body, self._url("chapters", asin), 200)
        return chapters if chapters.chapters else None

    # ------------------------------------------------------------------ internals

    def _url(self, kind: Kind, asin: str) -> str:
        suffix = "/chapters" if kind == "chapters" else ""
        return f"{self.base_url}/books/{asin}{suffix}"

    async def _fetch(
        self, kind: Kind, asin: str, region: str, model: type[BaseModel]
    ) -> tuple[Cached, bool]:
        """(answer, came from cache). Found answers are validated before they are cached."""
        hit = await self.cache.get(kind, asin, region)
        if hit is not None and (hit.status == "missing" or _valid(model, hit.body)):
            return hit, True
        url = self._url(kind, asin)
        entry = await self._request(url, region)
        if entry.status == "found":
            _validated(model, entry.body, url, 200)  # raises with URL and status
        await self.cache.put(kind, asin, region, entry)
        return entry, False

    async def _request(self, url: str, region: str) -> Cached:
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            permit = await self.breaker.allow()
            if not permit.allowed:
                why = f"; last: {last}" if last else ""
                raise AudnexUnavailableError(
                    f"Audnex is failing (circuit breaker open after repeated failures{why}); "
                    f"next try in {permit.retry_in:.0f}s",
                    hint="Audnex or the network is down; mamfast tries again by itself",
                    retry_after=max(permit.retry_in, 1.0),
                )
            waited = await take(self.limiter, max_wait=self.policy.max_limit_wait)
            if waited > 0 and self.stats_redis is not None:
                await stats.record_limit_wait(self.stats_redis, waited)
            try:
                reply = await self._get(url, region)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = f"{url}?region={region}: {_describe(exc, self.timeout)}"
                await self._failed(attempt, last)
                continue
            outcome = await self._classify(url, region, reply)
            if isinstance(outcome, Cached):
                return outcome
            last = outcome
            if reply.status != 429:
                await self._failed(attempt, last)
        raise AudnexUnavailableError(
            f"Audnex did not answer after {self.policy.attempts} tries (last: {last})",
            hint="Audnex or the network is down; mamfast tries again by itself",
        )

    async def _get(self, url: str, region: str) -> _Reply:
        # The timeout starts once we hold a slot: queueing behind our own requests is not
        # the server being slow.
        async with self._slots, asyncio.timeout(self.timeout):
            self.requests_made += 1
            async with self.session.get(url, params={"region": region}) as resp:
                raw = await resp.content.read(MAX_BODY + 1)
                if len(raw) > MAX_BODY:
                    raise aiohttp.ClientPayloadError(f"answer larger than {MAX_BODY} bytes")
                body = raw.decode("utf-8", errors="replace")
                return _Reply(resp.status, body, _retry_after(resp.headers.get("Retry-After")))

    async def _classify(self, url: str, region: str, reply: _Reply) -> Cached | str:
        """A final answer (found / missing here), or a description of a retryable failure."""
        status = reply.status
        where = f"{url}?region={region}"
        if status == 200:
            await self.breaker.success()
            return Cached(status="found", body=reply.body)
        error = _error_body(reply.body)
        message = error.text if error else reply.body[:200].strip()
        if status == 429:
            await self.breaker.success()  # the server is alive, just busy
            wait = reply.retry_after or _body_retry_after(reply.body)
            wait = wait or self.policy.default_retry_after
            log.warning("Audnex said 429 for %s; every worker waits %.0fs", where, wait)
            await self.limiter.pause(wait)
            if self.stats_redis is not None:
                await stats.record_pause(self.stats_redis)
            return f"{where}: HTTP 429 rate limited ({message or 'too many requests'})"
        if _not_here(status, message):
            await self.breaker.success()
            code = error.code if error and error.code else f"HTTP {status}"
            return Cached(
                status="missing", reason=_short(f"{code}: {message}" if message else code)
            )
        return f"{where}: HTTP {status} {_short(message)}".rstrip()

    async def _failed(self, attempt: int, what: str) -> None:
        state = await self.breaker.failure()
        log.warning("Audnex try %d/%d failed: %s", attempt, self.policy.attempts, what)
        if attempt < self.policy.attempts and state != "open":
            policy = self.policy
            await asyncio.sleep(backoff(attempt, base=policy.backoff_base, cap=policy.backoff_cap))


def new_session(timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        connector=aiohttp.TCPConnector(limit=8, ttl_dns_cache=300),
    )


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _not_here(status: int, message: str) -> bool:
    """Answers that mean "try the next region" rather than "try again later"."""
    if status == 404:
        return True
    if status == 500 and "not available" in message.lower():
        return True  # older deployments: "Item not available in region ..."
    return 400 <= status < 500 and status not in (401, 403, 408, 429)


def _error_body(text: str) -> ErrorBody | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return ErrorBody.model_validate(data)
    except ValidationError:
        return None


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utcnow()).total_seconds())


def _body_retry_after(text: str) -> float | None:
    """Audnex's README shows `error.details.retryAfterSeconds`; honour it when present."""
    try:
        details = json.loads(text)["error"]["details"]
        return float(details["retryAfterSeconds"])
    except (ValueError, KeyError, TypeError):
        return None


def _valid(model: type[BaseModel], body: str) -> bool:
    try:
        model.model_validate_json(body)
    except ValidationError:
        return False
    return True


def _validated(model: type[M], body: str, url: str, status: int) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problem = _first_problem(exc)
        raise MetadataError(
            f"Audnex answered {url} with HTTP {status} but the body is not a valid "
            f"{model.__name__.lower()} record ({problem}; starts {body[:80]!r})",
            hint="the service may be misbehaving; run `mamfast retry ASIN` later, "
            "or set MAMFAST_AUDNEX_URL to another Audnex instance",
        ) from None


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
