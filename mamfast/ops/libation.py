"""The optional Libation step before a scan (MAMFAST_LIBATION_COMMAND).

The tool mamfast replaces runs Libation's scan and download before it looks at the
library. mamfast offers the same as one command of the user's choosing, run before
scheduled scans and before `mamfast run`'s scan. It is split like a shell line but run
without a shell (no expansion, no `;` chaining on our side), in its own process group,
killed with its children at MAMFAST_LIBATION_TIMEOUT. Whatever happens to it, the scan
goes on with what is in the library: the outcome is said in plain words, never raised.

One process at a time runs it (a renewed Redis lease): a scheduler and a worker's cron
that fall due together would otherwise start two Libation downloads on one database.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from typing import Any

from mamfast.config import Settings
from mamfast.display import printable
from mamfast.engine import keys, locks
from mamfast.engine.engine import Engine
from mamfast.errors import TransientError
from mamfast.fs.children import run_child

log = logging.getLogger(__name__)

SETTING = "MAMFAST_LIBATION_COMMAND"


@dataclass(frozen=True)
class LibationOutcome:
    """What the Libation command did, for a log line or the end of `mamfast run`."""

    ok: bool
    message: str
    busy: bool = False  # another process is running it: its scan follows


def configured(settings: Settings) -> bool:
    return bool(settings.libation_command.strip())


def time_needed(settings: Settings) -> float:
    """Seconds a scheduled scan may spend in the command (plus its kill grace), for the
    timeout of whatever runs the scan: a shorter one would cancel it mid-download on
    every tick, and the scan after it would never come."""
    return settings.libation_timeout + 60 if configured(settings) else 0.0


async def run_command(settings: Settings) -> LibationOutcome:
    """Run the command once (no lock); every failure becomes an outcome, never an error."""
    try:
        argv = shlex.split(settings.libation_command)
    except ValueError as exc:
        return LibationOutcome(
            False,
            f"{SETTING} cannot be read as a command line ({exc}): fix its quoting; "
            "the scan goes on without it",
        )
    timeout = settings.libation_timeout
    try:
        result = await run_child(argv, timeout=timeout, what="the Libation command")
    except TransientError:
        return LibationOutcome(
            False,
            f"the Libation command ({printable(argv[0])}) did not finish within {timeout:g}s "
            "and was stopped; the scan goes on with what is in the library (books it was "
            "still writing wait until they settle). Raise MAMFAST_LIBATION_TIMEOUT if it "
            "needs longer",
        )
    except OSError as exc:
        return LibationOutcome(
            False,
            f"cannot start the Libation command {printable(argv[0])!r} "
            f"({printable(exc.strerror or str(exc))}): check {SETTING}; the scan goes on "
            "without it",
        )
    if result.returncode != 0:
        tail = printable(result.stderr_tail(300) or result.stdout.decode(errors="replace")[-300:])
        said = f": {tail}" if tail.strip() else ""
        return LibationOutcome(
            False,
            f"the Libation command exited with code {result.returncode}{said}; the scan goes "
            "on with what is in the library. Run the command by hand to see why",
        )
    return LibationOutcome(True, "the Libation command finished")


async def before_scan(engine: Engine[Any]) -> LibationOutcome | None:
    """Run the Libation command unless another process is; None when none is set."""
    if not configured(engine.settings):
        return None
    async with locks.held_if_free(
        engine.redis, keys.LIBATION_LOCK, ttl=engine.settings.lock_ttl, purpose="Libation command"
    ) as lease:
        if lease is None:
            outcome = LibationOutcome(
                True, "another mamfast process is running the Libation command", busy=True
            )
        else:
            try:
                outcome = await locks.guarded(lease, run_command(engine.settings))
            except locks.LeaseLostError:
                outcome = LibationOutcome(
                    False,
                    "the Libation command was stopped: mamfast lost its lock (is Redis "
                    "running?); the scan goes on",
                )
    if outcome.ok:
        log.info("%s", outcome.message)
    else:
        log.warning("%s", outcome.message)
    return outcome
