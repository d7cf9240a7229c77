"""The live view of `mamfast run`: releases per stage, bytes hashed, failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mamfast.cli.common import rich_console
from mamfast.display import printable
from mamfast.engine import keys
from mamfast.lifecycle import STAGE_ORDER, Status
from mamfast.models import Release

if TYPE_CHECKING:
    from mamfast.engine.engine import Engine
    from mamfast.ops.runner import RunState

REFRESH = 0.5


def live_view(console: Console) -> object:
    @contextlib.asynccontextmanager
    async def view(engine: Engine[Any], state: RunState) -> AsyncIterator[None]:
        with Live(console=rich_console(console), refresh_per_second=4, transient=True) as live:
            task = asyncio.create_task(_refresh(live, engine, state))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return view


async def _refresh(live: Live, engine: Engine[Any], state: RunState) -> None:
    while True:
        # Every record, decoded, twice a second: the view's own cost, paid only on a terminal.
        state.releases = await engine.store.get_many(state.asins)
        hashed = await _hash_progress(engine, state.asins)
        live.update(render(state.releases, hashed))
        await asyncio.sleep(REFRESH)


async def _hash_progress(engine: Engine[Any], asins: list[str]) -> tuple[int, int]:
    done = total = 0
    async with engine.redis.pipeline(transaction=False) as pipe:
        for asin in asins:
            pipe.hgetall(keys.progress(asin))
        rows = await pipe.execute()
    for row in rows:
        if row.get(b"stage") == b"torrent":
            done += int(row.get(b"done", 0))
            total += int(row.get(b"total", 0))
    return done, total


def render(releases: list[Release], hashed: tuple[int, int]) -> Group:
    by_stage = Counter(r.stage.value for r in releases if not r.terminal)
    by_status = Counter(r.status.value for r in releases)
    table = Table(title="mamfast run", header_style="bold", expand=False)
    for stage in STAGE_ORDER:
        table.add_column(stage.value, justify="right")
    table.add_column("finished", justify="right")
    table.add_column("needs attention", justify="right")
    finished = by_status[Status.READY.value] + by_status[Status.COMPLETE.value]
    table.add_row(
        *(str(by_stage[s.value]) for s in STAGE_ORDER),
        str(finished),
        str(by_status[Status.NEEDS_ATTENTION.value]),
    )
    done, total = hashed
    lines: list[object] = [table, Text(f"hashed {done / 1e6:,.0f} of {total / 1e6:,.0f} MB")]
    for r in releases:
        if r.status in (Status.NEEDS_ATTENTION, Status.RETRYING):
            lines.append(
                Text(
                    printable(f"{r.status.value}: {r.asin} {r.last_error or ''}"[:200]), style="red"
                )
            )
    return Group(*lines)  # type: ignore[arg-type]
