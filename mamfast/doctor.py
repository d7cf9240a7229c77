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


class Check(BaseModel):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False


CheckFn = Callable[[Settings], Awaitable[Check]]


def passed(name: str, detail: str) -> Check:
    return Check(name=name, ok=True, detail=detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name=name, ok=False, detail=detail, fix=fix)


def skipped(name: str, detail: str) -> Check:
    return Check(name=name, ok=True, detail=detail, skipped=True)


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
            f"cannot reach {shown}: {type(exc).__name__}",
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
    name = "mediainfo"
    command = settings.mediainfo_cmd or "mediainfo"
    found = shutil.which(shlex.split(command)[0])
    if found:
        return passed(name, f"{found}")
    if settings.mediainfo_cmd:
        return failed(
            name, f"{command!r} not found", "fix MAMFAST_MEDIAINFO_CMD or install mediainfo"
        )
    try:
        import pymediainfo

        if pymediainfo.MediaInfo.can_parse():
            return passed(name, "no mediainfo CLI; using the libmediainfo bundled with pymediainfo")
    except Exception as exc:
        return failed(
            name,
            f"no mediainfo CLI and the bundled library fails ({exc})",
            "apt-get install mediainfo",
        )
    return failed(name, "no mediainfo found", "apt-get install mediainfo")


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


BASE_CHECKS: list[CheckFn] = [
    check_redis,
    check_library,
    check_writable,
    check_same_filesystem,
    check_mediainfo,
    check_mkbrr,
    check_announce,
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
