"""qBittorrent, as mamfast needs it: add a torrent exactly once and see it seed.

One `QbitClient` per worker (a `Resources` field) wraps one qbittorrent-api
`Client`: one HTTP session, one login, reused by every job; the library logs in
again by itself when qBittorrent answers 403 (a restart drops sessions). The
library is synchronous, so every call runs in a thread via `asyncio.to_thread`,
and calls are serialized by a lock because a re-login replaces the HTTP session
under any request running in parallel. Calls take milliseconds, so this costs
nothing that matters.

What qBittorrent says is not trusted, what it lists is:

* 4.5-5.1 answer a duplicate add with `Fails.` (HTTP 200), 5.2+ with 409 or a
  JSON body whose success count is 0; `Ok.` may come before the torrent is
  listed. So `add()` looks the hash up first, and after adding polls by hash.
* "Skip checking" trusts the data blindly, and a save path that does not exist
  gives no error, so only the state qBittorrent settles in (`wait_seeding`)
  shows whether it really found the files.

Every failure is one of ours: `TransientError` (cannot connect, timeout, 5xx),
`ConfigError` (login refused, not a qBittorrent WebUI) or `UploadError` (the
torrent was refused). The password never appears in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import qbittorrentapi
from pydantic import BaseModel, ConfigDict, Field

from mamfast.config import Settings
from mamfast.errors import ConfigError, MamfastError, TransientError, UploadError
from mamfast.redact import mask_url, scrub

T = TypeVar("T")

REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
LOGOUT_TIMEOUT = (2.0, 5.0)  # connect, read
LOGOUT_WAIT = 3.0  # a close waits no longer for the log-out
CONFIRM_SECONDS = 5.0  # how long an added (or "maybe present") torrent may take to be listed
CONFIRM_POLL = 0.05
SEED_POLL = 0.1  # a poll costs qBittorrent ~2 ms; fast while a small torrent checks...
SLOW_POLL = 0.5  # ...and slower once a big one takes its time
FAST_POLL_SECONDS = 10.0
INCOMPLETE_SETTLE = 3.0  # a downloading state must persist this long before we believe it
LOGIN_HINT = "check MAMFAST_QBIT_USERNAME/PASSWORD"
URL_HINT = "is qBittorrent running and its WebUI enabled? check MAMFAST_QBIT_URL"

SEEDING_STATES = frozenset({"uploading", "stalledUP", "queuedUP", "forcedUP"})
PAUSED_COMPLETE_STATES = frozenset({"pausedUP", "stoppedUP"})  # 4.x / 5.x names
PAUSED_INCOMPLETE_STATES = frozenset({"pausedDL", "stoppedDL"})
DOWNLOADING_STATES = frozenset(
    {"downloading", "stalledDL", "queuedDL", "forcedDL", "metaDL", "forcedMetaDL"}
)
BROKEN_STATES = frozenset({"missingFiles", "error"})


class Condition(StrEnum):
    """What qBittorrent's state (and progress) means for us; its state names change
    between versions, so they are read here and nowhere else."""

    SEEDING = "seeding"  # complete, uploading or ready to
    PAUSED_COMPLETE = "paused_complete"
    BROKEN = "broken"  # missingFiles / error: the files are not where it looks
    DOWNLOADING = "downloading"  # incomplete and fetching: it lacks data it should have
    PAUSED_INCOMPLETE = "paused_incomplete"  # never checked again until resumed or rechecked
    BUSY = "busy"  # checking, moving, allocating...: not conclusive yet


class TorrentView(BaseModel):
    """What we read about one torrent. Tracker fields are left out: they hold the passkey."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    hash: str
    name: str = ""
    state: str = "unknown"
    progress: float = 0.0
    save_path: str = ""
    content_path: str = ""
    amount_left: int = 0
    category: str = ""
    tags: str = ""
    # Seeding duty (ops.seeding): seconds complete (qBittorrent counts from when the
    # torrent completed in this client, which may be before its upload to MAM), the
    # share ratio, and when it was added and completed (epoch seconds; 0 or -1 unknown).
    seeding_time: int = 0
    ratio: float = 0.0
    added_on: int = 0
    completion_on: int = 0

    @property
    def complete(self) -> bool:
        return self.progress >= 1.0

    @property
    def condition(self) -> Condition:
        if self.state in BROKEN_STATES:
            return Condition.BROKEN
        if self.complete:
            if self.state in SEEDING_STATES:
                return Condition.SEEDING
            if self.state in PAUSED_COMPLETE_STATES:
                return Condition.PAUSED_COMPLETE
        else:
            if self.state in DOWNLOADING_STATES:
                return Condition.DOWNLOADING
            if self.state in PAUSED_INCOMPLETE_STATES:
                return Condition.PAUSED_INCOMPLETE
        return Condition.BUSY

    @property
    def lacks_data(self) -> bool:
        """It has not found the data at its save path (missing files, an error, or
        incomplete while downloading or paused)."""
        return self.condition in (
            Condition.BROKEN,
            Condition.DOWNLOADING,
            Condition.PAUSED_INCOMPLETE,
        )

    def describe(self) -> str:
        return f"{self.state} at {self.progress:.0%}"


class AddOptions(BaseModel):
    """How a torrent is added; `save_path` is qBittorrent's view of the folder's parent."""

    save_path: str
    category: str = "mamfast"
    tags: list[str] = Field(default_factory=list)
    paused: bool = False
    skip_checking: bool = True
    # "Original" keeps the torrent's top folder, which is the staged folder itself.
    content_layout: str = "Original"

    @classmethod
    def from_settings(cls, settings: Settings, save_path: str) -> AddOptions:
        return cls(
            save_path=save_path,
            category=settings.qbit_category,
            tags=list(settings.qbit_tags),
            paused=settings.qbit_paused,
            skip_checking=settings.qbit_skip_checking,
        )


class AddResult(BaseModel):
    """`added` is False when the torrent was already there or someone else added it."""

    added: bool
    answer: str
    torrent: TorrentView


class SeedVerdict(StrEnum):
    SEEDING = "seeding"
    PAUSED_COMPLETE = "paused_complete"
    MISSING_FILES = "missing_files"  # missingFiles / error: the files are not where it looks
    INCOMPLETE = "incomplete"  # settled in a downloading state below 100%
    GONE = "gone"  # removed from qBittorrent while we watched
    TIMEOUT = "timeout"  # still checking (or unreachable) when time ran out


class SeedCheck(BaseModel):
    verdict: SeedVerdict
    torrent: TorrentView | None
    seconds: float
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict in (SeedVerdict.SEEDING, SeedVerdict.PAUSED_COMPLETE)


class QbitVersion(BaseModel):
    app: str
    web_api: str


def same_path(a: str, b: str) -> bool:
    return a.rstrip("/\\") == b.rstrip("/\\")


class QbitClient:
    """A typed, async, idempotent face of qbittorrent-api. Usable by `mamfast doctor`."""

    def __init__(self, url: str, username: str, password: str | None) -> None:
        self.url = mask_url(url, keep="path")  # for messages
        self.username = username
        self._secrets = tuple(s for s in (password, url) if s and s != self.url)
        self._client = qbittorrentapi.Client(
            host=url,
            username=username,
            password=password or "",
            REQUESTS_ARGS={"timeout": REQUEST_TIMEOUT},
            DISABLE_LOGGING_DEBUG_OUTPUT=True,
        )
        self._lock = threading.Lock()
        self._used = False  # a call was made, so there may be a session to end

    @classmethod
    def from_settings(cls, settings: Settings) -> QbitClient:
        if not settings.qbit_url:
            raise ConfigError("MAMFAST_QBIT_URL is not set", hint="set it to qBittorrent's WebUI")
        return cls(settings.qbit_url, settings.qbit_username, settings.secret("qbit_password"))

    async def close(self) -> None:
        """End our login session: qBittorrent keeps every session in memory until it
        expires, and workers restart. Best effort, and never a wait of more than
        `LOGOUT_WAIT` at shutdown: the log-out runs in a thread of its own that a hung
        qBittorrent may keep, but that never keeps the process from exiting."""
        if not self._used:
            return
        self._used = False
        ended = threading.Event()

        def log_out() -> None:
            with contextlib.suppress(Exception), self._lock:
                self._client.auth_log_out(requests_args={"timeout": LOGOUT_TIMEOUT})
            ended.set()

        threading.Thread(target=log_out, name="qbit-logout", daemon=True).start()
        await asyncio.to_thread(ended.wait, LOGOUT_WAIT)

    # ------------------------------------------------------------------ plain calls

    async def login(self) -> None:
        """Log in now (a check for `doctor`; jobs log in on first use)."""
        await self._call("log in", self._client.auth_log_in)

    async def version(self) -> QbitVersion:
        def read() -> QbitVersion:
            return QbitVersion(
                app=str(self._client.app_version()), web_api=str(self._client.app_web_api_version())
            )

        return await self._call("read the version", read)

    async def get(self, infohash: str) -> TorrentView | None:
        """The torrent with this v1 infohash, or None."""
        return (await self.many([infohash])).get(infohash.lower())

    async def many(self, infohashes: list[str]) -> dict[str, TorrentView]:
        """The torrents among these v1 infohashes, by lower-case hash, in one request
        (the library POSTs the list, so its length is no URL limit). Absent ones are
        left out."""
        wanted = {h.lower() for h in infohashes}
        if not wanted:
            return {}
        found = await self._call(
            "look up torrents", self._client.torrents_info, torrent_hashes=sorted(wanted)
        )
        views = (TorrentView.model_validate(dict(entry)) for entry in found)
        return {view.hash.lower(): view for view in views if view.hash.lower() in wanted}

    async def torrents(self) -> list[TorrentView]:
        """Every torrent in the client (for clean-up: which folders are in use)."""
        found = await self._call("list torrents", self._client.torrents_info)
        return [TorrentView.model_validate(dict(entry)) for entry in found]

    async def recheck(self, infohash: str) -> None:
        await self._call(
            "recheck a torrent", self._client.torrents_recheck, torrent_hashes=infohash
        )

    async def set_location(self, infohash: str, save_path: str) -> None:
        await self._call(
            "change a save path",
            self._client.torrents_set_location,
            location=save_path,
            torrent_hashes=infohash,
        )

    async def remove(self, infohash: str) -> None:
        """Remove a torrent from the client, keeping its files (doctor's probe only)."""
        await self._call(
            "remove a torrent",
            self._client.torrents_delete,
            delete_files=False,
            torrent_hashes=infohash,
        )

    # ------------------------------------------------------------------ add, once

    async def add(self, torrent: bytes, infohash: str, options: AddOptions) -> AddResult:
        """Add unless present; a lost or ambiguous answer is settled by looking the hash up.

        Callers serialize adds of one infohash (a Redis lock), but this is safe
        without it too: qBittorrent never holds two torrents with one infohash.
        """
        existing = await self.get(infohash)
        if existing is not None:
            return AddResult(added=False, answer="already present", torrent=existing)
        accepted, answer = await self._add_once(torrent, infohash, options)
        listed = await self._wait_listed(infohash, CONFIRM_SECONDS)
        if listed is not None:
            return AddResult(added=accepted, answer=answer, torrent=listed)
        if accepted:
            raise TransientError(
                f"qBittorrent answered {answer!r} to the add but did not list torrent "
                f"{infohash} within {CONFIRM_SECONDS:.0f}s",
                hint="it may be busy; the add is checked again on the next attempt",
            )
        raise UploadError(
            f"qBittorrent did not add torrent {infohash} (it answered {answer!r}) "
            "and does not have it",
            hint="see qBittorrent's execution log for why it refused the torrent",
        )

    async def _add_once(
        self, torrent: bytes, infohash: str, options: AddOptions
    ) -> tuple[bool, str]:
        """(accepted, qBittorrent's answer). Not accepted means "maybe already there"."""
        try:
            reply = await self._call(
                "add a torrent",
                self._client.torrents_add,
                torrent_files={f"{infohash}.torrent": torrent},
                save_path=options.save_path,
                content_layout=options.content_layout,
                use_auto_torrent_management=False,  # else a category's path overrides ours
                category=options.category or None,
                tags=options.tags or None,
                is_stopped=options.paused,  # the library sends `paused` (4.x) and `stopped` (5.x)
                is_skip_checking=options.skip_checking,
            )
        except _Conflict as exc:  # 5.2+: nothing added, most likely a duplicate
            return False, exc.message
        return _read_add_reply(reply)

    async def _wait_listed(self, infohash: str, seconds: float) -> TorrentView | None:
        deadline = time.monotonic() + seconds
        while True:
            view = await self.get(infohash)
            if view is not None or time.monotonic() >= deadline:
                return view
            await asyncio.sleep(CONFIRM_POLL)

    # ------------------------------------------------------------------ seeding

    async def wait_seeding(
        self,
        infohash: str,
        *,
        timeout: float,
        settle: float = INCOMPLETE_SETTLE,
    ) -> SeedCheck:
        """Watch the torrent until it seeds, or until it is clear that it cannot.

        Connection errors while watching are waited out (qBittorrent restarting).
        A downloading state must last `settle` seconds, because qBittorrent can
        show one for a moment before its check starts, and a vanished torrent
        must stay away as long (a restart may still be loading it). A paused
        torrent is never checked by qBittorrent on its own, so one that shows
        incomplete is rechecked once (it stops again after the check).
        """
        watch = SeedWatch(started=time.monotonic(), settle=settle)
        view: TorrentView | None = None
        last_error: str | None = None
        while True:
            now = time.monotonic()
            try:
                view = await self.get(infohash)
                last_error = None
                if not watch.rechecked and _unchecked_pause(view):
                    await self.recheck(infohash)
                    watch.rechecked = True
            except TransientError as exc:
                last_error = str(exc)
            else:
                verdict = watch.judge(view, now)
                if verdict is not None:
                    return SeedCheck(verdict=verdict, torrent=view, seconds=now - watch.started)
            if now - watch.started >= timeout:
                return SeedCheck(
                    verdict=SeedVerdict.TIMEOUT,
                    torrent=view,
                    seconds=now - watch.started,
                    last_error=last_error,
                )
            await asyncio.sleep(SEED_POLL if now - watch.started < FAST_POLL_SECONDS else SLOW_POLL)

    # ------------------------------------------------------------------ plumbing

    async def _call(self, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        self._used = True
        try:
            return await asyncio.to_thread(self._locked, fn, *args, **kwargs)
        except qbittorrentapi.APIError as exc:
            raise self._translate(what, exc) from None

    def _locked(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return fn(*args, **kwargs)

    def _translate(self, what: str, exc: qbittorrentapi.APIError) -> MamfastError:
        """One of our errors, in plain words, with the secrets taken out."""
        # qBittorrent's and requests' messages may quote the URL (maybe with a password).
        detail = scrub(str(exc).strip() or type(exc).__name__, secrets=self._secrets, keep="path")
        detail = detail[:500]
        where = f"qBittorrent at {self.url}"
        if isinstance(exc, qbittorrentapi.LoginFailed):
            return ConfigError(
                f"{where} refused the login for user {self.username!r}", hint=LOGIN_HINT
            )
        if isinstance(exc, qbittorrentapi.Forbidden403Error):
            return ConfigError(
                f"{where} refused access ({detail}); after too many failed logins it bans "
                "the address for a while",
                hint=LOGIN_HINT,
            )
        if isinstance(exc, qbittorrentapi.Unauthorized401Error):
            return ConfigError(
                f"{where} rejected the request ({detail})",
                hint="check MAMFAST_QBIT_URL matches the WebUI address, and the WebUI's "
                "host header validation / server domains",
            )
        if isinstance(exc, qbittorrentapi.Conflict409Error):
            return _Conflict(f"409 Conflict: {detail}")
        if isinstance(exc, qbittorrentapi.UnsupportedMediaType415Error):
            return UploadError(
                f"{where} says the .torrent is not valid: {detail}",
                hint="re-create it: `mamfast reset <asin> --stage torrent`",
            )
        if isinstance(
            exc, qbittorrentapi.NotFound404Error | qbittorrentapi.exceptions.HTTP405Error
        ):
            return ConfigError(
                f"{where} has no such API ({detail}); is this qBittorrent's WebUI?",
                hint=URL_HINT,
            )
        if isinstance(exc, qbittorrentapi.HTTP4XXError):
            return UploadError(f"{where} refused to {what}: {detail}")
        if isinstance(exc, qbittorrentapi.HTTP5XXError):
            return TransientError(f"{where} failed to {what} (server error: {detail})")
        if isinstance(exc, qbittorrentapi.APIConnectionError):
            return TransientError(f"cannot reach {where} to {what}: {detail}", hint=URL_HINT)
        return TransientError(f"{where}: could not {what}: {detail}")


class _Conflict(MamfastError):
    """409 from torrents/add (qBittorrent 5.2+): the torrent may already be there."""


def _read_add_reply(reply: object) -> tuple[bool, str]:
    """4.5-5.1 answer `Ok.`/`Fails.`; 5.2+ a JSON count (pending = accepted, still loading)."""
    if isinstance(reply, str):
        return reply.strip() == "Ok.", reply.strip()
    if isinstance(reply, dict):
        success = int(reply.get("success_count", 0) or 0)
        pending = int(reply.get("pending_count", 0) or 0)
        failed = int(reply.get("failure_count", 0) or 0)
        answer = f"success_count={success} pending_count={pending} failure_count={failed}"
        return success + pending > 0, answer
    return False, repr(reply)[:200]


def _unchecked_pause(view: TorrentView | None) -> bool:
    return view is not None and view.condition is Condition.PAUSED_INCOMPLETE


_CONCLUSIVE = {
    Condition.SEEDING: SeedVerdict.SEEDING,
    Condition.PAUSED_COMPLETE: SeedVerdict.PAUSED_COMPLETE,
    Condition.BROKEN: SeedVerdict.MISSING_FILES,
}


@dataclass
class SeedWatch:
    """A seeding verdict from successive looks at one torrent (`wait_seeding` polls it)."""

    started: float
    settle: float
    incomplete_since: float | None = None
    gone_since: float | None = None
    rechecked: bool = False

    def judge(self, view: TorrentView | None, now: float) -> SeedVerdict | None:
        """A verdict once the state is conclusive, else None (keep watching)."""
        if view is None:
            self.gone_since = self.gone_since if self.gone_since is not None else now
            return SeedVerdict.GONE if now - self.gone_since >= self.settle else None
        self.gone_since = None
        condition = view.condition
        if condition in _CONCLUSIVE:
            return _CONCLUSIVE[condition]
        if condition is Condition.BUSY:
            self.incomplete_since = None
            return None
        if self.incomplete_since is None:
            self.incomplete_since = now
        return SeedVerdict.INCOMPLETE if now - self.incomplete_since >= self.settle else None
