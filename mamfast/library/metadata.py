"""A book folder's metadata file: Libation's `*.metadata.json` or Audiobookshelf's `metadata.json`.

Libation dumps Audible's catalogue item (sometimes wrapped in `product`);
Audiobookshelf writes its own shape (`authors` as strings, series as
"Name #3", `publishedYear`). Both become a `BookInfo` plus the ASIN the file
claims, as written (the caller validates it and decides between claims).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mamfast.library.names import YEAR
from mamfast.models import BookInfo, SeriesRef

METADATA_SUFFIX = ".metadata.json"  # Libation's, one per book folder
ABS_METADATA = "metadata.json"  # Audiobookshelf's

_SERIES_NUMBER = re.compile(r"^(?P<name>.+?)\s*#\s*(?P<position>[\w.\-]+)$")


class UnusableBookError(Exception):
    """A book folder that cannot become a release (the message is the reason, in plain words)."""


def is_metadata_file(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(METADATA_SUFFIX) or lowered == ABS_METADATA


def metadata_file(names: Sequence[str]) -> str | None:
    """The file read for the book: Libation's (the first by name) before Audiobookshelf's."""
    found = sorted(n for n in names if n.lower().endswith(METADATA_SUFFIX))
    found += [n for n in names if n.lower() == ABS_METADATA]
    return found[0] if found else None


def read_metadata(folder: Path, names: Sequence[str]) -> tuple[BookInfo, str | None]:
    """The folder's book data and the ASIN its metadata file claims (both empty without one).

    A metadata file that is there but unreadable is an UnusableBookError: falling back
    to the folder name would quietly publish what may be another book's data.
    """
    name = metadata_file(names)
    if name is None:
        return BookInfo(), None
    try:
        data = json.loads((folder / name).read_bytes())
    except OSError as exc:
        raise UnusableBookError(
            f"its metadata file {name} cannot be read ({exc.strerror or exc})"
        ) from None
    except ValueError as exc:
        raise UnusableBookError(
            f"its metadata file {name} is not valid JSON ({exc}); let Libation rewrite it "
            "or delete it to fall back to the folder name"
        ) from None
    except RecursionError:
        raise UnusableBookError(
            f"its metadata file {name} is nested too deeply to be Libation's; let Libation "
            "rewrite it or delete it to fall back to the folder name"
        ) from None
    if not isinstance(data, dict):
        raise UnusableBookError(f"its metadata file {name} does not hold a JSON object")
    return book_from_metadata(data, metadata_file=name)


def book_from_metadata(data: dict[str, Any], *, metadata_file: str) -> tuple[BookInfo, str | None]:
    """Libation's Audible dump (or an Audiobookshelf metadata.json) -> BookInfo and raw ASIN."""
    if "title" not in data and isinstance(data.get("product"), dict):
        data = data["product"]
    asin = next(
        (str(data[k]).strip() for k in ("asin", "Asin", "ASIN", "id") if _text(data.get(k))), None
    )
    book = BookInfo(
        title=_text(data.get("title")),
        subtitle=_text(data.get("subtitle")),
        authors=_names(data.get("authors") or data.get("author")),
        narrators=_names(data.get("narrators") or data.get("narrator")),
        series=_series(data.get("series") or data.get("series_primary")),
        year=_year(data),
        language=_text(data.get("language")) or None,
        publisher=_text(data.get("publisher_name") or data.get("publisher")) or None,
        summary=_text(
            data.get("publisher_summary")
            or data.get("merchandising_summary")
            or data.get("description")
        )
        or None,
        runtime_minutes=_minutes(data.get("runtime_length_min")),
        metadata_file=metadata_file,
    )
    return book, asin


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = _text(item.get("name") if isinstance(item, dict) else item)
        if name:
            names.append(name)
    return names


def _series(value: Any) -> list[SeriesRef]:
    items = value if isinstance(value, list) else [value]
    refs = []
    for item in items:
        if isinstance(item, dict):
            name = _text(item.get("name") or item.get("title"))
            position = item.get("position", item.get("sequence"))
            position_text = str(position).strip() if position not in (None, "") else None
        else:
            text = _text(item)
            match = _SERIES_NUMBER.match(text)  # Audiobookshelf: "Name #3"
            name, position_text = (match["name"], match["position"]) if match else (text, None)
        if name:
            refs.append(SeriesRef(name=name, position=position_text))
    return refs


def _year(data: dict[str, Any]) -> str | None:
    for key in ("release_date", "issue_date", "publication_datetime", "year", "publishedYear"):
        value = str(data.get(key) or "")[:4]
        if YEAR.fullmatch(value):
            return value
    return None


def _minutes(value: Any) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return None
