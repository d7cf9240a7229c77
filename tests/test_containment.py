"""Data mamfast does not own: an ASIN that is a path, records pointing outside our folders.

Every test plants the bad value where it can really arrive (a Redis record, a
state file, a command-line argument) and proves that nothing outside
MAMFAST_SEED_DIR and MAMFAST_TORRENT_DIR changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mamfast.config import load_settings
from mamfast.engine import control
from mamfast.engine.stage_job import run_stage
from mamfast.errors import ConfigError, PermanentError
from mamfast.models import Release, Stage
from mamfast.ops.statefile import EXPORT_FORMAT, import_state
from mamfast.release.naming import load_rules
from mamfast.stages import default_pipeline, staging
from mamfast.stages import torrent as torrent_stage
from tests.support.engine_stages import instrumented_pipeline
from tests.support.library import audible, book, snapshot
from tests.support.records import plant_record, record_doc

# A path, not an ASIN: `seed/.mamfast-partial-` + this lands in the seed folder's parent.
TRAVERSAL = "/../../victim"


def victim(settings) -> Path:
    """A folder next to (not inside) the seed folder, with a file in it."""
    folder = settings.data_dir / "victim"
    folder.mkdir(parents=True)
    (folder / "precious.txt").write_text("not mamfast's")
    return folder


def library_book(settings) -> Path:
    return book(
        settings.library_dir / "Author" / "Book {ASIN.B0SOURCE01}",
        ["Book.m4b"],
        metadata=audible("B0SOURCE01", "Book", authors=["Author"]),
    )


def test_the_release_model_refuses_a_path_for_an_asin():
    for bad in (TRAVERSAL, "../victim", "B0SHORT", "b08g9prs1k", ""):
        with pytest.raises(ValidationError, match="not an ASIN"):
            Release(asin=bad)


async def test_a_planted_record_whose_asin_is_a_path_touches_nothing(
    make_services, settings, redis
):
    res = await make_services(default_pipeline(settings))
    target = victim(settings)
    source = library_book(settings)
    # The partial folder's prefix exists, so `.mamfast-partial-/../..` resolves.
    (settings.seed_folder / staging.PARTIAL_PREFIX).mkdir(parents=True)
    await plant_record(redis, TRAVERSAL, record_doc(TRAVERSAL, source_dir=str(source)))
    before = snapshot(settings.data_dir / "victim")

    outcome = await run_stage(res.engine, res, TRAVERSAL, "stage", f"mamfast:{TRAVERSAL}:stage:1")

    assert snapshot(target) == before
    assert (target / "precious.txt").read_text() == "not mamfast's"
    assert outcome == "damaged"


def test_staging_refuses_paths_outside_the_seed_folder_even_for_an_unchecked_record(settings):
    target = victim(settings)
    source = library_book(settings)
    (settings.seed_folder / staging.PARTIAL_PREFIX).mkdir(parents=True)
    unchecked = Release.model_construct(
        **{**Release(asin="B0SOURCE01", source_dir=str(source)).__dict__, "asin": TRAVERSAL}
    )
    before = snapshot(target)
    with pytest.raises(PermanentError, match="outside MAMFAST_SEED_DIR"):
        staging.stage_release(settings, unchecked, load_rules())
    assert snapshot(target) == before


async def test_state_import_refuses_a_path_for_an_asin(make_services, settings):
    res = await make_services(instrumented_pipeline())
    good = Release(asin="B0IMPORTED").model_dump(mode="json")
    bad = {**good, "asin": "../../victim"}
    report = await import_state(res.engine, {"format": EXPORT_FORMAT, "releases": [bad, good]})
    assert report.created == ["B0IMPORTED"]
    assert len(report.problems) == 1 and "not an ASIN" in report.problems[0]
    assert await res.engine.store.asins() == ["B0IMPORTED"]


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "../victim"],
        ["retry", "../victim"],
        ["reset", "../victim", "--stage", "stage"],
        ["enqueue", "--asin", "../victim", "--dry-run"],
    ],
)
def test_commands_refuse_a_path_for_an_asin(argv, cli):
    result = cli(*argv)
    assert result.exit_code == 2, result.output
    assert "not an ASIN" in " ".join(result.output.split())


async def test_forget_torrent_never_deletes_a_file_outside_the_torrent_folder(
    make_services, settings
):
    res = await make_services(instrumented_pipeline())
    precious = settings.data_dir / "precious.torrent"
    precious.parent.mkdir(parents=True, exist_ok=True)
    precious.write_bytes(b"someone else's")
    await res.engine.store.create(
        Release(asin="B0FORGET01", torrent_path=str(precious), infohash="a" * 40)
    )
    result = await control.reset(res.engine, "B0FORGET01", Stage.TORRENT, forget_torrent=True)
    assert precious.read_bytes() == b"someone else's"
    assert "outside MAMFAST_TORRENT_DIR" in result.message


@pytest.mark.parametrize("where", ["outside", "dotdot"])
async def test_later_stages_refuse_a_staged_folder_outside_the_seed_folder(
    make_services, settings, where
):
    res = await make_services({})
    outside = book(settings.data_dir / "elsewhere" / "Book {ASIN.B0OUTSIDE1}", ["Book.m4b"])
    folder = outside if where == "outside" else settings.seed_folder / ".."
    settings.seed_folder.mkdir(parents=True, exist_ok=True)
    before = snapshot(settings.data_dir)
    record = Release(asin="B0OUTSIDE1", staging_dir=str(folder))
    with pytest.raises(PermanentError, match="outside MAMFAST_SEED_DIR"):
        await torrent_stage.run(res, record)
    assert snapshot(settings.data_dir) == before


@pytest.mark.parametrize("name", ["seed_dir", "torrent_dir"])
@pytest.mark.parametrize("where", ["", "inside"])
def test_settings_refuse_a_seed_or_torrent_folder_in_the_library(tmp_path, name, where):
    library = tmp_path / "library"
    with pytest.raises(ConfigError, match="inside the library"):
        load_settings(
            _env_file=None, library_dir=library, data_dir=tmp_path, **{name: library / where}
        )
