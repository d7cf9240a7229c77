"""The metadata stage end to end: fake Audnex, real MediaInfo, real files, real Redis."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mamfast.clients.audnex import AudnexClient, RetryPolicy
from mamfast.engine.dispatch import submit
from mamfast.engine.spec import StageSpec
from mamfast.errors import (
    AudnexUnavailableError,
    MediaInfoError,
    MetadataError,
    StagingError,
)
from mamfast.models import BookInfo, Release, SeriesRef, Stage, Status
from mamfast.release.mamjson import FastFill
from mamfast.release.review import blocking
from mamfast.stages import metadata
from tests.support.drain import drain
from tests.support.engine_stages import instrumented_pipeline, plan
from tests.support.fastfill import shape_problems
from tests.support.netguard import loopback_only  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("loopback_only")

AUDIO = Path(__file__).resolve().parent / "fixtures" / "audio"
FAST = RetryPolicy(
    attempts=2, backoff_base=0.01, backoff_cap=0.02, breaker_threshold=2, breaker_cooldown=30
)
# (asin, audio fixture, regions): the five recorded-shaped books
BOOKS = {
    "B003ZWFO7E": ("book.m4b", ["us"]),  # series book, Audnex chapters
    "B08G9PRS1K": ("book.m4b", ["us"]),  # standalone
    "B0SAO16XYZ": ("book.m4b", ["us"]),  # title/subtitle swapped, translator in authors
    "B0MUSHOKU1": ("book.m4b", ["us"]),  # Japanese author, light-novel cruft
    "B0NONARR01": ("track.mp3", ["us", "uk"]),  # no narrators anywhere, uk only, nonfiction
}


@pytest.fixture
async def stage_res(make_services, audnex, tmp_path) -> AsyncIterator[Any]:
    """Services for the stage, Audnex pointed at the fake, with short retry policies."""

    async def factory(policy: RetryPolicy = FAST, **overrides: Any) -> Any:
        values = {
            "audnex_url": audnex.url,
            "seed_dir": tmp_path / "seed",  # where `staged()` puts its folders
            "torrent_dir": tmp_path / "torrents",
            **overrides,
        }
        res = await make_services({}, **values)
        await res.audnex.close()
        res.audnex = AudnexClient.for_worker(res.settings, res.redis, policy=policy)
        res.on_close(res.audnex.close)
        return res

    yield factory


def staged(tmp_path: Path, asin: str, audio: str = "book.m4b", *, parts: int = 1) -> Path:
    folder = tmp_path / "seed" / f"A Book (2020) (An Author) {{ASIN.{asin}}} [Tag]"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(audio).suffix
    if parts == 1:
        shutil.copyfile(AUDIO / audio, folder / f"{folder.name[:-6]}{suffix}")
    for n in range(1, parts + 1 if parts > 1 else 1):
        shutil.copyfile(AUDIO / audio, folder / f"{folder.name[:-6]} - Part {n:02d}{suffix}")
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    return folder


def release_for(folder: Path, asin: str, **book: Any) -> Release:
    return Release(
        asin=asin,
        title=book.get("title", ""),
        staging_dir=str(folder),
        book=BookInfo(**book),
        stage=Stage.METADATA,
    )


async def run_stage(res: Any, folder: Path, asin: str, **book: Any):
    result = await metadata.run(res, release_for(folder, asin, **book))
    data = json.loads(Path(result.output.json_path).read_text("utf-8"))
    text = Path(result.output.description_path).read_text("utf-8")
    return result, data, text


@pytest.mark.parametrize("asin", list(BOOKS))
async def test_every_fixture_book_passes_the_upload_checklist(stage_res, tmp_path, asin):
    audio, regions = BOOKS[asin]
    res = await stage_res(audnex_regions=regions)
    folder = staged(tmp_path, asin, audio)
    result, data, text = await run_stage(res, folder, asin)

    expected = res.settings.torrent_folder / folder.name / f"{folder.name}.json"
    assert result.output.json_path == str(expected)
    assert result.output.description_path == str(expected.with_name(f"{folder.name}.bbcode.txt"))
    assert shape_problems(data) == []  # MAM's shapes, the form's order, no empty value
    fastfill = FastFill.model_validate(data)  # typed all the way down
    assert blocking(fastfill) == []  # nothing MAM's upload helper would refuse
    assert data["isbn"] == f"ASIN:{asin}" and data["mediaType"] == 1
    assert data["description"] == text.rstrip("\n") and "\n" not in data["description"]
    media = json.loads(data["mediaInfo"])["media"]
    assert media["@ref"] == next(p.name for p in folder.iterdir() if p.suffix != ".jpg")
    assert not data["tags"].rstrip().endswith(("|", ","))
    assert result.warnings == []
    summary = result.display["metadata"]
    assert summary["source"] == "audnex" and summary["audnex_region"] == regions[-1]
    assert summary["review_blocking"] == 0
    assert isinstance(result.output.review, list)
    done = release_for(folder, asin).model_copy(update=result.output.changes())
    assert metadata.artifacts_missing(done) is None


async def test_series_book_fields(stage_res, tmp_path):
    res = await stage_res()
    _, data, text = await run_stage(res, staged(tmp_path, "B003ZWFO7E"), "B003ZWFO7E")
    assert data["title"] == "The Way of Kings" and "subtitle" not in data
    assert data["authors"] == ["Brandon Sanderson"]
    assert data["narrators"] == ["Michael Kramer", "Kate Reading"]
    assert data["series"] == [{"name": "The Stormlight Archive", "number": "1"}]
    assert data["thumbnail"].startswith("https://m.media-amazon.com/")
    assert data["language"] == "English"
    assert (data["categories"], data["category"], data["main_cat"]) == (
        [13],
        "Audiobooks - Fantasy",
        1,
    )
    assert data["tags"] == (
        "Length: 5s | Release date: August 31, 2010 | Format: M4B, AAC LC (CBR ~64 kb/s) "
        "| Chapterized | Fantasy, Epic"
    )
    assert "flags" not in data  # an empty list would untick every flag in the helper
    # Audnex's chapter titles win over the file's
    assert "00:00:02 - Prelude to the Stormlight Archive[br]" in text


async def test_swapped_title_is_repaired_in_json_and_description(stage_res, tmp_path):
    res = await stage_res()
    result, data, text = await run_stage(res, staged(tmp_path, "B0SAO16XYZ"), "B0SAO16XYZ")
    # MAMFAST_TITLE_CONVENTION=series (the default): "Series N" is the title.
    assert (data["title"], data["subtitle"]) == ("Sword Art Online 16", "Alicization Exploding")
    assert data["series"] == [{"name": "Sword Art Online", "number": "16"}]
    assert data["authors"] == ["Reki Kawahara"]  # illustrator and translator are not authors
    assert text.startswith(
        "[center][size=6][b][color=#3aa6ff]Sword Art Online 16: Alicization Exploding[/color]"
    )
    assert "[b]Translator:[/b] Stephen Paul[br]" in text and "- translator" not in text
    assert data["categories"] == [13, 29]
    assert not any("were swapped" in s for s in result.output.review)  # Audible's order already


async def test_book_title_convention_puts_the_books_own_name_first(stage_res, tmp_path):
    res = await stage_res(title_convention="book_title")
    result, data, text = await run_stage(res, staged(tmp_path, "B0SAO16XYZ"), "B0SAO16XYZ")
    assert data["title"] == "Alicization Exploding"
    assert any("were swapped" in s for s in result.output.review)
    assert data["series"] == [{"name": "Sword Art Online", "number": "16"}]
    assert text.startswith("[center][size=6][b][color=#3aa6ff]Alicization Exploding[/color]")


async def test_japanese_author_is_romanized_and_cruft_removed(stage_res, tmp_path):
    res = await stage_res()
    _, data, text = await run_stage(res, staged(tmp_path, "B0MUSHOKU1"), "B0MUSHOKU1")
    assert data["authors"] == ["Rifujin na Magonote"]
    assert data["title"] == "Mushoku Tensei: Jobless Reincarnation, Vol. 1"
    assert "subtitle" not in data  # "Light Novel" is not a subtitle
    assert data["series"] == [{"name": "Mushoku Tensei: Jobless Reincarnation", "number": "1"}]
    assert "理不尽" not in text and "Rifujin na Magonote" in text


async def test_missing_narrators_are_a_review_note_not_an_error(stage_res, tmp_path):
    res = await stage_res(audnex_regions=["us", "uk"])
    folder = staged(tmp_path, "B0NONARR01", "track.mp3")
    result, data, text = await run_stage(res, folder, "B0NONARR01")
    assert "narrators" not in data
    # found in the uk store only: the description links there, not to audible.com
    assert "[url=https://www.audible.co.uk/pd/B0NONARR01]" in text
    assert data["main_cat"] == 2 and data["category"] == "Audiobooks - History"
    assert data["categories"] == [17] and data["flags"] == {"abridged": True}
    assert "Abridged" in data["tags"] and "Chapterized" not in data["tags"]
    review = result.output.review
    assert any(s.startswith("No narrator is listed") for s in review)
    assert any("Audible lists 5h 0m" in s for s in review)  # 5 s of audio vs 300 min listed


async def test_multi_part_book(stage_res, tmp_path):
    res = await stage_res()
    folder = staged(tmp_path, "B08G9PRS1K", parts=3)
    result, data, text = await run_stage(res, folder, "B08G9PRS1K")
    assert data["tags"].startswith("Length: 15s | ")
    assert json.loads(data["mediaInfo"])["media"]["@ref"].endswith(" - Part 01.m4b")
    assert text.count(" - Chapter ") == 6 and "00:00:12 - Chapter 2[br]" in text
    assert result.display["metadata"]["files"] == 3


async def test_audnex_not_found_goes_on_with_libation_metadata(stage_res, tmp_path, audnex):
    res = await stage_res(audnex_regions=["us", "uk"])
    folder = staged(tmp_path, "B0UNKNOWN1")
    result, data, text = await run_stage(
        res,
        folder,
        "B0UNKNOWN1",
        title="The Lost Book: A Novel",
        authors=["Ann Author"],
        narrators=["Ned Narrator"],
        series=[SeriesRef(name="Lost Series", position="2")],
        year="2019",
        language="english",
        summary="First line.\n\nSecond paragraph.",
    )
    assert result.warnings == ["audnex: missing (not found in us, uk)"]
    assert data["title"] == "The Lost Book"
    assert data["series"] == [{"name": "The Lost", "number": "2"}]  # naming inherits "The"
    assert data["authors"] == ["Ann Author"] and data["narrators"] == ["Ned Narrator"]
    assert "thumbnail" not in data and data["language"] == "English"
    assert "First line.[br][br]Second paragraph." in text
    review = result.output.review
    assert review[0].startswith("No cover URL") and "cover.jpg" in review[0]
    assert any("Audnex could not help (not found in us, uk)" in s for s in review)
    assert result.display["metadata"]["source"] == "libation"


async def test_audnex_required_turns_missing_into_retry_later(stage_res, tmp_path):
    res = await stage_res(audnex_required=True)
    with pytest.raises(AudnexUnavailableError, match="no record for B0UNKNOWN1"):
        await metadata.run(res, release_for(staged(tmp_path, "B0UNKNOWN1"), "B0UNKNOWN1"))


async def test_audnex_down_goes_on_by_default_and_waits_when_required(stage_res, tmp_path, audnex):
    audnex.always = "500"
    res = await stage_res()
    folder = staged(tmp_path, "B08G9PRS1K")
    result, data, _ = await run_stage(res, folder, "B08G9PRS1K", title="Project Hail Mary")
    assert result.warnings[0].startswith("audnex: missing (unavailable: Audnex")
    assert data["title"] == "Project Hail Mary"
    required = await stage_res(audnex_required=True)  # the breaker is open now, shared
    with pytest.raises(AudnexUnavailableError, match="circuit breaker open") as info:
        await metadata.run(required, release_for(folder, "B08G9PRS1K"))
    assert info.value.retry_after


async def test_garbage_from_audnex_is_an_error_on_the_release(stage_res, tmp_path, audnex):
    audnex.next("garbage")
    res = await stage_res()
    with pytest.raises(MetadataError) as info:
        await metadata.run(res, release_for(staged(tmp_path, "B08G9PRS1K"), "B08G9PRS1K"))
    assert f"{audnex.url}/books/B08G9PRS1K" in str(info.value) and "HTTP 200" in str(info.value)


async def test_corrupt_audio_is_a_clear_error(stage_res, tmp_path):
    res = await stage_res()
    folder = staged(tmp_path, "B08G9PRS1K")
    for audio in folder.glob("*.m4b"):
        audio.write_bytes(b"\x00" * 4096)
    with pytest.raises(MediaInfoError, match="has no audio track"):
        await metadata.run(res, release_for(folder, "B08G9PRS1K"))


async def test_rerun_hits_the_cache_and_rewrites_the_same_files(stage_res, tmp_path, audnex):
    res = await stage_res()
    folder = staged(tmp_path, "B003ZWFO7E")
    _, data1, text1 = await run_stage(res, folder, "B003ZWFO7E")
    made = audnex.count()
    other = await stage_res()  # another worker, same Redis
    second, data2, text2 = await run_stage(other, folder, "B003ZWFO7E")
    assert audnex.count() == made  # no refetch
    assert (data1, text1) == (data2, text2)
    assert second.display["metadata"]["timings_s"]["audnex"] < 0.5


async def test_artifacts_missing_names_the_file(stage_res, tmp_path):
    res = await stage_res()
    folder = staged(tmp_path, "B08G9PRS1K")
    result = await metadata.run(res, release_for(folder, "B08G9PRS1K"))
    done = release_for(folder, "B08G9PRS1K").model_copy(update=result.output.changes())
    assert metadata.artifacts_missing(done) is None
    Path(result.output.json_path).unlink()
    assert metadata.artifacts_missing(done) == f"fast-fill JSON {result.output.json_path} is gone"
    assert metadata.artifacts_missing(release_for(folder, "B08G9PRS1K")) is not None


async def test_staged_folder_gone_is_an_input_error(stage_res, tmp_path):
    res = await stage_res()
    with pytest.raises(StagingError, match=r"staged folder .* is gone"):
        await metadata.run(res, release_for(tmp_path / "seed" / "nowhere", "B08G9PRS1K"))


async def test_stage_in_the_pipeline_with_checkpoint_and_paths(
    make_services, audnex, tmp_path, redis
):
    folder = staged(tmp_path, "B003ZWFO7E")
    stages = {
        **instrumented_pipeline(),
        Stage.METADATA: StageSpec(Stage.METADATA, metadata.run, metadata.artifacts_missing),
    }
    res = await make_services(
        stages,
        audnex_url=audnex.url,
        seed_dir=tmp_path / "seed",
        torrent_dir=tmp_path / "torrents",
    )
    await redis.hset(plan("B003ZWFO7E", "stage"), "dir", str(folder))
    await submit(res.engine, Release(asin="B003ZWFO7E", title="The Way of Kings"))
    await drain(res.settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get("B003ZWFO7E")
    assert final is not None and final.status is Status.READY, final.last_error
    assert final.checkpoints.metadata_at is not None
    assert final.json_path and Path(final.json_path).is_file()
    assert final.description_path and Path(final.description_path).is_file()
    assert final.details["metadata"]["audnex_region"] == "us"
