"""The rules releases are prepared with: naming rules, category maps, the description template.

Loaded once per worker (`stages.services.open_services`) or command and passed down, so
a broken file (MAMFAST_NAMING_FILE, MAMFAST_CATEGORIES_FILE,
MAMFAST_AUDIOBOOK_CATEGORIES_FILE, MAMFAST_DESCRIPTION_TEMPLATE)
stops the worker at start with one ConfigError instead of failing every release in turn,
and no release reads them from disk again.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamfast.config import Settings
from mamfast.release.categories import Categories, load_categories
from mamfast.release.description import DescriptionTemplate, load_template
from mamfast.release.naming import NamingRules, load_rules


@dataclass(frozen=True)
class ReleaseRules:
    naming: NamingRules
    categories: Categories
    template: DescriptionTemplate


def load_release_rules(settings: Settings) -> ReleaseRules:
    """All three, from the settings' files or the shipped ones. Blocking; raises ConfigError."""
    return ReleaseRules(
        naming=naming_rules(settings),
        categories=load_categories(settings.categories_file, settings.audiobook_categories_file),
        template=load_template(settings.description_template),
    )


def naming_rules(settings: Settings) -> NamingRules:
    """The naming rules file with MAMFAST_TITLE_CONVENTION applied. Blocking; raises ConfigError."""
    rules = load_rules(settings.naming_file)
    normalization = rules.title_subtitle_normalization.model_copy(
        update={"convention": settings.title_convention}
    )
    return rules.model_copy(update={"title_subtitle_normalization": normalization})
