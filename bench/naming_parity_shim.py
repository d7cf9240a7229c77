"""Upstream's unit tests of its naming functions, run against mamfast through an adapter.

Used by bench/naming_parity.py (`--unit-tests`). It writes, into a temporary
folder, a stand-in `shelfr` package whose naming functions call mamfast's
(`filter_title` -> `clean_title`, `filter_series` -> `clean_series`,
`filter_subtitle` -> `clean_subtitle`, `sanitize_filename` ->
`sanitize_component`, author roles, "The" inheritance, transliteration), copies
upstream's test file next to it, and runs it with pytest. A test that calls a
function with no mamfast counterpart fails with `NoEquivalent` and is counted
apart; the adapter is ours, the test file is read from the mirror at run time.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ADAPTER_CONFIG = '''
from __future__ import annotations

from typing import Any

from mamfast.release.naming import NamingRules, load_rules


class NoEquivalent(Exception):
    """The upstream function has no mamfast counterpart."""


class NamingConfig:
    """Upstream's flat NamingConfig, turned into mamfast's NamingRules."""

    def __init__(self, **kw: Any) -> None:
        self.kw = kw

    def rules(self) -> NamingRules:
        return rules_from(self.kw)


class FiltersConfig:
    def __init__(self, **kw: Any) -> None:
        self.kw = kw


def rules_from(kw: dict[str, Any], *, keep_volume: bool = False) -> NamingRules:
    shipped = load_rules()
    volumes = {} if keep_volume else shipped.preserve_in_json.model_dump()
    data: dict[str, Any] = {"preserve_in_json": volumes}
    for key in ("format_indicators", "genre_tags", "publisher_tags"):
        data[key] = {"phrases": kw.get(key, [])}
    data["series_suffixes"] = {"patterns": kw.get("series_suffixes", [])}
    data["preserve_exact"] = {"titles": kw.get("preserve_exact", [])}
    data["subtitle_patterns"] = {
        "remove_patterns": kw.get("subtitle_remove_patterns", []),
        "keep_patterns": kw.get("subtitle_keep_patterns", []),
        "remove_if_matches_series": kw.get("remove_subtitle_if_matches_series", True),
    }
    data["subtitle_redundancy_rules"] = {
        "enabled": kw.get("subtitle_redundancy_enabled", True),
        "rules": kw.get("subtitle_redundancy_rules", []),
    }
    data["author_map"] = {}
    data["author_roles"] = shipped.author_roles.model_dump()
    return NamingRules.model_validate(data)
'''

ADAPTER_NAMING = """
from __future__ import annotations

from typing import Any

from mamfast.release.naming import (
    clean_series,
    clean_subtitle,
    clean_title,
    filter_author_roles,
    load_rules,
    romanize,
    sanitize_component,
)
from shelfr.config import NamingConfig, NoEquivalent, rules_from


def _rules(naming_config, extra=None, *, keep_volume=False, verbose=False):
    if verbose:
        raise NoEquivalent("per-rule logging")
    kw = dict(naming_config.kw) if naming_config else {}
    if extra:
        kw["publisher_tags"] = [*kw.get("publisher_tags", []), *extra]
    return rules_from(kw, keep_volume=keep_volume)


def filter_title(name, remove_phrases=None, *, naming_config=None, verbose=False,
                 keep_volume=False):
    rules = _rules(naming_config, remove_phrases, verbose=verbose)
    return clean_title(name, rules, for_folder=not keep_volume)


def filter_series(name, *, naming_config=None, keep_volume=False, verbose=False):
    if not name:
        return name
    return clean_series(name, _rules(naming_config, keep_volume=keep_volume, verbose=verbose))


def filter_subtitle(subtitle, *, title=None, series=None, naming_config=None, verbose=False):
    rules = _rules(naming_config, verbose=verbose)
    result = clean_subtitle(subtitle, rules, series=series, title=title or "")
    return result or None


def sanitize_filename(name):
    return sanitize_component(name)


def is_author_role(name):
    return filter_author_roles([name], load_rules()) == []


def filter_authors(authors):
    rules = load_rules()
    return [a for a in authors if filter_author_roles([a.get("name", "")], rules)]


def inherit_the_prefix(series, title):
    if series is None or not title:
        return series
    return clean_series(series, rules_from({}, keep_volume=True), title=title)


def transliterate_text(text, filters=None):
    if text is None:
        return None
    if filters is None:  # upstream: no filters, no transliteration
        return text
    rules = load_rules().model_copy(
        update={"author_map": filters.kw.get("author_map", {}),
                "transliterate_japanese": filters.kw.get("transliterate_japanese", True)}
    )
    return romanize(text, rules)


def __getattr__(name: str) -> Any:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise NoEquivalent(name)
    return missing
"""


def run_unit_tests(source: str, filename: str) -> dict[str, list[str]]:
    """pytest on upstream's test file with the adapter: test ids by outcome."""
    with tempfile.TemporaryDirectory(prefix="naming-parity-") as tmp:
        root = Path(tmp)
        package = root / "shelfr"
        (package / "utils").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "config.py").write_text(ADAPTER_CONFIG)
        (package / "utils" / "__init__.py").write_text("")
        (package / "utils" / "naming.py").write_text(ADAPTER_NAMING)
        (root / filename).write_text(source)
        (root / "pytest.ini").write_text("[pytest]\n")
        report = root / "report.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
             str(root / "pytest.ini"), "--rootdir", str(root), f"--junitxml={report}",
             str(root / filename)],
            cwd=root, capture_output=True, text=True, check=False,
            env={"PYTHONPATH": f"{root}:{Path.cwd()}", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        return _outcomes(report)


def _outcomes(report: Path) -> dict[str, list[str]]:
    outcomes: dict[str, list[str]] = {"passed": [], "no_equivalent": [], "failed": []}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            outcomes["passed"].append(name)
        elif "NoEquivalent" in (problem.get("message") or "") + (problem.text or ""):
            outcomes["no_equivalent"].append(name)
        else:
            outcomes["failed"].append(name)
    return outcomes
