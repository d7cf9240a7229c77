"""`mamfast doctor`: check a setup end to end, each check with a fix.

Path mapping is the first support problem in this niche (hardlinks that
silently become copies, a client that cannot find the files), so the checks
prove things rather than read settings: they make a real hardlink, and ask
qBittorrent where it saves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel

from mamfast.config import Settings
from mamfast.connections import connect, mask_url
from mamfast.embedded import default_redis_url
from mamfast.errors import MamfastError


class Check(BaseModel):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False
    warning: bool = False  # works, but degraded (does not fail the doctor)


CheckFn = Callable[[Settings], Awaitable[Check]]


def passed(name: str, detail: str) -> Check:
    return Check(name=name, ok=True, detail=detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name=name, ok=False, detail=detail, fix=fix)


def skipped(name: str, detail: str) -> Check:
    return Check(name=name, ok=True, detail=detail, skipped=True)


def warned(name: str, detail: str, fix: str) -> Check:
    return Check(name=name, ok=True, detail=detail, fix=fix, warning=True)


# --------------------------------------------------------------------------- Redis


async def check_redis(settings: Settings) -> Check:
    name = "redis"
    url = settings.secret("redis_url") or default_redis_url(settings)
    shown = mask_url(url)
    try:
        redis = await connect(url, retries=0)
    except Exception as exc:
        if settings.redis_url is None:
            return skipped(name, f"no private Redis running at {shown}; `mamfast run` starts one")
        return failed(
            name,
            exc.message if isinstance(exc, MamfastError) else f"cannot reach {shown}: {exc}",
            "start Redis or fix MAMFAST_REDIS_URL",
        )
    try:
        aof = (await redis.config_get("appendonly")).get("appendonly")
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy")
    finally:
        await redis.aclose()
    problems = []
    if aof != "yes":
        problems.append("AOF is off (a restart loses queued work)")
    if policy != "noeviction":
        problems.append(f"maxmemory-policy is {policy} (Redis may evict queue keys)")
    if problems:
        return failed(
            name,
            f"{shown}: " + "; ".join(problems),
            "run redis-server with --appendonly yes --maxmemory-policy noeviction",
        )
    return passed(name, f"{shown} reachable, AOF on, noeviction")


# --------------------------------------------------------------------------- folders


async def check_library(settings: Settings) -> Check:
    name = "library"
    library = settings.library_dir
    if library is None:
        return failed(name, "MAMFAST_LIBRARY_DIR is not set", "set it to Libation's book folder")
    if not library.is_dir():
        return failed(name, f"{library} is not a folder", "fix MAMFAST_LIBRARY_DIR (mounted?)")
    if not os.access(library, os.R_OK | os.X_OK):
        return failed(
            name, f"{library} is not readable", "give the mamfast user read access (PUID)"
        )
    return passed(name, f"{library} readable")


async def check_writable(settings: Settings) -> Check:
    name = "output folders"
    problems = []
    for label, folder in (("seed", settings.seed_path), ("torrent", settings.torrent_path)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".mamfast-doctor-"):
                pass
        except OSError as exc:
            problems.append(f"{label} dir {folder}: {exc.strerror or exc}")
    if problems:
        return failed(
            name, "; ".join(problems), "fix MAMFAST_SEED_DIR/MAMFAST_TORRENT_DIR or PUID/PGID"
        )
    return passed(name, f"{settings.seed_path} and {settings.torrent_path} writable")


async def check_same_filesystem(settings: Settings) -> Check:
    """Make (and remove) a real hardlink from the library into the seed dir."""
    name = "hardlinks"
    library = settings.library_dir
    if library is None or not library.is_dir():
        return skipped(name, "no library to link from")
    source = _any_file(library)
    if source is None:
        return skipped(name, f"{library} holds no file to test a hardlink with")
    target = settings.seed_path / f".mamfast-doctor-link-{os.getpid()}"
    try:
        settings.seed_path.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
    except OSError as exc:
        if exc.errno == 18:  # EXDEV
            return failed(
                name,
                f"{library} and {settings.seed_path} are on different filesystems "
                f"(devices {source.stat().st_dev} and {settings.seed_path.stat().st_dev})",
                "mount one host folder (e.g. /data) holding both library and seed dir, "
                "in every container (TRaSH layout)",
            )
        return failed(
            name, f"cannot hardlink into {settings.seed_path}: {exc}", "check permissions"
        )
    finally:
        with contextlib.suppress(OSError):
            target.unlink()
    return passed(name, f"hardlink {library} -> {settings.seed_path} works (same filesystem)")


def _any_file(folder: Path, limit: int = 5000) -> Path | None:
    for seen, path in enumerate(folder.rglob("*")):
        if seen > limit:
            return None
        if path.is_file() and not path.is_symlink():
            return path
    return None


# --------------------------------------------------------------------------- tools


async def check_mediainfo(settings: Settings) -> Check:
    """Run the configured MediaInfo backend on a sample shipped with mamfast."""
    from importlib import resources

    from mamfast.errors import MamfastError
    from mamfast.mediainfo import backend_command, probe

    name = "mediainfo"
    argv, backend = backend_command(settings)
    sample = resources.files("mamfast") / "data" / "demo" / "book.m4b"
    try:
        with resources.as_file(sample) as path:
            result = await probe([path], settings)
    except MamfastError as exc:
        return failed(
            name,
            f"the {backend} backend ({argv[0]}) could not read a sample: {exc.message}",
            "install mediainfo (apt-get install mediainfo) or fix MAMFAST_MEDIAINFO_CMD",
        )
    info = result.info
    return passed(name, f"{backend} backend ({argv[0]}): sample read as {info.codec_label}")


async def check_mkbrr(settings: Settings) -> Check:
    name = "mkbrr"
    if settings.torrent_backend != "mkbrr":
        return skipped(name, "not used (MAMFAST_TORRENT_BACKEND=builtin)")
    argv = shlex.split(settings.mkbrr_cmd)
    if not argv or shutil.which(argv[0]) is None:
        return failed(name, f"{argv[0] if argv else '(empty)'} not found", "fix MAMFAST_MKBRR_CMD")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, "version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    except (OSError, TimeoutError) as exc:
        return failed(
            name, f"`{settings.mkbrr_cmd} version` failed: {exc}", "fix MAMFAST_MKBRR_CMD"
        )
    if proc.returncode != 0:
        return failed(name, f"`mkbrr version` exited {proc.returncode}", "fix MAMFAST_MKBRR_CMD")
    return passed(name, out.decode(errors="replace").strip().splitlines()[0][:80] if out else "ok")


async def check_announce(settings: Settings) -> Check:
    name = "announce URL"
    url = settings.secret("announce_url")
    if not url:
        return failed(
            name,
            "MAMFAST_ANNOUNCE_URL is not set: torrents get no tracker",
            "copy your announce URL (with passkey) from MAM's upload page",
        )
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or '?'}/***"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return failed(
            name, f"{shown} is not an http(s) URL", "copy it again from MAM's upload page"
        )
    if not any(len(seg) >= 16 for seg in parts.path.split("/")):
        return failed(
            name,
            f"{shown} carries no passkey",
            "copy the URL with your passkey from MAM's upload page",
        )
    return passed(name, f"{shown} (passkey hidden)")


# --------------------------------------------------------------------------- services


async def check_qbit(settings: Settings) -> Check:
    from mamfast.errors import MamfastError
    from mamfast.qbit import QbitClient

    name = "qBittorrent"
    if not settings.qbit_url:
        return skipped(name, "MAMFAST_QBIT_URL not set: releases stop at `ready` (nothing added)")
    client = QbitClient.from_settings(settings)
    try:
        await client.login()
        version = await client.version()
    except MamfastError as exc:
        return failed(name, f"{client.url}: {exc.message}", exc.hint or "check MAMFAST_QBIT_URL")
    finally:
        await client.close()
    return passed(
        name,
        f"{client.url}: {version.app} (Web API {version.web_api}), logged in as "
        f"{settings.qbit_username}",
    )


PROBE_NAME = "mamfast-doctor-probe"


async def check_qbit_paths(settings: Settings) -> Check:
    """Prove the path mapping: qBittorrent must find a probe file we just wrote."""
    from mamfast.errors import MamfastError
    from mamfast.pathmap import PathMap
    from mamfast.qbit import AddOptions, QbitClient

    name = "qBittorrent paths"
    if not settings.qbit_url:
        return skipped(name, "no qBittorrent configured")
    folder = settings.seed_path / PROBE_NAME
    client = QbitClient.from_settings(settings)
    infohash = None
    try:
        mapping = PathMap.parse(settings.qbit_path_map, setting="MAMFAST_QBIT_PATH_MAP")
        torrent, infohash = await _probe_torrent(settings, folder)
        theirs = mapping.to_theirs(str(settings.seed_path))
        options = AddOptions(
            save_path=theirs,
            category=settings.qbit_category,
            tags=["mamfast-doctor"],
            paused=True,
            skip_checking=False,
        )
        await client.add(torrent, infohash, options)
        check = await client.wait_seeding(infohash, timeout=30, settle=2)
    except MamfastError as exc:
        return failed(name, exc.message, exc.hint or "see the message")
    finally:
        if infohash is not None:
            with contextlib.suppress(Exception):
                await client.remove(infohash)
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)
    if check.ok:
        return passed(name, f"qBittorrent finds our {settings.seed_path} at {theirs}")
    seen = check.torrent.describe() if check.torrent else "nothing"
    return failed(
        name,
        f"we wrote {folder}; qBittorrent, told to look in {theirs}, reports {seen}",
        "set MAMFAST_QBIT_PATH_MAP to `our_path:qbittorrent_path` for the folder both see "
        f"(now {settings.qbit_path_map or 'empty'})",
    )


async def _probe_torrent(settings: Settings, folder: Path) -> tuple[bytes, str]:
    from concurrent.futures import ThreadPoolExecutor

    from mamfast.torrents.create import create_torrent

    def write_probe() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "probe.bin").write_bytes(os.urandom(64 * 1024))

    await asyncio.to_thread(write_probe)
    with ThreadPoolExecutor(max_workers=1) as pool:
        made = await create_torrent(folder, source="mamfast-doctor", announce=None, executor=pool)
    return made.data, made.infohash


async def check_audnex(settings: Settings) -> Check:
    import aiohttp

    name = "Audnex"
    url = f"{settings.audnex_url.rstrip('/')}/books/B08G9PRS1K?region={settings.audnex_regions[0]}"
    # Audnex is optional unless required: without it releases use Libation's metadata.
    bad = failed if settings.audnex_required else warned
    fallback = (
        "releases wait and retry until it answers (MAMFAST_AUDNEX_REQUIRED=true)"
        if settings.audnex_required
        else "mamfast goes on with Libation's metadata (MAMFAST_AUDNEX_REQUIRED=true waits instead)"
    )
    try:
        timeout = aiohttp.ClientTimeout(total=min(settings.audnex_timeout, 15))
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as reply:
            status = reply.status
            body = await reply.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return bad(name, f"{settings.audnex_url} unreachable ({type(exc).__name__})", fallback)
    if status >= 500 or not body.lstrip().startswith("{"):
        return bad(name, f"{settings.audnex_url} answered HTTP {status} without JSON", fallback)
    return passed(name, f"{settings.audnex_url} answers (HTTP {status})")


BASE_CHECKS: list[CheckFn] = [
    check_redis,
    check_library,
    check_writable,
    check_same_filesystem,
    check_mediainfo,
    check_mkbrr,
    check_announce,
    check_qbit,
    check_qbit_paths,
    check_audnex,
]


async def run_checks(settings: Settings, checks: list[CheckFn] | None = None) -> list[Check]:
    results = []
    for check in checks or all_checks():
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(check(settings), 60)
        except Exception as exc:  # a check that crashes is a failed check, not a crash
            result = failed(
                check.__name__.removeprefix("check_"), f"{type(exc).__name__}: {exc}", ""
            )
        result.detail += "" if time.monotonic() - started < 5 else " (slow)"
        results.append(result)
    return results


def all_checks() -> list[CheckFn]:
    return list(BASE_CHECKS)
