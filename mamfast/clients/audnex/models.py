"""Audnex responses as pydantic models: unknown fields are ignored, known ones typed.

Only `asin` and `title` are required of a book: Audnex's own schema marks more
fields as required, but older deployments and delisted books leave some out,
and a missing publisher must not cost us the whole record.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Person(_Lenient):
    name: str
    asin: str | None = None


class Genre(_Lenient):
    name: str
    asin: str | None = None
    type: str = "genre"  # `genre` (Audible's category tree) or `tag`


class Series(_Lenient):
    name: str
    position: str | None = None
    asin: str | None = None

    @field_validator("position", mode="before")
    @classmethod
    def _text_position(cls, value: object) -> object:
        # Audnex documents a string, but some records carry a bare number.
        return str(value) if isinstance(value, int | float) else value


class Book(_Lenient):
    asin: str
    title: str
    subtitle: str | None = None
    authors: list[Person] = Field(default_factory=list)
    narrators: list[Person] = Field(default_factory=list)
    series_primary: Series | None = Field(default=None, alias="seriesPrimary")
    series_secondary: Series | None = Field(default=None, alias="seriesSecondary")
    genres: list[Genre] = Field(default_factory=list)
    release_date: datetime | date | None = Field(default=None, alias="releaseDate")
    publisher_name: str | None = Field(default=None, alias="publisherName")
    summary: str | None = None
    description: str | None = None
    image: str | None = None
    language: str | None = None
    format_type: str | None = Field(default=None, alias="formatType")
    literature_type: str | None = Field(default=None, alias="literatureType")
    is_adult: bool = Field(default=False, alias="isAdult")
    runtime_length_min: float | None = Field(default=None, alias="runtimeLengthMin")
    isbn: str | None = None
    copyright: int | None = None
    region: str | None = None


class Chapter(_Lenient):
    title: str = ""
    start_offset_ms: int = Field(alias="startOffsetMs")
    length_ms: int | None = Field(default=None, alias="lengthMs")


class Chapters(_Lenient):
    asin: str | None = None
    chapters: list[Chapter] = Field(default_factory=list)
    is_accurate: bool | None = Field(default=None, alias="isAccurate")
    runtime_length_ms: int | None = Field(default=None, alias="runtimeLengthMs")
    brand_intro_duration_ms: int | None = Field(default=None, alias="brandIntroDurationMs")
    brand_outro_duration_ms: int | None = Field(default=None, alias="brandOutroDurationMs")


class NewError(_Lenient):
    """Audnex 2.x: `{"error": {"code", "message", "details"}}`."""

    code: str = ""
    message: str = ""


class ErrorBody(_Lenient):
    """Either error format: the 2.x envelope, or the older `{statusCode, error, message}`."""

    error: NewError | str | None = None
    status_code: int | None = Field(default=None, alias="statusCode")
    message: str | None = None

    @property
    def code(self) -> str:
        if isinstance(self.error, NewError):
            return self.error.code
        return self.error or ""

    @property
    def text(self) -> str:
        if isinstance(self.error, NewError):
            return self.error.message or self.error.code
        return self.message or self.error or ""


class Found(BaseModel):
    """What the client hands the metadata stage: the book, its chapters, where from."""

    book: Book
    chapters: Chapters | None = None
    region: str
    from_cache: bool = False
