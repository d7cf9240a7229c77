"""The portable-name check that guards every name naming builds."""

from __future__ import annotations

import pytest

from mamfast.release.naming import MAX_NAME_BYTES
from mamfast.release.portable import check_portable


def test_names_naming_builds_pass():
    check_portable(
        ["Re -ZERO, vol_01 (2020) (Tappei) {ASIN.B0AAAAAAAA}", "emoji 🎧 - Part 01.m4b", "é" * 127],
        max_bytes=MAX_NAME_BYTES,
    )


@pytest.mark.parametrize(
    "name",
    ["a:b", "a/b", "q?", "tab\there", "del\x7f", "dot.", "space ", "CON", "nul.m4b", "é" * 128, ""],
)
def test_unportable_names_are_refused(name):
    with pytest.raises(ValueError, match="unportable name"):
        check_portable(["fine", name], max_bytes=MAX_NAME_BYTES)
