"""MAM names for a release: the rules, cleaning, authors, volumes and the folder/file builder.

Pure functions, no I/O except `load_rules`. The package's modules, by concern:

* `rules`: naming.json read and checked (`NamingRules`, `load_rules`);
* `clean`: title, subtitle and series cleaning, the title/subtitle swap repair;
* `authors`: author credits filtered and romanised;
* `volumes`: series positions as `vol_NN`, volumes read from titles;
* `paths`: the MAM folder and file names within the path budget, `staged_asin`.

This module re-exports their public names, so `from mamfast.release.naming
import mam_names` keeps working; code inside mamfast imports the submodules.
"""

from mamfast.library.names import series_from_title
from mamfast.library.selection import AUDIO_EXTENSIONS, natural_key
from mamfast.release.naming.authors import filter_author_roles, romanize
from mamfast.release.naming.clean import (
    TitleParts,
    clean_series,
    clean_subtitle,
    clean_title,
    is_genre_line,
    is_preserved,
    normalize_title_subtitle,
    tidy,
)
from mamfast.release.naming.paths import (
    COVER_STEMS,
    DROPPABLE,
    ELLIPSIS,
    MAX_NAME_BYTES,
    MIN_HEAD_CHARS,
    MamPath,
    NameParts,
    NameTooLongError,
    build_mam_path,
    file_suffixes,
    mam_names,
    name_parts,
    sanitize_component,
    staged_asin,
)
from mamfast.release.naming.rules import (
    SHIPPED_RULES,
    AuthorRoles,
    Droppable,
    MamPathRules,
    NamingRules,
    PatternList,
    PhraseList,
    PreserveExact,
    PreserveInJson,
    RedundancyRule,
    RedundancyRules,
    SeriesNameCleaning,
    SubtitlePatterns,
    TitleSubtitleNormalization,
    Toggle,
    load_rules,
)
from mamfast.release.naming.volumes import format_volume, volume_from_title

__all__ = [
    "AUDIO_EXTENSIONS",
    "COVER_STEMS",
    "DROPPABLE",
    "ELLIPSIS",
    "MAX_NAME_BYTES",
    "MIN_HEAD_CHARS",
    "SHIPPED_RULES",
    "AuthorRoles",
    "Droppable",
    "MamPath",
    "MamPathRules",
    "NameParts",
    "NameTooLongError",
    "NamingRules",
    "PatternList",
    "PhraseList",
    "PreserveExact",
    "PreserveInJson",
    "RedundancyRule",
    "RedundancyRules",
    "SeriesNameCleaning",
    "SubtitlePatterns",
    "TitleParts",
    "TitleSubtitleNormalization",
    "Toggle",
    "build_mam_path",
    "clean_series",
    "clean_subtitle",
    "clean_title",
    "file_suffixes",
    "filter_author_roles",
    "format_volume",
    "is_genre_line",
    "is_preserved",
    "load_rules",
    "mam_names",
    "name_parts",
    "natural_key",
    "normalize_title_subtitle",
    "romanize",
    "sanitize_component",
    "series_from_title",
    "staged_asin",
    "tidy",
    "volume_from_title",
]
