"""`mamfast naming preview` on real folders."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mamfast.cli.app import app
from tests.support.library import age, audible, book


@pytest.fixture
def cli_env(monkeypatch, settings, redis_server):
    assert settings.library_dir is not None
    monkeypatch.setenv("MAMFAST_LIBRARY_DIR", str(settings.library_dir))
    monkeypatch.setenv("MAMFAST_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MAMFAST_REDIS_URL", redis_server.url)
    monkeypatch.setenv("MAMFAST_SETTLE_SECONDS", "0")
    monkeypatch.setenv("MAMFAST_RIPPER_TAG", "Tag")
    return settings


def test_naming_preview_json(cli_env):
    library = cli_env.library_dir
    book(
        library / "Long/Very Long [B0LONGLONG]",
        ["a.m4b"],
        metadata=audible("B0LONGLONG", "x", authors=["Some Author"], series=("S" * 150, "2")),
    )
    book(library / "Short/Project Hail Mary [B08G9PRS1K]", ["Project Hail Mary.m4b"])
    book(library / "Bad/No Asin", ["a.m4b"])
    age(library)
    result = CliRunner().invoke(app, ["naming", "preview", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {r["asin"]: r for r in data["releases"]}
    assert rows["B0LONGLONG"]["truncated"] is True
    assert rows["B0LONGLONG"]["dropped"] == ["author", "year"]
    assert rows["B08G9PRS1K"]["folder"] == "Project Hail Mary (Short) {ASIN.B08G9PRS1K} [Tag]"
    assert rows["B08G9PRS1K"]["files"] == {
        "Project Hail Mary.m4b": "Project Hail Mary (Short) {ASIN.B08G9PRS1K}.m4b"
    }
    assert data["rejects"][0]["reason"].startswith("no ASIN")


def test_naming_preview_table_flags_truncation(cli_env):
    library = cli_env.library_dir
    book(
        library / "Long/Very Long [B0LONGLONG]",
        ["a.m4b"],
        metadata=audible("B0LONGLONG", "x", authors=["Some Author"], series=("S" * 150, "2")),
    )
    age(library)
    result = CliRunner().invoke(app, ["naming", "preview", str(library / "Long")])
    assert result.exit_code == 0, result.output
    assert "1 release(s), 1 shortened or with parts dropped" in " ".join(result.output.split())
    assert "shortened" in result.output


def test_naming_preview_reports_a_bad_rules_file(cli_env, monkeypatch, tmp_path):
    bad = tmp_path / "naming.json"
    bad.write_text("{")
    monkeypatch.setenv("MAMFAST_NAMING_FILE", str(bad))
    result = CliRunner().invoke(app, ["naming", "preview"])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
