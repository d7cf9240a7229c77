"""The optional mkbrr backend: run mkbrr (native or in Docker), then trust nothing.

Fixes for what upstream got wrong when it drove mkbrr:

* the configured timeout is applied (upstream hard-coded 300 s), and the
  child's process group is killed on timeout and on cancellation;
* the output goes to a fresh, empty folder and is found from `--quiet`'s
  `Wrote: <path>` line, never by globbing for the newest file;
* a non-zero exit is an error, with the end of mkbrr's stderr in the message;
* paths are mapped host -> container, and a path outside every mapping is a
  configuration error up front instead of a confusing mkbrr failure;
* presets that add entropy are refused (a random infohash per run would turn
  one release into several torrents), and so is any result that is not
  private, has the wrong source or a file list other than ours;
* the infohash comes from the exact info bytes, not a re-encoding;
* the announce URL (passkey) is never put on the command line.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mamfast.config import Settings
from mamfast.errors import ConfigError, TorrentError
from mamfast.fs.children import run_child
from mamfast.pathmap import PathMap
from mamfast.redact import scrub
from mamfast.torrents.files import Content
from mamfast.torrents.parse import TorrentMeta, read_torrent

WORK_DIR = ".mkbrr.tmp"  # under the release's torrent folder; fixed so a re-run clears it
MKBRR_DEFAULT_MAX_EXP = 24


@dataclass(frozen=True)
class MkbrrOptions:
    command: tuple[str, ...]
    preset: str
    preset_file: Path | None
    path_map: PathMap
    timeout: float
    source: str
    piece_exp: int | None
    max_exp: int

    @classmethod
    def from_settings(cls, settings: Settings) -> MkbrrOptions:
        command = tuple(shlex.split(settings.mkbrr_cmd))
        if not command:
            raise ConfigError("MAMFAST_MKBRR_CMD is empty", hint="e.g. mkbrr, or docker run ...")
        return cls(
            command=command,
            preset=settings.mkbrr_preset,
            preset_file=settings.mkbrr_preset_file,
            path_map=PathMap.parse(settings.mkbrr_path_map, setting="MAMFAST_MKBRR_PATH_MAP"),
            timeout=settings.mkbrr_timeout,
            source=settings.torrent_source,
            piece_exp=settings.torrent_piece_length,
            max_exp=settings.torrent_max_piece_length,
        )

    def theirs(self, path: Path) -> str:
        """`path` as mkbrr sees it; refuses a path no mapping covers."""
        if self.path_map and not any(
            PurePosixPath(path) == ours or ours in PurePosixPath(path).parents
            for ours, _ in self.path_map.pairs
        ):
            raise ConfigError(
                f"{path} is outside every MAMFAST_MKBRR_PATH_MAP prefix, "
                "so mkbrr's container cannot see it",
                hint="add an our_path:container_path pair that covers it",
            )
        return self.path_map.to_theirs(str(path))


def create_argv(opts: MkbrrOptions, content: Path, out_dir: Path) -> list[str]:
    argv = [*opts.command, "create", opts.theirs(content), "-P", opts.preset]
    if opts.preset_file is not None:
        argv += ["--preset-file", opts.theirs(opts.preset_file)]
    argv += ["--output-dir", opts.theirs(out_dir), "--quiet", "--private=true", "-s", opts.source]
    if opts.piece_exp is not None:
        argv += ["-l", str(opts.piece_exp)]
    else:
        argv += ["-m", str(opts.max_exp)]  # explicit, so a preset cannot change our cap
    return argv


def check_preset(opts: MkbrrOptions) -> None:
    """Refuse a preset that adds entropy (read when the preset file is ours to read)."""
    if opts.preset_file is None:
        return
    try:
        doc = yaml.safe_load(opts.preset_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the mkbrr preset file {opts.preset_file}: {exc.strerror}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{opts.preset_file} is not valid YAML: {exc}") from None
    presets: Any = doc.get("presets") if isinstance(doc, dict) else None
    if not isinstance(presets, dict) or not isinstance(presets.get(opts.preset), dict):
        raise ConfigError(
            f"{opts.preset_file} has no preset named {opts.preset!r}",
            hint="set MAMFAST_MKBRR_PRESET, or add it under `presets:`",
        )
    for where, block in (("default", doc.get("default")), (opts.preset, presets[opts.preset])):
        if isinstance(block, dict) and block.get("entropy"):
            raise ConfigError(
                f"mkbrr preset {where!r} in {opts.preset_file} sets entropy: true; that gives "
                "a random infohash on every run, so one release could become several torrents",
                hint="remove `entropy` from the preset",
            )


def written_path(stdout: bytes, opts: MkbrrOptions, out_dir: Path) -> Path:
    """The file mkbrr reports in its `--quiet` output, as a path on our side."""
    lines = stdout.decode("utf-8", "replace").splitlines()
    reported = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Wrote:")]
    if reported:
        path = Path(opts.path_map.to_ours(reported[-1]))
    else:  # older mkbrr without the line: the folder was empty before the run
        found = sorted(out_dir.glob("*.torrent"))
        if len(found) != 1:
            raise TorrentError("mkbrr did not say which file it wrote (no `Wrote:` line)")
        path = found[0]
    if path.parent != out_dir:
        raise TorrentError(
            f"mkbrr wrote {path}, outside the folder it was given",
            hint="check MAMFAST_MKBRR_PATH_MAP and that the preset sets no output_dir",
        )
    return path


def check_result(meta: TorrentMeta, content: Content, source: str) -> None:
    """Accept mkbrr's torrent only if it is the torrent we would make of this folder."""
    hint = "fix the mkbrr preset (private: true, no entropy, no include/exclude patterns)"
    if not meta.private:
        raise TorrentError("mkbrr made a public torrent; MAM needs private=1", hint=hint)
    if meta.has_entropy:
        raise TorrentError("mkbrr added entropy (a random infohash)", hint=hint)
    if (meta.source or "") != source:
        raise TorrentError(f"mkbrr wrote source {meta.source!r}, expected {source!r}", hint=hint)
    if meta.name != content.name or meta.multi_file != content.multi_file:
        raise TorrentError(f"mkbrr named the torrent {meta.name!r}, expected {content.name!r}")
    theirs = [(f.path, f.length) for f in meta.files]
    ours = [(f.parts, f.length) for f in content.files]
    if theirs != ours:
        pairs = zip(theirs, ours, strict=False)
        diff = next(
            (f"{'/'.join(a[0])} vs {'/'.join(b[0])}" for a, b in pairs if a != b),
            f"{len(theirs)} files vs {len(ours)}",
        )
        raise TorrentError(
            f"mkbrr's file list differs from the staged folder's (first difference: {diff})",
            hint="mkbrr keeps hidden files and applies preset patterns: keep the staged folder "
            "clean and the preset free of include/exclude patterns",
        )


async def create_with_mkbrr(content: Content, out_dir: Path, opts: MkbrrOptions) -> TorrentMeta:
    """Run `mkbrr create` on `content`; return its validated torrent (nothing kept on disk)."""
    await asyncio.to_thread(check_preset, opts)
    work = out_dir / WORK_DIR
    await asyncio.to_thread(_fresh_dir, work)
    try:
        argv = create_argv(opts, content.root, work)
        result = await run_child(argv, timeout=opts.timeout, what="mkbrr")
        if result.returncode != 0:
            raise TorrentError(
                f"mkbrr exited with status {result.returncode}: {scrub(result.stderr_tail())}",
                hint="check MAMFAST_MKBRR_CMD, MAMFAST_MKBRR_PATH_MAP and the preset",
            )
        path = written_path(result.stdout, opts, work)
        meta = await asyncio.to_thread(read_torrent, path)
        check_result(meta, content, opts.source)
        return meta
    finally:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, work, True))


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
