"""Book languages as MAM's upload form names them, from what Audible and Audnex write.

Audible writes lowercase words, some with underscores (`english`,
`mandarin_chinese`, `brazilian_portuguese`); Libation's metadata may
capitalise them. MAM's form has a fixed language list, and the fast-fill
JSON's `language` must be one of its names: MAM's Upload Helper picks the
option whose text equals the value (lowercased, everything but letters,
spaces, "/" and "-" removed), so "Mandarin_chinese" would pick nothing.

The names and ids are MAM's language table as a third-party MAM client
(StirlingMouse/MLM, `mlm_db/src/impls/language.rs`) sends them to MAM's
search (`tor[browse_lang][]`); `VERIFIED` lists the ones we have also seen
on MAM's side. The fast-fill JSON writes the name, never the id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class MamLanguage:
    name: str  # the text of MAM's option
    id: int  # MAM's language id (search filter and form value)
    aliases: tuple[str, ...] = ()  # other spellings, normalised (see `_key`)


# (name, id, aliases): every MAM language, Audible's spellings as aliases.
LANGUAGES: tuple[MamLanguage, ...] = (
    MamLanguage("English", 1, ("american english", "british english", "en", "eng")),
    MamLanguage("Afrikaans", 17),
    MamLanguage("Arabic", 32, ("standard arabic", "modern standard arabic")),
    MamLanguage("Bengali", 35, ("bangla",)),
    MamLanguage("Bosnian", 51),
    MamLanguage("Bulgarian", 18),
    MamLanguage("Burmese", 6),
    MamLanguage("Cantonese", 44, ("cantonese chinese",)),
    MamLanguage("Catalan", 19),
    MamLanguage("Chinese", 2, ("mandarin chinese", "mandarin", "simplified chinese")),
    MamLanguage("Croatian", 49),
    MamLanguage("Czech", 20),
    MamLanguage("Danish", 21),
    MamLanguage("Dutch", 22, ("flemish",)),
    MamLanguage("Estonian", 61),
    MamLanguage("Farsi", 39, ("persian",)),
    MamLanguage("Finnish", 23),
    MamLanguage("French", 36, ("canadian french",)),
    MamLanguage("German", 37),
    MamLanguage("Greek", 26, ("modern greek",)),
    MamLanguage("Ancient Greek", 59, ("greek ancient", "greek, ancient")),
    MamLanguage("Gujarati", 3),
    MamLanguage("Hebrew", 27),
    MamLanguage("Hindi", 8),
    MamLanguage("Hungarian", 28),
    MamLanguage("Icelandic", 63),
    MamLanguage("Indonesian", 53, ("bahasa indonesia",)),
    MamLanguage("Irish", 56, ("irish gaelic",)),
    MamLanguage("Italian", 43),
    MamLanguage("Japanese", 38),
    MamLanguage("Javanese", 12),
    MamLanguage("Kannada", 5),
    MamLanguage("Korean", 41),
    MamLanguage("Lithuanian", 50),
    MamLanguage("Latin", 46),
    MamLanguage("Latvian", 62),
    MamLanguage("Malay", 33),
    MamLanguage("Malayalam", 58),
    MamLanguage("Manx", 57),
    MamLanguage("Marathi", 9),
    MamLanguage("Norwegian", 48, ("norwegian bokmal", "norwegian bokmål", "norwegian nynorsk")),
    MamLanguage("Polish", 45),
    MamLanguage("Portuguese", 34, ("european portuguese",)),
    MamLanguage("Brazilian", 52, ("brazilian portuguese", "brazilian portuguese (bp)", "bp")),
    MamLanguage("Punjabi", 14, ("panjabi",)),
    MamLanguage("Romanian", 30),
    MamLanguage("Russian", 16),
    MamLanguage("Scottish", 24, ("scottish gaelic", "gaelic")),
    MamLanguage("Sanskrit", 60),
    MamLanguage("Serbian", 31),
    MamLanguage("Slovenian", 54, ("slovene",)),
    MamLanguage("Spanish", 4, ("latin american spanish",)),
    MamLanguage("Castilian", 55, ("castilian spanish",)),
    MamLanguage("Swedish", 40),
    MamLanguage("Tagalog", 29, ("filipino",)),
    MamLanguage("Tamil", 11),
    MamLanguage("Telugu", 10),
    MamLanguage("Thai", 7),
    MamLanguage("Turkish", 42),
    MamLanguage("Ukrainian", 25),
    MamLanguage("Urdu", 15),
    MamLanguage("Vietnamese", 13),
    MamLanguage("Other", 47),
)

# Seen on MAM's side, not only in the third-party table: English is the form's
# default and id 1 is the one every MAM search example and client filters on.
VERIFIED: frozenset[str] = frozenset({"English"})

_SEPARATORS = re.compile(r"[\s_\-]+")


def _key(text: str) -> str:
    """`Mandarin_Chinese`, `mandarin-chinese`, ` mandarin  chinese ` -> `mandarin chinese`."""
    return _SEPARATORS.sub(" ", text.strip().casefold()).strip()


def _index() -> dict[str, MamLanguage]:
    table: dict[str, MamLanguage] = {}
    for language in LANGUAGES:
        for spelling in (language.name, *language.aliases):
            table[_key(spelling)] = language
    return table


_BY_KEY = _index()


def lookup(value: str | None) -> MamLanguage | None:
    """MAM's language for an Audible/Audnex/Libation value; None when MAM has none."""
    if not value or not value.strip():
        return None
    return _BY_KEY.get(_key(value))


def mam_language(value: str | None) -> str | None:
    """MAM's name for `value` ("mandarin_chinese" -> "Chinese"), None when unknown."""
    found = lookup(value)
    return found.name if found else None


def readable(value: str | None) -> str | None:
    """For the description: MAM's name when it has one, else the value in plain words."""
    if not value or not value.strip():
        return None
    return mam_language(value) or " ".join(w.capitalize() for w in _key(value).split())
