"""`mamfast-mediainfo FILE...` (or `python -m mamfast.clients.mediainfo_child`): MediaInfo as JSON.

Prints what `mediainfo --Output=JSON FILE...` prints (one document, or a list
for several files), using the libmediainfo that ships inside the pymediainfo
wheel, so machines without the mediainfo package (the embedded default, the
Docker image) need nothing else.

It runs as a child process on purpose: libmediainfo is C code reading
untrusted files, and a hang or a crash in it must cost one child, never a
worker. A file it cannot open gets `{"media": null}`, as the CLI does.
"""

from __future__ import annotations

import json
import sys
from typing import Any

USAGE = "usage: mamfast-mediainfo FILE [FILE...]"


def describe(path: str) -> dict[str, Any]:
    from pymediainfo import MediaInfo

    try:
        # full=False matches the CLI's default view (no "Complete" fields).
        text = MediaInfo.parse(path, output="JSON", full=False)
    except (FileNotFoundError, RuntimeError):
        return {"media": None}
    document: dict[str, Any] = json.loads(text)
    return document


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    paths = [p for p in paths if not p.startswith("--Output")]  # accept the CLI's flag too
    if not paths:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        documents = [describe(path) for path in paths]
    except OSError as exc:  # the bundled library could not be loaded
        print(f"cannot load libmediainfo: {exc}", file=sys.stderr)
        return 3
    output = documents[0] if len(documents) == 1 else documents
    sys.stdout.write(json.dumps(output, ensure_ascii=False))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
