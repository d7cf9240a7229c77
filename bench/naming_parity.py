"""Naming parity: the upstream tool's own naming cases, run through mamfast.

    .venv/bin/python bench/naming_parity.py MIRROR_PATH [--list] [--convention book_title]

MIRROR_PATH is a git repository (bare or not) of the upstream tool (H2OKing89/shelfr).
Its test data is read from HEAD at run time, never copied into mamfast:

* real-book samples: tests/fixtures/golden_samples_generated.json (Audnex title,
  subtitle and seriesPrimary of real books -> the title, subtitle, series and
  position upstream uploads with);
* normalization cases: tests/fixtures/audnex_normalization_samples.json (same shape);
* cleaning cases: tests/golden/naming_inputs.json + naming_expected.json (title,
  series, subtitle -> JSON title, folder title, series, subtitle);
* series-guess cases: the (title, expected) tables in tests/test_series_resolution.py;
* unit tests: tests/test_naming.py run with pytest against an adapter that maps
  upstream's naming functions onto mamfast's (bench/naming_parity_shim.py); a test
  calling a function mamfast has no counterpart for is left out and counted.

Each case is *identical* (every field the same), *equivalent* (differs only in a
way docs/naming-parity.md lists as deliberate; the reason is printed with
--list) or *different*. The figures are printed per group, for the real-book
samples and for all cases. No timing: the result does not depend on machine load.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamfast.library import names
from mamfast.library.names import series_from_title
from mamfast.release import naming
from mamfast.release.naming import (
    NamingRules,
    clean_series,
    clean_subtitle,
    clean_title,
    load_rules,
    normalize_title_subtitle,
)

# Older mamfast trees lack these; the fallbacks let this same file measure them (before/after).
series_from_subtitle: Callable[[str | None], tuple[str, str] | None] = getattr(
    names, "series_from_subtitle", lambda subtitle: None
)
is_genre_line: Callable[[str, NamingRules], bool] = getattr(
    naming,
    "is_genre_line",
    lambda text, rules: clean_subtitle(text, rules, series=None, title="") == "",
)

Fields = dict[str, Any]

# Reasons shared by several groups (docs/naming-parity.md).
REASONS = {
    "D5": "D5 a never-clean entry protects its own text, not the whole name",
    "D10": "D10 an invalid pattern in the rules file is an error, not skipped",
}


@dataclass
class Case:
    group: str
    name: str
    expected: Fields
    got: Fields
    reason: str | None = None  # why an unequal case is still equivalent

    @property
    def verdict(self) -> str:
        if self.expected == self.got:
            return "identical"
        return "equivalent" if self.reason else "different"


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, case: Case) -> None:
        self.counts[case.verdict] += 1

    def line(self, label: str) -> str:
        total = sum(self.counts.values())
        same = self.counts["identical"]
        ok = same + self.counts["equivalent"]
        return (
            f"{label:<28} {total:>5} cases  identical {same:>5} ({pct(same, total)})  "
            f"equivalent-or-better {ok:>5} ({pct(ok, total)})  "
            f"different {self.counts['different']:>4}"
        )


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "  n/a"


def git_show(mirror: Path, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(mirror), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


# --------------------------------------------------------------------------- real books


def normalized(
    title: str, subtitle: str | None, series: Fields | None, rules: NamingRules
) -> Fields:
    """What mamfast's metadata stage decides before cleaning (bookdata._clean's first steps)."""
    name = (series or {}).get("name") or None
    position = (series or {}).get("position")
    if not name:
        guess = series_from_subtitle(subtitle) or series_from_title(title)
        if guess:
            name, position = name or guess[0], position or guess[1]
    parts = normalize_title_subtitle(title, subtitle, name, position, rules)
    return {
        "title": parts.title,
        "subtitle": parts.subtitle,
        "series": clean_series(name, rules, title=title) if name else None,
        "position": str(position) if position is not None else None,
    }


def book_cases(group: str, samples: list[Fields], rules: NamingRules) -> Iterator[Case]:
    for sample in samples:
        want = sample["expected"]
        expected = {
            "title": want.get("display_title", want.get("title")),
            "subtitle": want["display_subtitle"]
            if "display_subtitle" in want
            else want["subtitle"],
            "series": want["series_name"],
            "position": want.get("series_position", want.get("position")),
        }
        got = normalized(sample["title"], sample.get("subtitle"), sample["seriesPrimary"], rules)
        case = Case(group, f"{sample['asin']} {sample['title']!r}", expected, got)
        case.reason = book_reason(sample, case, rules) if expected != got else None
        yield case


def book_reason(sample: Fields, case: Case, rules: NamingRules) -> str | None:
    """The deliberate difference that explains every unequal field, or None."""
    reasons = []
    # Upstream's samples predate its own series guess; mamfast's title/subtitle follow it.
    guessed = case.got["series"] is not None and case.expected["series"] is None
    for key in case.expected:
        want, got = case.expected[key], case.got[key]
        if want == got:
            continue
        reason = _field_reason(
            key, want, got, sample, rules, guessed=guessed, got_title=case.got["title"]
        )
        if reason is None:
            return None
        reasons.append(reason)
    return "; ".join(sorted(set(reasons)))


def _field_reason(
    key: str,
    want: Any,
    got: Any,
    sample: Fields,
    rules: NamingRules,
    *,
    guessed: bool,
    got_title: str,
) -> str | None:
    named = bool((sample.get("seriesPrimary") or {}).get("name"))
    if key == "series" and want and got and clean_series(want, rules, title=sample["title"]) == got:
        return "D1 series suffix upstream's normalizer keeps"
    if key == "series" and want and got and _bare(want) == _bare(got):
        return "D7 'The' inherited only when the title starts with 'The <series>'"
    if key == "subtitle" and got is None and want and is_genre_line(want, rules):
        return "D2 genre or format line is not a subtitle"
    if key == "subtitle" and got is None and want and _repeats(want, sample, rules):
        return "D3 subtitle only repeats the series and number"
    if key == "subtitle" and got is None and want and _same(want, got_title):
        return "D6 the title is not repeated as the subtitle"
    if key == "title" and want and _bare(want) == _bare(_series_of(sample)):
        return "D9 the bare series name is never made the title"
    if key in {"title", "subtitle"} and _position_only(sample):
        return "D4 a title that is only the position is never kept as the title"
    if not named and guessed:
        return "D8 series read from the subtitle or title when Audible names none"
    return None


def _series_of(sample: Fields) -> str:
    return str((sample.get("seriesPrimary") or {}).get("name") or "")


def _bare(name: str) -> str:
    return re.sub(r"^the\s+", "", name.strip().casefold())


def _same(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.strip().casefold() == (b or "").strip().casefold()


def _repeats(text: str, sample: Fields, rules: NamingRules) -> bool:
    series = (sample.get("seriesPrimary") or {}).get("name")
    name = clean_series(series, rules) if series else None
    return clean_subtitle(text, rules, series=name, title=sample["title"]) == ""


def _position_only(sample: Fields) -> bool:
    return bool(re.fullmatch(r"(?:vol(?:ume)?\.?|book|part|#)?\s*\d+", sample["title"], re.I))


# --------------------------------------------------------------------------- cleaning cases


def cleaning_cases(inputs: Fields, outputs: Fields, rules: NamingRules) -> Iterator[Case]:
    expected_by_id = {e["id"]: e for e in outputs["expected"]}
    for case_in in inputs["test_cases"]:
        want = expected_by_id[case_in["id"]]
        title, series, subtitle = case_in["title"], case_in["series"], case_in["subtitle"]
        expected = {k: want[k] for k in ("title_json", "title_folder", "series", "subtitle")}
        got = {
            "title_json": clean_title(title, rules, for_folder=False),
            "title_folder": clean_title(title, rules, for_folder=True),
            "series": clean_series(series, rules, title=title) if series is not None else None,
            "subtitle": clean_subtitle(subtitle, rules, series=series, title=title),
        }
        case = Case("cleaning (golden)", case_in["id"], expected, got)
        if expected != got and case_in["id"].startswith("preserve_exact"):
            case.reason = REASONS["D5"]
        yield case


# --------------------------------------------------------------------------- series guesses


def series_guess_cases(source: str) -> Iterator[Case]:
    """The (title, expected) tables of upstream's TestParseSeriesFromTitle."""
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.ClassDef) and node.name == "TestParseSeriesFromTitle"):
            continue
        for method in node.body:
            if not isinstance(method, ast.FunctionDef):
                continue
            for title, want in (r for d in method.decorator_list for r in _parametrize_rows(d)):
                expected = {"series": tuple(want) if want else None}
                got = {"series": series_from_title(title)}
                yield Case("series guess from title", repr(title), expected, got)


def _parametrize_rows(deco: ast.expr) -> list[Any]:
    if not (isinstance(deco, ast.Call) and ast.unparse(deco.func).endswith("parametrize")):
        return []
    try:
        names = ast.literal_eval(deco.args[0])
        values = ast.literal_eval(deco.args[1])
    except (ValueError, IndexError):
        return []
    if names == "title,expected":
        return list(values)
    if names == "title":
        return [(v, None) for v in values]
    return []


# --------------------------------------------------------------------------- unit tests

# Upstream unit tests that fail against mamfast on purpose (docs/naming-parity.md).
UNIT_REASONS = {
    "TestFilterTitlePreserveExact::test_preserves_prefix_match": "D5",
    "TestFilterTitlePreserveExact::test_preserves_86_eighty_six_with_suffix": "D5",
    "TestFilterSeries::test_preserve_exact_works_in_series": "D5",
    "TestFilterSeries::test_invalid_regex_handled_gracefully": "D10",
}


def unit_test_cases(source: str) -> tuple[list[Case], int]:
    """Upstream's tests/test_naming.py through the adapter; also how many have no equivalent."""
    sys.path.insert(0, str(Path(__file__).parent))
    from naming_parity_shim import run_unit_tests

    outcomes = run_unit_tests(source, "test_naming.py")
    cases = []
    for outcome in ("passed", "failed"):
        for test in outcomes[outcome]:
            case = Case("unit tests (test_naming.py)", test, {"test": "passes"},
                        {"test": "passes" if outcome == "passed" else "fails"})  # fmt: skip
            if outcome == "failed" and test in UNIT_REASONS:
                case.reason = REASONS[UNIT_REASONS[test]]
            cases.append(case)
    return cases, len(outcomes["no_equivalent"])


# --------------------------------------------------------------------------- main


def load_cases(mirror: Path, rules: NamingRules) -> list[Case]:
    real = json.loads(git_show(mirror, "tests/fixtures/golden_samples_generated.json"))
    norm = json.loads(git_show(mirror, "tests/fixtures/audnex_normalization_samples.json"))
    cases: list[Case] = []
    for group, samples in real.items():
        if not group.startswith("_"):
            cases += book_cases(f"real books: {group}", samples, rules)
    for group, samples in norm.items():
        if not group.startswith("_"):
            cases += book_cases(f"normalization: {group}", samples, rules)
    cases += cleaning_cases(
        json.loads(git_show(mirror, "tests/golden/naming_inputs.json")),
        json.loads(git_show(mirror, "tests/golden/naming_expected.json")),
        rules,
    )
    cases += series_guess_cases(git_show(mirror, "tests/test_series_resolution.py"))
    units, no_equivalent = unit_test_cases(git_show(mirror, "tests/test_naming.py"))
    print(f"test_naming.py: {no_equivalent} tests call functions mamfast has no counterpart for")
    return cases + units


def report(cases: list[Case], rules: NamingRules, *, listing: bool) -> None:
    print(f"naming rules {rules.version or '?'}, convention {_convention(rules)}")
    groups: dict[str, Tally] = {}
    real, everything = Tally(), Tally()
    for case in cases:
        groups.setdefault(case.group, Tally()).add(case)
        everything.add(case)
        if case.group.startswith("real books"):
            real.add(case)
    for name, tally in groups.items():
        print(tally.line(name))
    print(real.line("REAL-BOOK SAMPLES"))
    print(everything.line("ALL CASES"))
    reasons = Counter(c.reason for c in cases if c.verdict == "equivalent")
    for reason, count in sorted(reasons.items(), key=lambda r: str(r[0])):
        print(f"  equivalent: {count:>4}  {reason}")
    if listing:
        for case in cases:
            if case.verdict != "identical":
                print(f"[{case.verdict}] {case.group} {case.name}")
                print(f"    upstream {case.expected}\n    mamfast  {case.got}")
                if case.reason:
                    print(f"    because  {case.reason}")


def _convention(rules: NamingRules) -> str:
    return str(getattr(rules.title_subtitle_normalization, "convention", "book_title"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirror", type=Path, help="git repository of the upstream tool")
    parser.add_argument("--list", action="store_true", help="print every non-identical case")
    parser.add_argument("--rules", type=Path, default=None, help="a naming.json to use")
    parser.add_argument(
        "--convention", choices=["series", "book_title"], help="as MAMFAST_TITLE_CONVENTION"
    )
    args = parser.parse_args(argv)
    rules = load_rules(args.rules)
    if args.convention:
        normalization = rules.title_subtitle_normalization.model_copy(
            update={"convention": args.convention}
        )
        rules = rules.model_copy(update={"title_subtitle_normalization": normalization})
    report(load_cases(args.mirror, rules), rules, listing=args.list)
    return 0


if __name__ == "__main__":
    sys.exit(main())
