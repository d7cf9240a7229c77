"""The dashboard's actions: retry, reset a stage, rescan, mark uploaded or not.

Each is the same operator action the command line runs (`engine.control`,
`ops.enqueue`), under the release lock where there is one. The middleware has
already checked the token and, for a browser, the origin and the CSRF value.
Answers are JSON: `{"ok": bool, "message": "..."}`, the message in plain words.
"""

from __future__ import annotations

import logging

from aiohttp import web

from mamfast.asin import normalize
from mamfast.engine import control
from mamfast.errors import MamfastError
from mamfast.models import Stage
from mamfast.ops.enqueue import enqueue
from mamfast.web.context import ENGINE, READER

log = logging.getLogger(__name__)


def answer(ok: bool, message: str) -> web.Response:
    return web.json_response({"ok": ok, "message": message}, status=200 if ok else 409)


def _asin(request: web.Request) -> str:
    try:
        return normalize(request.match_info["asin"])
    except ValueError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


def _result(request: web.Request, result: control.ActionResult) -> web.Response:
    request.app[READER].touched(result.asin)  # the next tick shows it, finished or not
    return answer(result.ok, result.message)


async def retry(request: web.Request) -> web.Response:
    return _result(request, await control.retry(request.app[ENGINE], _asin(request)))


async def reset(request: web.Request) -> web.Response:
    asin = _asin(request)
    form = await request.post()
    try:
        stage = Stage(str(form.get("stage", "")))
    except ValueError:
        return answer(False, "choose a stage to re-run: stage, metadata, torrent, upload")
    return _result(request, await control.reset(request.app[ENGINE], asin, stage))


async def mark_uploaded(request: web.Request) -> web.Response:
    asin = _asin(request)
    form = await request.post()
    uploaded = str(form.get("uploaded", "1")) != "0"
    return _result(
        request, await control.mark_uploaded(request.app[ENGINE], asin, uploaded=uploaded)
    )


async def rescan(request: web.Request) -> web.Response:
    """A full library scan, as `mamfast enqueue`; new releases appear in the list live."""
    engine = request.app[ENGINE]
    if engine.settings.library_dir is None:
        return answer(False, "MAMFAST_LIBRARY_DIR is not set: there is no library to scan")
    try:
        report = await enqueue(engine)
    except MamfastError as exc:
        return answer(False, str(exc))
    rejected = len(report.discovery.rejects)
    problems = (
        f"; {rejected} folder(s) rejected (see `mamfast enqueue --dry-run`)" if rejected else ""
    )
    log.info("rescan from the dashboard: %d new release(s)", report.new)
    return answer(True, f"scanned the library: {report.new} new release(s){problems}")
