"""Instrumented stages for engine tests, steered through Redis.

Because they read their behaviour from Redis, the same stages work in this
process and in worker subprocesses that a test SIGKILLs or SIGTERMs.

Plan keys (`plan(asin, stage)` hash): `sleep` seconds, `transient` failures
left, `permanent` (any value), `child` (start `sleep 600` and wait on it),
`vanish` (a folder to delete, once, before failing as if it were bad input).
Every call appends `asin:stage:pid:start|end` to CALLS.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from mamfast.engine import keys
from mamfast.engine.spec import Pipeline, StageSpec
from mamfast.errors import InputError, TransientError
from mamfast.fs.children import kill_tree, terminate_now
from mamfast.models import Release, Stage, StageOutput, StageResult, Status
from mamfast.stages.services import Services

CALLS = "mamfast:test:calls"
CHILD_PIDS = "mamfast:test:children"


def plan(asin: str, stage: Stage | str) -> str:
    return f"mamfast:test:plan:{asin}:{stage}"


async def _instrumented(res: Services, release: Release) -> StageResult:
    stage = release.stage
    redis = res.redis
    await redis.rpush(CALLS, f"{release.asin}:{stage}:{os.getpid()}:start")  # type: ignore[misc]
    steps = {
        k.decode(): v.decode() for k, v in (await redis.hgetall(plan(release.asin, stage))).items()
    }  # type: ignore[misc]
    if "child" in steps:
        await _child(res, release)
    if "sleep" in steps:
        await asyncio.sleep(float(steps["sleep"]))
    if int(steps.get("transient", "0")) > 0:
        await redis.hincrby(plan(release.asin, stage), "transient", -1)  # type: ignore[misc]
        raise TransientError("simulated network failure", hint="wait")
    if "vanish" in steps:  # the input disappears under the stage, which then fails
        shutil.rmtree(steps["vanish"])
        await redis.hdel(plan(release.asin, stage), "vanish")  # type: ignore[misc]
        raise InputError("simulated unreadable input", hint="fix the input file")
    if "permanent" in steps:
        raise InputError("simulated bad input", hint="fix the input file")
    output = StageOutput()
    if stage is Stage.STAGE and "dir" in steps:
        folder = Path(steps["dir"])
        folder.mkdir(parents=True, exist_ok=True)
        output = StageOutput(staging_dir=str(folder))
    if stage is Stage.TORRENT:
        output = StageOutput(infohash=steps.get("infohash", f"{release.asin.lower():0<40}"[:40]))
    await redis.rpush(CALLS, f"{release.asin}:{stage}:{os.getpid()}:end")  # type: ignore[misc]
    final = Status.READY if stage is Stage.UPLOAD else None
    warnings = [steps["warn"]] if "warn" in steps else []
    return StageResult(output=output, final_status=final, warnings=warnings)


async def _child(res: Services, release: Release) -> None:
    """Start a long child whose pid the test can check after killing the job."""
    proc = await asyncio.create_subprocess_exec("sleep", "600", start_new_session=True)
    await res.redis.rpush(CHILD_PIDS, proc.pid)  # type: ignore[misc]
    try:
        await proc.wait()
    finally:
        terminate_now(proc)
        await asyncio.shield(kill_tree(proc))


def _staged_dir_missing(release: Release) -> str | None:
    if release.staging_dir and not Path(release.staging_dir).is_dir():
        return f"staged folder {release.staging_dir} is gone"
    return None


def instrumented_pipeline() -> Pipeline:
    return {
        Stage.STAGE: StageSpec(Stage.STAGE, _instrumented, _staged_dir_missing),
        Stage.METADATA: StageSpec(Stage.METADATA, _instrumented),
        Stage.TORRENT: StageSpec(Stage.TORRENT, _instrumented, queue=keys.HASH_QUEUE),
        Stage.UPLOAD: StageSpec(Stage.UPLOAD, _instrumented),
    }


async def calls(res_or_redis: object) -> list[str]:
    redis = getattr(res_or_redis, "redis", res_or_redis)
    return [c.decode() for c in await redis.lrange(CALLS, 0, -1)]  # type: ignore[attr-defined]
