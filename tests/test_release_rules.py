"""Naming rules, category maps and the description template are read once, at worker start.

A broken file is one clear error when the worker starts, not one failed release per book.
"""

from __future__ import annotations

import asyncio

import pytest

from mamfast.engine.dispatch import submit
from mamfast.models import Release, Status
from mamfast.release.description import render
from mamfast.release.rules import load_release_rules
from mamfast.stages import default_pipeline
from tests.support.processes import run_cli, settings_env
from tests.test_description import AUDIO, facts

ASINS = ("B0TEST0001", "B0TEST0002")


@pytest.mark.parametrize(
    ("setting", "file", "content", "message"),
    [
        ("MAMFAST_NAMING_FILE", "naming.json", "{not json", "naming rules {} is not valid JSON"),
        ("MAMFAST_CATEGORIES_FILE", "cats.json", '{"genres": 1}', "categories file {} is invalid"),
        ("MAMFAST_DESCRIPTION_TEMPLATE", "mine.j2", "{% if %}", "description template {} failed"),
    ],
)
async def test_a_broken_rules_file_stops_the_worker_at_start(
    make_services, settings, tmp_path, setting, file, content, message
):
    res = await make_services(default_pipeline(settings))
    for asin in ASINS:  # books waiting: none of them may be failed for a broken setting
        await submit(res.engine, Release(asin=asin, source_dir=str(tmp_path / asin)))
    broken = tmp_path / file
    broken.write_text(content, encoding="utf-8")
    env = {**settings_env(settings), setting: str(broken)}

    done = await asyncio.to_thread(run_cli, "worker", "--burst", env=env, cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    assert message.format(broken) in done.stderr
    assert "Traceback" not in done.stderr
    for asin in ASINS:
        record = await res.engine.store.get(asin)
        assert record is not None
        assert (record.status, record.attempts, record.last_error) == (Status.QUEUED, {}, None)


def test_the_loaded_template_renders_what_the_file_does(tmp_path, settings):
    template = tmp_path / "mine.j2"
    template.write_text("[b]{{ title }}[/b]", encoding="utf-8")
    rules = load_release_rules(settings.model_copy(update={"description_template": template}))
    template.unlink()  # loaded once: rendering a release reads no file

    assert render(facts(), AUDIO, template=rules.template) == "[b]The Way of Kings[/b]"
