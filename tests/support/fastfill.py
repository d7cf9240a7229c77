"""Checks every fast-fill JSON in the tests must pass: MAM's key shapes, no empty value."""

from __future__ import annotations

from typing import Any

# Every key MAM's form can fill from our JSON, in the form's order, with its JSON type.
FORM_KEYS: dict[str, type] = {
    "title": str,
    "subtitle": str,
    "authors": list,
    "narrators": list,
    "series": list,
    "description": str,
    "thumbnail": str,
    "language": str,
    "category": str,
    "categories": list,
    "main_cat": int,
    "mediaType": int,
    "tags": str,
    "mediaInfo": str,
    "isbn": str,
    "flags": dict,
}
# Always present: MAM's form cannot be sent without them, and we always know them.
ALWAYS = ("title", "description", "main_cat", "mediaType", "isbn")
FLAG_NAMES = {"cLang", "vio", "sSex", "eSex", "abridged", "lgbt"}


def empty_values(value: Any, path: str = "$") -> list[str]:
    """Paths of every empty value ("", [], {}, null) anywhere in `value`.

    A series number is the one exception: it is "" when Audible gives no
    position, because MAM's Upload Helper would type a missing one as "undefined".
    """
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, str) and not value.strip():
        return [path]
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if path.startswith("$.series[") and key == "number" and item == "":
                continue
            found += empty_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += empty_values(item, f"{path}[{index}]")
    return found


def shape_problems(data: dict[str, Any]) -> list[str]:
    """Everything wrong with a fast-fill JSON's shape, as sentences (empty when it is right)."""
    problems = [f"empty value at {p}" for p in empty_values(data)]
    problems += [f"unknown key {k!r}" for k in data if k not in FORM_KEYS]
    problems += [f"missing key {k!r}" for k in ALWAYS if k not in data]
    order = [k for k in FORM_KEYS if k in data]
    if [k for k in data if k in FORM_KEYS] != order:
        problems.append(f"keys out of the form's order: {list(data)}")
    problems += [
        f"{k} is {type(v).__name__}, not {FORM_KEYS[k].__name__}"
        for k, v in data.items()
        if k in FORM_KEYS and not isinstance(v, FORM_KEYS[k])
    ]
    for entry in data.get("series", []):
        if not isinstance(entry, dict) or set(entry) != {"name", "number"}:
            problems.append(f"series entry {entry!r} is not {{name, number}}")
    flags = data.get("flags", {})
    if isinstance(flags, dict):
        problems += [f"unknown flag {k!r}" for k in flags if k not in FLAG_NAMES]
        problems += [f"flag {k!r} is not true" for k, v in flags.items() if v is not True]
    return problems
