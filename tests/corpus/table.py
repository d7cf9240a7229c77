"""docs/corpus.md, the table "input -> what the user sees", made from the corpus cases.

    python -m tests.corpus.table > docs/corpus.md

tests/corpus/test_table.py fails when the file and the cases differ.
"""

from __future__ import annotations

from tests.corpus.cases import SECTIONS, Case

HEADER = """\
# Bad input: what the user sees

Every row is a case of the corpus (`tests/corpus/cases.py`), run through the real
pipeline by `tests/corpus/test_corpus.py` together with well-formed books: real
workers, Redis, qbittorrent-nox and MediaInfo, with Audnex played by a local server.
For every case the test checks the outcome and the text below, and for every run
that the other books finish, that the library and the folders beside mamfast's own
are byte-for-byte unchanged, that nothing half-written is left and that no worker
crashed.

*Outcome*: **rejected** means the scan (`mamfast enqueue`, `mamfast run`) lists the
folder with its reason and processes the others (or `mamfast state import` lists the
entry and imports the others); **needs attention** means the release stopped at that
stage and `mamfast status ASIN` shows the reason with what to do (fix it, then
`mamfast retry ASIN`); **refused** means the command stops at once with one line naming
the setting; **seeding** means the release finished (with the warning shown, if any);
**damaged** means `mamfast status` lists the record as unreadable with what to do, and
nothing else uses it; **kept** means `mamfast cleanup --apply` leaves the folder as it
was.

Every run is also checked for: no `.torrent` readable by everyone (they hold the
passkey), one staged folder and one torrent per ASIN, no image or foreign link in any
description, no terminal control or bidi character printed by `mamfast status`. After
the run of the big group (the cases below that are not full-disk or settings cases),
`mamfast enqueue --dry-run` must print nothing harmful either, and `mamfast cleanup`
(its output piped) and `mamfast cleanup --apply` must remove nothing of that run's.

This file is generated: after changing a case, run
`python -m tests.corpus.table > docs/corpus.md`.
"""


def outcome(case: Case) -> str:
    if case.expect == "needs_attention":
        return f"needs attention ({case.stage})" if case.stage else "needs attention"
    if case.expect == "complete":
        return "seeding, with a warning" if case.sees else "seeding"
    if case.expect == "duplicate":
        return "rejected (both folders)"
    if case.expect == "rejected" and case.imported is not None:
        return "rejected by `mamfast state import`"
    if case.expect == "kept":
        return "kept by `mamfast cleanup --apply`"
    if case.expect == "damaged":
        return "listed as damaged"
    if case.expect == "refused" and case.command[:1] == ("worker",):
        return "refused: `mamfast worker` does not start"
    return case.expect


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    lines = [HEADER]
    for title, cases in SECTIONS:
        lines += [f"## {title}", "", "| case | input | outcome | the message says |"]
        lines.append("|---|---|---|---|")
        for case in cases:
            says = f"`{cell(case.sees)}`" if case.sees else ""
            lines.append(f"| `{case.id}` | {cell(case.input)} | {outcome(case)} | {says} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
