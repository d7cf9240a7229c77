"""`mamfast doctor`: check a setup end to end, each check with a fix.

Path mapping is the first support problem in this niche (hardlinks that
silently become copies, a client that cannot find the files), so the checks
prove things rather than read settings: they make a real hardlink, and ask
qBittorrent where it saves.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
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
from mamfast.engine.connections import check_version, connect
from mamfast.fs.owner import file_owner
from mamfast.fs.permissions import (
    call_as,
    configured_folders,
    describe,
    permission_error,
    refused,
    worker_identity,
)
from mamfast.redact import mask_url


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
    """The configured Redis, or the private one (started for the check, as any command does)."""
    from mamfast.errors import MamfastError
    from mamfast.ops.private_redis import claimed

    if settings.redis_url is not None:
        return await _check_redis_at(settings.secret("redis_url") or "", private=False)
    try:
        with claimed(settings) as url:
            return await _check_redis_at(url or "", private=True)
    except MamfastError as exc:  # no usable redis-server, or it would not start
        return failed(
            "redis",
            f"cannot start the private Redis: {exc.message}",
            exc.hint or "set MAMFAST_REDIS_URL to a Redis you run",
        )


async def _check_redis_at(url: str, *, private: bool) -> Check:
    from mamfast.errors import MamfastError

    name = "redis"
    shown = mask_url(url, keep="path")
    try:
        redis = await connect(url, retries=0)
    except MamfastError as exc:
        return failed(name, exc.message, exc.hint)
    try:
        version = await check_version(redis, url)
        server = await redis.info("server")
        aof = (await redis.config_get("appendonly")).get("appendonly")
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy")
    except MamfastError as exc:
        return failed(name, exc.message, exc.hint)
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
    which = (
        f"mamfast's private Redis ({server.get('executable') or 'redis-server'}), "
        if private
        else ""
    )
    return passed(name, f"{shown}: {which}Redis {version}, AOF on, noeviction")


# --------------------------------------------------------------------------- folders
#
# Checked as the user the workers run as: in Docker that is PUID:PGID, while
# `docker compose exec worker mamfast doctor` runs as root and could write anywhere.
# Running as root with PUID/PGID set, they run in a forked child with that uid, gid and
# UMASK (`permissions.call_as`).


class FolderPlan(BaseModel):
    """The folders the checks look at, by the setting that names them."""

    folders: dict[str, Path]

    @property
    def library(self) -> Path | None:
        return self.folders.get("MAMFAST_LIBRARY_DIR")

    def outputs(self) -> list[tuple[str, Path]]:
        return [
            (label, self.folders[key])
            for label, key in (("seed", "MAMFAST_SEED_DIR"), ("torrent", "MAMFAST_TORRENT_DIR"))
            if key in self.folders
        ]


async def check_library(settings: Settings) -> Check:
    return await run_folder_check(settings, "library")


async def check_writable(settings: Settings) -> Check:
    return await run_folder_check(settings, "output folders")


async def check_same_filesystem(settings: Settings) -> Check:
    return await run_folder_check(settings, "hardlinks")


async def run_folder_check(settings: Settings, name: str) -> Check:
    identity = worker_identity(settings)
    plan = FolderPlan(folders=configured_folders(settings))
    check_fn = FOLDER_CHECKS[name]
    if identity.from_puid and (identity.uid, identity.gid) != (os.geteuid(), os.getegid()):
        umask = file_owner(settings).umask
        try:
            out = await call_as(identity, umask, lambda: check_fn(plan).model_dump_json())
        except OSError as exc:
            return failed(name, f"could not check as {identity}: {exc}", "unset PUID/PGID")
        check = Check.model_validate_json(out)
    else:
        check = await asyncio.to_thread(check_fn, plan)
    if check.ok and not check.skipped:
        check.detail += f", checked as {identity}"
    elif not check.ok and identity.from_puid:  # the message names the uid; say why that one
        check.detail += " (PUID/PGID: the user the workers run as)"
    return check


def library_check(plan: FolderPlan) -> Check:
    name = "library"
    library = plan.library
    if library is None:
        return failed(name, "MAMFAST_LIBRARY_DIR is not set", "set it to Libation's book folder")
    if not library.is_dir():
        return failed(name, f"{library} is not a folder", "fix MAMFAST_LIBRARY_DIR (mounted?)")
    if not os.access(library, os.R_OK | os.X_OK):
        error = refused(plan.folders, library, "cannot read")
        return failed(name, error.message, error.hint)
    return passed(name, f"{library} readable")


def writable_check(plan: FolderPlan) -> Check:
    name = "output folders"
    problems: list[str] = []
    fixes: list[str] = []
    for label, folder in plan.outputs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".mamfast-doctor-"):
                pass
        except PermissionError as exc:
            error = permission_error(plan.folders, exc)
            # The second folder is usually refused by the same parent: say it once.
            said = any(f == error.hint for f in fixes)
            problems.append(f"the {label} dir {folder} too" if said else error.message)
            fixes.append(error.hint)
        except OSError as exc:
            problems.append(f"{label} dir {folder}: {exc.strerror or exc}")
            fixes.append("fix MAMFAST_SEED_DIR/MAMFAST_TORRENT_DIR")
    if problems:
        return failed(name, "; ".join(problems), fixes[0])
    return passed(name, " and ".join(str(f) for _, f in plan.outputs()) + " writable")


def hardlink_check(plan: FolderPlan) -> Check:
    """Make (and remove) a real hardlink from the library into the seed dir."""
    name = "hardlinks"
    library, seed = plan.library, plan.folders["MAMFAST_SEED_DIR"]
    if library is None or not library.is_dir():
        return skipped(name, "no library to link from")
    source = _any_file(library)
    if source is None:
        return skipped(name, f"{library} holds no file to test a hardlink with")
    target = seed / f".mamfast-doctor-link-{os.getpid()}"
    try:
        seed.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return failed(
                name,
                f"{library} and {seed} are on different filesystems "
                f"(devices {source.stat().st_dev} and {seed.stat().st_dev})",
                "mount one host folder (e.g. /data) holding both library and seed dir, "
                "in every container (TRaSH layout)",
            )
        if exc.errno == errno.EPERM:  # fs.protected_hardlinks: not our file, not writable
            return failed(
                name,
                f"the system refuses to hardlink {source} ({describe(source)}) for this user",
                "run mamfast as the owner of the library files (PUID/PGID), or give it "
                "write access to them (Linux fs.protected_hardlinks)",
            )
        if isinstance(exc, PermissionError):
            error = permission_error(plan.folders, exc)
            return failed(name, f"cannot hardlink into {seed}: {error.message}", error.hint)
        return failed(name, f"cannot hardlink into {seed}: {exc}", "check permissions")
    finally:
        with contextlib.suppress(OSError):
            target.unlink()
    return passed(name, f"hardlink {library} -> {seed} works (same filesystem)")


FOLDER_CHECKS: dict[str, Callable[[FolderPlan], Check]] = {
    "library": library_check,
    "output folders": writable_check,
    "hardlinks": hardlink_check,
}


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

    from mamfast.clients.mediainfo import backend_command, probe
    from mamfast.errors import MamfastError

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
    shown = mask_url(url, keep="host")
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
    from mamfast.clients.qbit import QbitClient
    from mamfast.errors import MamfastError

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
    from mamfast.clients.qbit import AddOptions, QbitClient
    from mamfast.errors import MamfastError
    from mamfast.pathmap import PathMap

    name = "qBittorrent paths"
    if not settings.qbit_url:
        return skipped(name, "no qBittorrent configured")
    folder = settings.seed_folder / PROBE_NAME
    client = QbitClient.from_settings(settings)
    infohash = None
    try:
        mapping = PathMap.parse(settings.qbit_path_map, setting="MAMFAST_QBIT_PATH_MAP")
        torrent, infohash = await _probe_torrent(settings, folder)
        theirs = mapping.to_theirs(str(settings.seed_folder))
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
        return passed(name, f"qBittorrent finds our {settings.seed_folder} at {theirs}")
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


async def check_libation(settings: Settings) -> Check:
    """MAMFAST_LIBATION_COMMAND can start (it is not run: it would download books)."""
    name = "libation command"
    if not settings.libation_command.strip():
        return skipped(name, "not set (MAMFAST_LIBATION_COMMAND)")
    try:
        argv = shlex.split(settings.libation_command)
    except ValueError as exc:
        return failed(name, f"cannot be read as a command line ({exc})", "fix its quoting")
    if not argv or shutil.which(argv[0]) is None:
        program = argv[0] if argv else "(empty)"
        return failed(
            name,
            f"{program} not found (the command runs without a shell)",
            "fix MAMFAST_LIBATION_COMMAND: a program on PATH or its full path",
        )
    return passed(name, f"{argv[0]} found; runs before scans, up to {settings.libation_timeout:g}s")


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
    check_libation,
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
