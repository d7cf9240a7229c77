"""Typed errors: every failure says what went wrong and what to do about it.

The pipeline sorts failures into two families. A `TransientError` (network,
timeouts, 5xx, a service restarting) is retried with backoff until the
release's attempt budget runs out. A `PermanentError` (bad input, a wrong
setting) goes straight to `needs_attention`: retrying cannot fix it, a person
must. Anything else that escapes a stage is a bug and is treated as transient,
so it is retried a few times and then surfaces with its type and message.
"""

from __future__ import annotations

import errno


class MamfastError(Exception):
    """Base of all our errors: a plain message plus a hint saying what to do."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class TransientError(MamfastError):
    """Worth retrying later; `retry_after` overrides the backoff when a server asks."""

    def __init__(self, message: str, *, hint: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class PermanentError(MamfastError):
    """Retrying will not help: the release needs a person."""


class ConfigError(PermanentError):
    """A setting is missing or wrong."""


class FolderPermissionError(ConfigError):
    """A folder refuses the user mamfast runs as (PUID/PGID or the folder's owner is wrong)."""


class InputError(PermanentError):
    """The release's files or metadata cannot be processed as they are."""


class NotOursError(PermanentError):
    """A path to create, rename or delete lies outside the seed and torrent folders."""


class DamagedRecordError(PermanentError):
    """A release record in Redis cannot be read (hand-edited, planted, or from a newer version)."""


class LockBusyError(MamfastError):
    """Someone else holds a lock we need (not a failure of the release)."""

    def __init__(self, message: str, *, hint: str = "", holder: dict[str, object] | None = None):
        super().__init__(message, hint=hint)
        self.holder = holder or {}


class FenceRejectedError(MamfastError):
    """A checkpoint write was refused because a newer lock holder exists."""


class StaleJobError(MamfastError):
    """The job no longer matches the release record (superseded or reset)."""


# Per-stage errors: the class name is recorded as the release's `error_type`.
class StagingError(PermanentError):
    """The staged folder cannot be built safely."""


class CrossDeviceError(StagingError):
    """Hardlinks cannot cross filesystems."""


class MetadataError(PermanentError):
    """Metadata for the release is unusable."""


class MediaInfoError(PermanentError):
    """MediaInfo could not read an audio file."""


class TorrentError(PermanentError):
    """The torrent cannot be created or does not match what was recorded."""


class InfohashMismatchError(TorrentError):
    """Re-creation produced a different torrent than the one recorded."""


class UploadError(PermanentError):
    """qBittorrent refused the torrent or cannot see its files."""


class AudnexUnavailableError(TransientError):
    """Audnex could not answer now (breaker open, rate limited, offline)."""


class RedisUnavailableError(TransientError):
    """Redis does not answer (down, restarting, or a wrong MAMFAST_REDIS_URL)."""


class DiskFullError(TransientError):
    """No space (or quota) left where we write: it may free up, else a person frees it."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_error(exc: OSError, folder: object) -> MamfastError | None:
    """A plain-words error for a disk that is full or read-only, else None.

    `folder` is where we were writing: the system's message for a failed write
    names no file, so the caller says which disk it is.
    """
    if exc.errno in DISK_FULL_ERRNOS:
        return DiskFullError(
            f"no space left on the disk holding {folder} ({exc.strerror})",
            hint="free some space there (or point the folder at a bigger disk); mamfast "
            "tries again by itself, and `mamfast retry ASIN` resumes it after that",
        )
    if exc.errno == errno.EROFS:
        return ConfigError(
            f"{folder} is on a read-only filesystem",
            hint="mount it read-write (in Docker: drop `:ro` from that volume), then "
            "`mamfast retry ASIN`",
        )
    return None
