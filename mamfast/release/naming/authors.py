"""Authors for MAM: credits that are not authors left out, names in Latin script.

`filter_author_roles` drops translators, illustrators, "Foreword by X"...;
`romanize` gives the JSON and description a Latin-script name (author_map,
then pykakasi for Japanese). Folder names keep the original spelling.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

from mamfast.release.naming.rules import NamingRules

_WS = re.compile(r"\s+")
_JAPANESE_RUN = re.compile(
    r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f々〆ヶ]+"
    r"(?:[ \u3000・][\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]+)*"
)


def filter_author_roles(names: list[str], rules: NamingRules) -> list[str]:
    """Authors only: drop translators, illustrators, "Foreword by X"...; de-duplicated, in order."""
    compiled = rules.compiled
    kept: list[str] = []
    seen: set[str] = set()
    for raw in names:
        name = _WS.sub(" ", raw).strip()
        if not name:
            continue
        if compiled.role_suffix and compiled.role_suffix.search(name):
            continue
        if compiled.role_prefix.search(name):
            continue
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            kept.append(name)
    return kept


def credited_people(names: list[str], rules: NamingRules) -> dict[str, str]:
    """Person -> role for every credit that names a role ("X - illustrator", "Edited by X").

    Audio tags credit illustrators, editors and translators next to the authors; a
    person credited so is not an author even where Audnex lists them plainly.
    """
    compiled = rules.compiled
    found: dict[str, str] = {}
    for raw in names:
        name = _WS.sub(" ", raw).strip()
        person, role = "", ""
        if compiled.role_suffix and (match := compiled.role_suffix.search(name)):
            person = name[: match.start()].strip()
            role = match.group(0).strip(" -–—,:()")
        elif match := compiled.role_prefix.match(name):
            person = name[match.end() - 1 :].strip()
            role = name[: match.end() - 1].strip()
            if role.casefold() == "with":  # "with X" credits a co-author, not a role
                person = ""
        if person and person.casefold() not in {p.casefold() for p in found}:
            found[person] = role.casefold()
    return found


def romanize(name: str, rules: NamingRules) -> str:
    """A Latin-script name for the JSON and description (folder names keep the original).

    author_map first (exact, close match for non-Latin input, then substrings),
    then pykakasi Hepburn for what is still Japanese, Title-Cased. Other
    scripts are returned unchanged.
    """
    text = _WS.sub(" ", unicodedata.normalize("NFKC", name)).strip()
    mapping = {unicodedata.normalize("NFKC", k): v for k, v in rules.author_map.items()}
    if text in mapping:
        return mapping[text]
    if mapping and not text.isascii():
        close = difflib.get_close_matches(text, list(mapping), n=1, cutoff=0.85)
        if close:
            return mapping[close[0]]
    for key in sorted(mapping, key=len, reverse=True):
        if key in text:
            text = text.replace(key, mapping[key])
    if rules.transliterate_japanese and _JAPANESE_RUN.search(text):
        text = _transliterate(text)
    return _WS.sub(" ", text).strip()


def _transliterate(text: str) -> str:
    import pykakasi  # imported on first use: loading its dictionaries takes ~0.5 s

    converter = pykakasi.kakasi()  # type: ignore[no-untyped-call]

    def hepburn(match: re.Match[str]) -> str:
        words = " ".join(item["hepburn"] for item in converter.convert(match.group(0))).split()
        return " ".join(word[:1].upper() + word[1:] for word in words)

    return _JAPANESE_RUN.sub(hepburn, text)
