"""The pages: the releases list, one release, its files, and signing in.

Read-only handlers. Files a record points at are read only inside MAMFAST_TORRENT_DIR
(`fs.containment`): a record cannot make the dashboard show or send any other file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from mamfast.asin import normalize
from mamfast.engine.engine import Engine
from mamfast.errors import DamagedRecordError, NotOursError
from mamfast.fs.containment import in_torrent_dir
from mamfast.models import STAGE_ORDER, Release, Stage, Status
from mamfast.ops.seeding import RULE as SEEDING_RULE
from mamfast.web import present
from mamfast.web.context import ACCESS, ENGINE, POOL, READER, SEEDING, TEMPLATES
from mamfast.web.security import SESSION_COOKIE, set_session

MAX_SHOWN_FILE = 1_000_000  # bytes: a fast-fill JSON or a description is a few KB
HTML = "text/html"


def page(request: web.Request, template: str, **values: Any) -> web.Response:
    access = request.app[ACCESS]
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            csrf=access.csrf,
            signed_in=access.signed_in(request),
            open_reads=access.open_reads,
            **values,
        )
    )
    return web.Response(text=html, content_type=HTML)


async def index(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    filters = present.Filters.from_query(request.query)
    found = await request.app[READER].everything()
    max_attempts = engine.settings.max_attempts
    rows = [
        present.row(r, found.progress.get(r.asin), max_attempts)
        for r in found.records
        if filters.matches(r)
    ]
    return page(
        request,
        "index.html",
        rows=rows,
        filters=filters,
        counts=found.counts(),
        views=present.VIEW_LABELS,
        stages=[s.value for s in Stage],
        statuses=[s.value for s in Status],
        damaged=found.damaged,
        pool=await request.app[POOL].current(),
        seeding=await request.app[SEEDING].current(found.records),
        seeding_rule=SEEDING_RULE,
    )


async def release_page(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    release = await _release(request)
    found = await request.app[READER].one(release.asin)
    fastfill, description = await asyncio.gather(
        shown_file(engine, release.json_path), shown_file(engine, release.description_path)
    )
    # The panel reads every uploaded release's duty in one request and keeps it.
    everything = await request.app[READER].everything()
    seeding = await request.app[SEEDING].current(everything.records)
    return page(
        request,
        "release.html",
        r=release,
        row=present.row(release, found.progress.get(release.asin), engine.settings.max_attempts),
        timeline=present.timeline(release),
        fastfill=fastfill,
        description=description,
        reset_stages=[s.value for s in STAGE_ORDER],
        mam_upload_page=present.MAM_UPLOAD_PAGE,
        seeding=seeding,
        duty=seeding.of(release.asin),
        seeding_rule=SEEDING_RULE,
    )


async def fastfill_file(request: web.Request) -> web.Response:
    release = await _release(request)
    text = await shown_file(request.app[ENGINE], release.json_path)
    if text is None:
        raise web.HTTPNotFound(text=f"{release.asin} has no fast-fill JSON yet")
    return web.Response(text=text, content_type="application/json")


async def description_file(request: web.Request) -> web.Response:
    release = await _release(request)
    text = await shown_file(request.app[ENGINE], release.description_path)
    if text is None:
        raise web.HTTPNotFound(text=f"{release.asin} has no description yet")
    return web.Response(text=text, content_type="text/plain")


async def torrent_file(request: web.Request) -> web.StreamResponse:
    """The .torrent (it holds the passkey: the middleware asked for the token)."""
    engine = request.app[ENGINE]
    release = await _release(request)
    path = await asyncio.to_thread(_ours, engine, release.torrent_path)
    if path is None or path.suffix != ".torrent":
        raise web.HTTPNotFound(text=f"{release.asin} has no .torrent yet")
    response = web.FileResponse(path)
    response.content_type = "application/x-bittorrent"
    response.headers["Content-Disposition"] = _attachment(path.name)
    return response


async def shown_file(engine: Engine[Any], recorded: str | None) -> str | None:
    """A file the release made, as text; None when it is missing, too big or not ours."""
    return await asyncio.to_thread(_read_ours, engine, recorded)


def _read_ours(engine: Engine[Any], recorded: str | None) -> str | None:
    path = _ours(engine, recorded)
    if path is None or path.stat().st_size > MAX_SHOWN_FILE:
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def _ours(engine: Engine[Any], recorded: str | None) -> Path | None:
    if not recorded:
        return None
    try:
        path = in_torrent_dir(engine.settings, Path(recorded))
    except NotOursError:
        return None
    return path if path.is_file() and not path.is_symlink() else None


def _attachment(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename*=UTF-8''{quote(name)}"


async def _release(request: web.Request) -> Release:
    try:
        asin = normalize(request.match_info["asin"])
    except ValueError:
        raise web.HTTPNotFound(text="not an ASIN") from None
    try:
        release = await request.app[ENGINE].store.get(asin)
    except DamagedRecordError as exc:
        raise web.HTTPConflict(text=f"{exc.message}. What to do: {exc.hint}") from None
    if release is None:
        raise web.HTTPNotFound(text=f"no release with ASIN {asin}")
    return release


async def login_form(request: web.Request) -> web.Response:
    return page(request, "login.html", problem="")


async def login(request: web.Request) -> web.Response:
    access = request.app[ACCESS]
    form = await request.post()
    given = form.get("token")
    if not access.token_matches(given if isinstance(given, str) else None):
        response = page(request, "login.html", problem="That is not the dashboard's token.")
        response.set_status(401)
        return response
    redirect = web.HTTPSeeOther(location="/")
    set_session(redirect, access, secure=request.secure)
    raise redirect


async def logout(request: web.Request) -> web.Response:
    redirect = web.HTTPSeeOther(location="/login")
    redirect.del_cookie(SESSION_COOKIE, path="/")
    raise redirect
