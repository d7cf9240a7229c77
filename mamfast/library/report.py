"""What a library scan reports: the releases found, and every folder left out with why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

from mamfast.display import printable
from mamfast.library.book import Candidate

# A path in a report: JSON carries it printable (a name that is not UTF-8 cannot be JSON).
ReportedPath = Annotated[Path, PlainSerializer(lambda p: printable(str(p)), when_used="json")]


class Reject(BaseModel):
    """A folder that is not processed, and why."""

    path: ReportedPath
    reason: str


class Settling(BaseModel):
    """A folder changed moments ago (Libation may still be writing); the next scan looks again."""

    path: ReportedPath
    changed_seconds_ago: float
    ready_in_seconds: float

    def __str__(self) -> str:  # listings print the folder
        return str(self.path)


class DuplicateAsin(BaseModel):
    """Several folders claim one ASIN: none of them is processed until one remains."""

    asin: str
    paths: list[ReportedPath]
    reason: str


class KnownRelease(BaseModel):
    """An unchanged folder whose release is already recorded and finished: not read again.

    Plain strings: built from the scan cache for 10,000s of folders per scan."""

    asin: str
    title: str
    source_dir: Annotated[str, PlainSerializer(printable, when_used="json")]


class ScanStats(BaseModel):
    folders: int = 0
    from_cache: int = 0
    examined: int = 0
    seconds: float = 0.0


class DiscoveryReport(BaseModel):
    releases: list[Candidate] = Field(default_factory=list)
    known: list[KnownRelease] = Field(default_factory=list)  # only when the caller asked
    rejects: list[Reject] = Field(default_factory=list)
    settling: list[Settling] = Field(default_factory=list)
    duplicates: list[DuplicateAsin] = Field(default_factory=list)
    stats: ScanStats = Field(default_factory=ScanStats)
