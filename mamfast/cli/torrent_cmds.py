"""`mamfast torrent create|inspect|verify`: the torrent library on the command line.

None of these commands needs Redis or a worker. The announce URL holds the
user's passkey: it is read from settings, never taken as an argument (it
would show in `ps`), and shown masked.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mamfast.cli.common import (
    console,
    err_console,
    fail,
    rich_console,
    run_async,
    settings_or_exit,
    shown,
)

if TYPE_CHECKING:
    from mamfast.torrents import TorrentMeta, VerifyResult

Progress = Callable[[int, int], Awaitable[None]]

PathArg = Annotated[Path, typer.Argument(help="The folder (or single file) to hash.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, max=64, help="Hashing threads (default: one per core)."),
]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Create, inspect and verify private .torrent files (no Redis needed).",
        no_args_is_help=True,
    )
    group.command("create")(create)
    group.command("inspect")(inspect)
    group.command("verify")(verify)
    app.add_typer(group, name="torrent")


def create(
    path: PathArg,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write it (default: ./<name>.torrent)."),
    ] = None,
    piece_length: Annotated[
        int | None,
        typer.Option(
            "-l",
            "--piece-length",
            min=15,
            max=27,
            metavar="EXP",
            help="Fixed piece length 2^EXP (default: mkbrr's automatic table).",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("-s", "--source", help="`source` in the info dict (default: settings)."),
    ] = None,
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hash PATH into a private BitTorrent v1 torrent, in parallel."""
    settings = settings_or_exit()
    announce = settings.secret("announce_url")
    dest = output or Path.cwd() / f"{path.name}.torrent"
    if dest.is_dir():
        dest = dest / f"{path.name}.torrent"

    async def main() -> dict[str, Any]:
        from concurrent.futures import ThreadPoolExecutor

        from mamfast.torrents import create_torrent, write_torrent_atomic
        from mamfast.torrents.disk import disk_turns_for

        threads = workers or settings.torrent_workers or os.cpu_count()
        with ThreadPoolExecutor(threads, thread_name_prefix="mamfast-hash") as pool:
            async with _progress_bar(f"hashing {path.name}", enabled=not as_json) as progress:
                made = await create_torrent(
                    path,
                    source=settings.torrent_source if source is None else source,
                    announce=announce,
                    piece_exp=piece_length or settings.torrent_piece_length,
                    max_exp=settings.torrent_max_piece_length,
                    workers=workers or settings.torrent_workers,
                    executor=pool,
                    progress=progress,
                    disk_turns=disk_turns_for(settings),
                )
        write_torrent_atomic(made.data, dest)
        return {"path": str(dest), "infohash": made.infohash, **made.details()}

    result = run_async(main())
    if not announce:
        err_console.print("[yellow]warning:[/] MAMFAST_ANNOUNCE_URL is not set; no tracker")
    if as_json:
        print(json.dumps(result, indent=2))
        return
    seconds = result["seconds"]
    console.print(f"Wrote [bold]{shown(str(dest))}[/]", highlight=False)
    console.print(f"  infohash  {result['infohash']}")
    console.print(f"  pieces    {result['piece_count']} x {_size(result['piece_length'])}")
    console.print(f"  size      {_size(result['bytes'])} in {result['files']} file(s)")
    rate = result["bytes"] / seconds / 1e6 if seconds else 0.0
    console.print(f"  time      {seconds:.2f} s ({rate:.0f} MB/s)")


def inspect(
    file: Annotated[Path, typer.Argument(help="The .torrent file.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a torrent's name, infohash, pieces, files, private flag and source."""
    from mamfast.errors import TorrentError
    from mamfast.torrents.parse import read_torrent, summary

    try:
        info = summary(read_torrent(file))
    except TorrentError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(info, indent=2))
        return
    _print_summary(info)


def verify(
    file: Annotated[Path, typer.Argument(help="The .torrent file.")],
    path: Annotated[Path, typer.Argument(help="The content folder (or the folder holding it).")],
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rehash PATH and compare every piece with FILE; exit 1 on any difference."""
    from mamfast.torrents import read_torrent
    from mamfast.torrents import verify as verify_content

    async def main() -> tuple[TorrentMeta, VerifyResult]:
        from concurrent.futures import ThreadPoolExecutor

        meta = read_torrent(file)
        with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
            async with _progress_bar(f"verifying {meta.name}", enabled=not as_json) as progress:
                found = await verify_content(
                    meta, path, executor=pool, workers=workers, progress=progress
                )
        return meta, found

    meta, result = run_async(main())
    if as_json:
        print(json.dumps(_verify_json(result), indent=2))
    else:
        _print_verify(meta, result)
    if not result.ok:
        raise typer.Exit(1)


@contextlib.asynccontextmanager
async def _progress_bar(label: str, *, enabled: bool) -> AsyncIterator[Progress | None]:
    """A Rich progress bar on a terminal (stderr); nothing when piped or for --json."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    with Bar(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=rich_console(err_console),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        async def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _print_summary(info: dict[str, Any]) -> None:
    rows = [
        ("name", info["name"]),
        ("infohash", info["infohash"]),
        ("size", f"{_size(info['total_size'])} ({info['total_size']} bytes)"),
        ("pieces", f"{info['piece_count']} x {_size(info['piece_length'])}"),
        ("private", "yes" if info["private"] else "NO"),
        ("source", info["source"] or "-"),
        ("announce", info["announce"] or "- (none)"),
        ("created by", info["created_by"] or "-"),
        ("created", _date(info["creation_date"])),
    ]
    if info["comment"]:
        rows.append(("comment", info["comment"]))
    if info["extra_info_keys"]:
        rows.append(("other info keys", ", ".join(info["extra_info_keys"])))
    for label, value in rows:
        console.print(f"{label:>16}  {shown(value)}", highlight=False)
    console.print(f"{'files':>16}  {len(info['files'])}", highlight=False)
    for f in info["files"]:
        console.print(f"{_size(f['length']):>16}  {shown(f['path'])}", highlight=False)


def _print_verify(meta: TorrentMeta, result: VerifyResult) -> None:
    rate = result.total_size / result.seconds / 1e6 if result.seconds else 0.0
    timing = f"{_size(result.total_size)} in {result.seconds:.2f} s ({rate:.0f} MB/s)"
    if result.ok:
        console.print(f"[green]OK[/]: all {result.piece_count} pieces match ({timing})")
        return
    for name in result.missing:
        console.print(f"[red]missing[/]: {shown(name)}", highlight=False)
    for name in result.wrong_size:
        console.print(f"[red]wrong size[/]: {shown(name)}", highlight=False)
    if result.first_bad is not None:
        start = result.first_bad * meta.piece_length
        console.print(
            f"[red]BAD[/]: {len(result.bad_pieces)} of {result.piece_count} pieces differ; "
            f"first bad piece #{result.first_bad} (bytes {start}-"
            f"{min(start + meta.piece_length, meta.total_size) - 1} of the stream) "
            f"in {shown(', '.join(result.first_bad_files))}",
            highlight=False,
        )
    console.print(f"checked {timing}")


def _verify_json(result: VerifyResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "piece_count": result.piece_count,
        "bad_pieces": len(result.bad_pieces),
        "first_bad_piece": result.first_bad,
        "first_bad_files": list(result.first_bad_files),
        "missing": list(result.missing),
        "wrong_size": list(result.wrong_size),
        "seconds": round(result.seconds, 3),
    }


def _size(n: int) -> str:
    from mamfast.torrents.pieces import human_size

    return human_size(n)


def _date(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
