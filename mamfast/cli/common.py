"""Helpers every command uses: settings, Redis, error reporting, output.

Every `mamfast` command imports this module, including `mamfast --help` and the
container healthcheck (`mamfast health`, every 15 s), so it imports only what
building the command tree needs. Settings, Redis/arq, the release store and
asyncio are imported inside the helpers that use them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import typer

from mamfast.display import printable
from mamfast.errors import ConfigError, MamfastError

if TYPE_CHECKING:
    from rich.console import Console

    from mamfast.config import Settings
    from mamfast.engine.engine import Engine
    from mamfast.stages.services import Services

T = TypeVar("T")

# No emoji codes: `mamfast:lock:scan` must not print a padlock. Outside text (titles,
# paths, messages quoting them) printed with markup goes through `shown()`: a title may
# contain `[/]`, an ESC sequence or a bidi override.
# Rich costs ~30 ms to import: the consoles are made on first use, so `--help` and the
# healthcheck, which print nothing through them, never load it.


class _ConsoleOnFirstUse:
    """Stands in for a `rich.console.Console`, created with `options` when first used."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def created(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.created(), name)

    # Special methods are looked up on the type, never through __getattr__.
    def __enter__(self) -> Console:
        return self.created().__enter__()

    def __exit__(self, *exc: object) -> None:
        self.created().__exit__(*exc)


def rich_console(console: Console) -> Console:
    """The Rich console itself, for Rich objects that drive it (Live, Progress)."""
    created = getattr(console, "created", None)
    return created() if callable(created) else console


console = cast("Console", _ConsoleOnFirstUse(emoji=False))
err_console = cast("Console", _ConsoleOnFirstUse(stderr=True, emoji=False))


def shown(text: object) -> str:
    """Outside text for a Rich markup string: terminal controls escaped, no markup of its own."""
    from rich.markup import escape

    return escape(printable(str(text)))


def fail(message: str, *, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {shown(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def asin_arg(value: str) -> str:
    """Typer parser for ASIN arguments: anything else (a path, a typo) is a usage error."""
    from mamfast.asin import normalize

    try:
        return normalize(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings every command starts from; UMASK becomes this process's umask, so what
    the command creates (a torrent, a JSON, the workers' files in `run`) follows it."""
    from mamfast.config import load_settings
    from mamfast.fs.owner import apply_umask

    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        fail(str(exc), code=2)
    apply_umask(settings)
    return settings


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a MamfastError becomes one plain line and exit 1."""
    import asyncio

    try:
        return asyncio.run(main)
    except ConfigError as exc:
        fail(str(exc), code=2)
    except MamfastError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except Exception as exc:
        lost = _lost_redis(exc)
        if lost is None:
            raise
        fail(lost)


def _lost_redis(exc: Exception) -> str | None:
    """Redis went away in the middle of a command: one line, not a traceback."""
    from mamfast.engine.connections import UNREACHABLE

    if not isinstance(exc, UNREACHABLE):
        return None
    return (
        f"lost the connection to Redis ({exc}): check that it is running, then run the "
        "command again"
    )


@contextlib.asynccontextmanager
async def opened_engine(settings: Settings) -> AsyncIterator[Engine[Services]]:
    """Redis plus the release store for one command: no stage clients, pools or sessions.

    Without MAMFAST_REDIS_URL this is the data dir's private Redis, shared with a
    `mamfast run` or worker that holds it, started for the command otherwise.
    """
    from mamfast.engine.connections import connect
    from mamfast.engine.engine import Engine
    from mamfast.ops.private_redis import redis_ready
    from mamfast.stages import default_pipeline

    async with redis_ready(settings) as ready:
        redis = await connect(ready.secret("redis_url") or "", retries=2)
        try:
            yield Engine(ready, redis, default_pipeline(ready))
        finally:
            await redis.aclose()


def with_engine(settings: Settings, body: Callable[[Engine[Services]], Awaitable[T]]) -> T:
    async def main() -> T:
        async with opened_engine(settings) as engine:
            return await body(engine)

    return run_async(main())


def setup_logging(level: str = "INFO") -> None:
    import logging  # only the long-running commands log; `--help` never needs it

    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(
        level=numeric,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # arq logs every job start and end at INFO; our stage log lines already say what
    # happened, so arq's chatter only shows when debugging.
    if numeric > logging.DEBUG:
        logging.getLogger("arq").setLevel(max(numeric, logging.WARNING))
