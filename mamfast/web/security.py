"""Who may do what on the dashboard, and the headers every answer carries.

Three rules:

* **Actions** (every POST) and the **.torrent download** (the passkey is inside the file)
  need the token: in the `X-Mamfast-Token` header (scripts), or as the session cookie
  that `/login` sets after the token was typed in once.
* A browser action is **CSRF-safe**: the cookie is `SameSite=Strict` and `HttpOnly`, the
  request's `Origin` must be this server, and it must carry the page's CSRF value (an
  HMAC of the token, never the token itself). A header token needs neither: a page
  elsewhere cannot make a browser send a custom header here.
* **Read-only pages** open without the token only when the server listens on loopback;
  on any other address (a container's 0.0.0.0) every page asks for it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

TOKEN_HEADER = "X-Mamfast-Token"  # noqa: S105 (a header name, not a secret)
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SESSION_COOKIE = "mamfast_session"
# /healthz is the container healthcheck; /metrics is scraped by Prometheus; /login is
# where the token is typed in. None of them shows a record or a secret.
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/metrics"})
PUBLIC_PREFIXES = ("/static/",)
# GET routes that hand out a secret: the .torrent file holds the announce passkey.
SECRET_ROUTES = frozenset({"torrent"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Access:
    """The token and whether read-only pages are open without it."""

    token: str
    open_reads: bool

    def derived(self, purpose: str) -> str:
        """A value bound to the token that does not reveal it (cookie, CSRF field)."""
        return hmac.new(self.token.encode(), purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def session(self) -> str:
        return self.derived("session")

    @property
    def csrf(self) -> str:
        return self.derived("csrf")

    def token_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def by_header(self, request: web.Request) -> bool:
        given = request.headers.get(TOKEN_HEADER)
        if given is None:
            auth = request.headers.get("Authorization", "")
            given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        return self.token_matches(given)

    def by_cookie(self, request: web.Request) -> bool:
        given = request.cookies.get(SESSION_COOKIE)
        return given is not None and hmac.compare_digest(given.encode(), self.session.encode())

    def signed_in(self, request: web.Request) -> bool:
        return self.by_header(request) or self.by_cookie(request)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def addressed_to_loopback(request: web.Request) -> bool:
    """The Host header names this machine. A page elsewhere can point its own host name
    at 127.0.0.1 (DNS rebinding) and read what it loads: its Host is that name, not ours."""
    try:
        host = urlsplit(f"//{request.host}").hostname or ""
    except ValueError:
        return False
    return is_loopback(host)


def same_origin(request: web.Request) -> bool:
    """The browser says the request comes from a page of this server."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return False
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return netloc == request.host


async def csrf_ok(request: web.Request, access: Access) -> bool:
    if not same_origin(request):
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        field = (await request.post()).get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    return given is not None and hmac.compare_digest(given.encode(), access.csrf.encode())


def refused(request: web.Request, status: int, message: str) -> web.Response:
    """Pages get a way to the login; scripts and actions get the reason as JSON."""
    wants_html = "text/html" in request.headers.get("Accept", "") and request.method == "GET"
    if wants_html and status == 401:
        raise web.HTTPSeeOther(location="/login")
    return web.json_response({"ok": False, "message": message}, status=status)


def needs_token(request: web.Request) -> bool:
    """Routes that hand out a secret or change something, whoever listens where."""
    if request.method not in ("GET", "HEAD"):
        return True
    return request.match_info.route.name in SECRET_ROUTES


def access_middleware(access: Access) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        public = request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)
        if not public:
            problem = await _problem(request, access)
            if problem is not None:
                return refused(request, *problem)
        return await handler(request)

    return check


async def _problem(request: web.Request, access: Access) -> tuple[int, str] | None:
    if needs_token(request):
        if access.by_header(request):
            return None
        if not access.by_cookie(request):
            return 401, "this needs the dashboard token (MAMFAST_WEB_TOKEN): sign in first"
        if request.method != "GET" and not await csrf_ok(request, access):
            return 403, "refused: the request did not come from this dashboard's own page"
        return None
    if (access.open_reads and addressed_to_loopback(request)) or access.signed_in(request):
        return None
    return 401, "this dashboard listens beyond this machine: sign in with its token"


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer, streams and error pages included, gets them just
    before its headers are sent (a middleware only sees a stream once it has started)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def set_session(response: web.StreamResponse, access: Access, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, access.session, httponly=True, samesite="Strict", secure=secure, path="/"
    )
