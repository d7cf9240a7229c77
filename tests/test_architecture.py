"""docs/architecture.md's module tables equal the tree, in the import contract's layer order.

The "Modules" section has a `###` heading per package, naming it in full in backticks (the
last name if there are several), and a table under it whose first column names modules in
backticks, relative to that package (or in full, when a name starts with `mamfast` or
`workers`). Every module and package under mamfast/ and workers/ must be named there once,
and nothing else; a failure lists exactly what to add or remove.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("mamfast", "workers")
TICKED = re.compile(r"`([^`]+)`")


def tree_modules() -> set[str]:
    """Every module and package of the source tree, by dotted name."""
    found: set[str] = set()
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.add(".".join(parts))
    return found


def table_modules() -> list[tuple[int, str, bool]]:
    """(line number, dotted name, in a heading?) for every name in the Modules section."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Modules")
    named: list[tuple[int, str, bool]] = []
    package: str | None = None
    for number, line in enumerate(lines[start + 1 :], start + 2):
        if line.startswith("## "):
            break
        if line.startswith("### "):
            heading = TICKED.findall(line)
            assert heading, f"{DOC.name}:{number}: a heading names no package in backticks"
            named += [(number, name, True) for name in heading]
            package = heading[-1]
            continue
        if not line.startswith("|") or re.fullmatch(r"[|\-: ]+", line):
            continue
        cell = line.split("|")[1]
        for name in TICKED.findall(cell):
            if name.split(".")[0] in PACKAGES:
                named.append((number, name, False))
            else:
                assert package, f"{DOC.name}:{number}: a table row before any package heading"
                named.append((number, f"{package}.{name}", False))
    return named


def contract_layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # The package-wide contract: the layers contract with the most layers.
    layers = max(
        (c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"),
        key=len,
    )
    return [[m.strip() for m in re.split(r"[|:]", layer)] for layer in layers]


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    for index, members in enumerate(layers):
        if any(module == m or module.startswith(m + ".") for m in members):
            return index
    return None


def test_the_module_tables_name_every_module_and_nothing_else():
    named = table_modules()
    tree = tree_modules()
    names = {name for _, name, _ in named}
    problems = []
    if missing := sorted(tree - names):
        problems.append("not in the table (add a row): " + ", ".join(missing))
    if extra := sorted(names - tree):
        problems.append("in the table but not in the tree (remove the row): " + ", ".join(extra))
    # A package's row may repeat its heading (for what its __init__ holds); nothing else twice.
    for in_heading in (True, False):
        seen = [name for _, name, heading in named if heading is in_heading]
        if twice := sorted({n for n in seen if seen.count(n) > 1}):
            problems.append("named more than once: " + ", ".join(twice))
    assert not problems, f"{DOC.relative_to(ROOT)} 'Modules' is out of step with the tree:\n" + (
        "\n".join(f"  {p}" for p in problems)
    )


def test_every_module_is_in_a_layer_of_the_import_contract():
    # A module in no layer is not checked by lint-imports at all.
    layers = contract_layers()
    outside = sorted(m for m in tree_modules() - set(PACKAGES) if layer_of(m, layers) is None)
    assert not outside, (
        "modules in no layer of [tool.importlinter] in pyproject.toml (so no import rule "
        "applies to them): " + ", ".join(outside)
    )


def test_the_tables_follow_the_layer_order():
    layers = contract_layers()
    previous = (0, "the top")
    for number, name, _ in table_modules():
        layer = layer_of(name, layers)
        if layer is None:
            continue  # the root package itself, or a name the test above reports
        assert layer >= previous[0], (
            f"{DOC.relative_to(ROOT)}:{number}: {name} (layer {layer}) comes after "
            f"{previous[1]} (layer {previous[0]}); keep the tables in the layer order of "
            "pyproject.toml, the top layer (0) first"
        )
        previous = (layer, name)
