"""Path mapping between our view of the disk and another program's view.

qBittorrent (and an mkbrr container) may mount the same data under other
paths. A map is a list of prefix pairs `ours:theirs`, comma-separated, e.g.
`/data:/data` or `/mnt/user/data:/data,/srv/seed:/seed`. Prefixes match whole
path components (`/data` does not match `/database`), longest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from mamfast.errors import ConfigError


@dataclass(frozen=True)
class PathMap:
    pairs: tuple[tuple[PurePosixPath, PurePosixPath], ...] = ()

    @classmethod
    def parse(cls, text: str, *, setting: str = "path map") -> PathMap:
        pairs = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            ours, sep, theirs = item.partition(":")
            if not sep or not ours.startswith("/") or not theirs.startswith("/"):
                raise ConfigError(
                    f"{setting}: {item!r} is not an `our_path:their_path` pair of absolute paths",
                    hint="example: /mnt/user/data:/data",
                )
            pairs.append((PurePosixPath(ours), PurePosixPath(theirs)))
        pairs.sort(key=lambda pair: len(pair[0].parts), reverse=True)
        return cls(tuple(pairs))

    def to_theirs(self, path: str | PurePosixPath) -> str:
        return str(_translate(PurePosixPath(path), self.pairs))

    def to_ours(self, path: str | PurePosixPath) -> str:
        flipped = sorted(
            ((b, a) for a, b in self.pairs), key=lambda p: len(p[0].parts), reverse=True
        )
        return str(_translate(PurePosixPath(path), tuple(flipped)))

    def __bool__(self) -> bool:
        return bool(self.pairs)


def _translate(
    path: PurePosixPath, pairs: tuple[tuple[PurePosixPath, PurePosixPath], ...]
) -> PurePosixPath:
    for source, target in pairs:
        if path == source or source in path.parents:
            return target / path.relative_to(source)
    return path
