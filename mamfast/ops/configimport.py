"""`mamfast config import`: the old tool's `config.yaml` and `.env` as mamfast settings.

Users of the tool mamfast replaces keep their setup in a `config.yaml` (paths, naming,
qBittorrent category and tags, Audnex regions, staged extensions, ...), a `.env` (the
qBittorrent Web UI and its password, file ownership) and mkbrr's `presets.yaml` (the
announce URL). This module reads the three (facts about their keys only: which key
means what, and the old tool's defaults) and gives back the equivalent `MAMFAST_*`
lines, what could not be carried and why, and every place where leaving a key out
would make mamfast behave differently from before.

The result holds the qBittorrent password and the announce URL: it is written owner-
readable only, atomically, never over an existing file unless asked, and nothing
printed from here ever shows a secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mamfast.config import DEFAULT_EXTENSIONS, Settings, load_settings
from mamfast.errors import ConfigError
from mamfast.fs.atomic import write_atomic
from mamfast.redact import mask_url

# The old tool's defaults when a key is left out (facts: its documented defaults).
OLD_CATEGORY = "mam-audiobooks"
OLD_TAGS = ("shelfr",)
OLD_EXTENSIONS = (".m4b", ".jpg", ".jpeg", ".png", ".pdf", ".cue")
OLD_OWNER = (99, 100)
OLD_LIBATION_SCAN_TIMEOUT = 600
OLD_LIBATION_LIBERATE_TIMEOUT = 14400
LIBATION_CLI = "/libation/LibationCli"

# Settings whose value is a secret: written to the file, never printed.
SECRET_SETTINGS = frozenset({"MAMFAST_QBIT_PASSWORD", "MAMFAST_ANNOUNCE_URL"})
ENV_FILE_MODE = 0o600


class _Section(BaseModel):
    # Unknown keys are the old tool's features mamfast has no use for (listed by the
    # importer from the raw mapping), never a reason to refuse the file.
    model_config = ConfigDict(extra="ignore")


class _Environment(_Section):
    libation_container: str | None = None
    docker_bin: str | None = None
    target_uid: int | None = None
    target_gid: int | None = None


class _Paths(_Section):
    library_root: str | None = None
    torrent_output: str | None = None
    seed_root: str | None = None
    state_file: str | None = None
    log_file: str | None = None


class _Description(_Section):
    show_signature: bool | None = None
    signature_template: str | None = None


class _Mam(_Section):
    max_filename_length: int | None = None
    allowed_extensions: list[str] | None = None
    description: _Description = Field(default_factory=_Description)


class _Filters(_Section):
    remove_book_numbers: bool | None = None
    transliterate_japanese: bool | None = None


class _Naming(_Section):
    ripper_tag: str | None = None


class _Mkbrr(_Section):
    image: str | None = None
    preset: str = "mam"
    host_data_root: str | None = None
    container_data_root: str | None = None
    host_config_dir: str | None = None
    timeout_seconds: int | None = None


class _Qbit(_Section):
    category: str | None = None
    tags: list[str] | None = None
    auto_start: bool | None = None
    auto_tmm: bool | None = None
    save_path: str | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _one_tag(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class _Audnex(_Section):
    base_url: str | None = None
    timeout_seconds: float | None = None
    regions: list[str] | None = None
    preferred_asin_region: str | None = None


class _MediaInfo(_Section):
    binary: str | None = None


class _Libation(_Section):
    scan_timeout: int | None = None
    liberate_timeout: int | None = None


class _Abs(_Section):
    enabled: bool = False


class OldConfig(_Section):
    """The sections of the old tool's `config.yaml` that have a mamfast meaning."""

    environment: _Environment = Field(default_factory=_Environment)
    paths: _Paths = Field(default_factory=_Paths)
    mam: _Mam = Field(default_factory=_Mam)
    filters: _Filters = Field(default_factory=_Filters)
    naming: _Naming = Field(default_factory=_Naming)
    mkbrr: _Mkbrr = Field(default_factory=_Mkbrr)
    qbittorrent: _Qbit = Field(default_factory=_Qbit)
    audnex: _Audnex = Field(default_factory=_Audnex)
    mediainfo: _MediaInfo = Field(default_factory=_MediaInfo)
    libation: _Libation = Field(default_factory=_Libation)
    audiobookshelf: _Abs = Field(default_factory=_Abs)


class ImportResult(BaseModel):
    """What `config import` carried over, left behind and changed by default."""

    settings: dict[str, str] = Field(default_factory=dict)
    not_carried: list[str] = Field(default_factory=list)
    differing_defaults: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def shown_settings(self) -> list[str]:
        """`NAME=value` lines for people: secrets say only that they were written."""
        return [f"{name}={_shown_value(name, v)}" for name, v in self.settings.items()]

    def env_text(self, sources: list[Path]) -> str:
        lines = [
            "# mamfast settings imported by `mamfast config import` from:",
            *(f"#   {source}" for source in sources),
            "# Holds secrets (qBittorrent password, announce URL): keep it readable by you only.",
            *(f"{name}={env_quote(value)}" for name, value in self.settings.items()),
        ]
        return "\n".join(lines) + "\n"


KNOWN_SECTIONS = frozenset(OldConfig.model_fields)
# .env names the old tool reads (its legacy `Shelfr_*` spellings are matched case-blind).
OLD_ENV_CARRIED = frozenset(
    {"QB_HOST", "QB_USERNAME", "QB_PASSWORD", "TARGET_UID", "TARGET_GID", "LOG_LEVEL"}
)
OLD_ENV_FOR_LIBATION = frozenset({"LIBATION_CONTAINER", "DOCKER_BIN"})


def _shown_value(name: str, value: str) -> str:
    if name in SECRET_SETTINGS:
        return "<secret, written to the file>"
    if name == "MAMFAST_QBIT_URL":
        return mask_url(value)  # a URL may carry a user and password
    return value


def env_quote(value: str) -> str:
    """A `.env` value read back unchanged (`${` excepted, see `_unwritable`): single
    quotes, with backslashes and quotes escaped as python-dotenv reads them."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _csv(values: list[str]) -> str:
    # Settings lists are `a,b,c`; a value holding a comma needs the JSON form.
    if any("," in v for v in values):
        return json.dumps(values)
    return ",".join(values)


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", hint="pass the old tool's config/config.yaml"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML ({exc})", hint="fix the file, then import it again"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a YAML mapping", hint="pass the old tool's config.yaml")
    return data


def read_env(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    if not path.is_file():
        raise ConfigError(f"{path} is not a file", hint="pass the old tool's config/.env")
    try:
        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="check the file") from None
    # Case-blind: the old tool also accepts its legacy mixed-case names.
    return {key.upper(): value for key, value in values.items() if value is not None}


def default_env_path(config_yaml: Path) -> Path | None:
    """The old tool reads the `.env` beside its config.yaml."""
    beside = config_yaml.parent / ".env"
    return beside if beside.is_file() else None


def presets_path(config: OldConfig) -> Path | None:
    if not config.mkbrr.host_config_dir:
        return None
    path = Path(config.mkbrr.host_config_dir) / "presets.yaml"
    return path if path.is_file() else None


def import_config(
    config_yaml: Path,
    *,
    env_file: Path | None = None,
    presets_file: Path | None = None,
) -> ImportResult:
    """Read the old tool's files and return the mamfast settings they amount to."""
    raw = read_yaml(config_yaml)
    try:
        config = OldConfig.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(
            f"{config_yaml}: {where}", hint="fix these keys, then import again"
        ) from None
    env = read_env(env_file) if env_file is not None else {}
    presets = presets_file or presets_path(config)
    result = ImportResult()
    root = config_yaml.resolve().parent.parent  # the old tool's project root
    _unknown_sections(raw, result)
    _paths(config, root, env, result)
    _naming_and_staging(config, result)
    _owner(config, env, result)
    _qbittorrent(config, env, result)
    _metadata(config, result)
    _torrent(config, presets, result)
    _libation(config, env, result)
    _other_env(env, result)
    _unwritable(result)
    return result


def _unwritable(result: ImportResult) -> None:
    """`${NAME}` in a `.env` value is always expanded when it is read (no quoting stops
    it), so such a value cannot be written: say so instead of writing a different one."""
    for name in [n for n, v in result.settings.items() if "${" in v]:
        del result.settings[name]
        result.not_carried.append(
            f"{name}: its value contains `${{`, which a .env file cannot hold as written; "
            "set it in the environment instead (export it, or compose's `environment:`)"
        )


def _unknown_sections(raw: dict[str, Any], result: ImportResult) -> None:
    for key in sorted(set(map(str, raw)) - KNOWN_SECTIONS):
        result.not_carried.append(f"{key}: a section mamfast does not know; left out")


def _path(value: str, root: Path) -> str:
    # The old tool resolves relative paths against its project root (config/..).
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def _paths(config: OldConfig, root: Path, env: dict[str, str], result: ImportResult) -> None:
    paths, out = config.paths, result.settings
    for key, name in (
        ("library_root", "MAMFAST_LIBRARY_DIR"),
        ("seed_root", "MAMFAST_SEED_DIR"),
        ("torrent_output", "MAMFAST_TORRENT_DIR"),
    ):
        value = getattr(paths, key)
        if value:
            out[name] = _path(value, root)
            if not Path(value).expanduser().is_absolute():
                result.notes.append(
                    f"paths.{key} ({value}) is relative: written as {out[name]} (the old "
                    "project's folder); check it"
                )
        else:
            result.not_carried.append(f"paths.{key}: not set; set {name} yourself")
    state = _path(paths.state_file, root) if paths.state_file else _old_state_file(env)
    result.notes.append(
        f"the old tool's state ({state}) is not a setting: run `mamfast state import "
        f"{state}` once, so books it finished are never redone"
    )
    if paths.log_file:
        result.not_carried.append(
            "paths.log_file: mamfast logs to standard error (Docker: `docker compose logs`)"
        )


def _old_state_file(env: dict[str, str]) -> str:
    """Where the old tool keeps its state when config.yaml does not say: its data folder
    (SHELFR_DATA_DIR, or the platform's data folder for the app name `shelfr`)."""
    import platformdirs

    folder = env.get("SHELFR_DATA_DIR") or platformdirs.user_data_dir("shelfr", appauthor=False)
    return str(Path(folder) / "processed.json")


def _naming_and_staging(config: OldConfig, result: ImportResult) -> None:
    mam, out = config.mam, result.settings
    if config.naming.ripper_tag:
        out["MAMFAST_RIPPER_TAG"] = config.naming.ripper_tag
    if mam.max_filename_length is not None:
        out["MAMFAST_PATH_LIMIT"] = str(mam.max_filename_length)
    extensions = mam.allowed_extensions or list(OLD_EXTENSIONS)
    out["MAMFAST_ALLOWED_EXTENSIONS"] = _csv(
        [e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions]
    )
    if mam.allowed_extensions is None:
        result.differing_defaults.append(
            f"staged extensions: the old tool stages {' '.join(OLD_EXTENSIONS)}, mamfast by "
            f"default also {' '.join(sorted(set(DEFAULT_EXTENSIONS) - set(OLD_EXTENSIONS)))}; "
            "the old list is written to MAMFAST_ALLOWED_EXTENSIONS"
        )
    if mam.description.show_signature is not None:
        out["MAMFAST_DESCRIPTION_SIGNATURE"] = str(mam.description.show_signature).lower()
    template = mam.description.signature_template
    if template and template != "signature.j2":
        result.not_carried.append(
            f"mam.description.signature_template ({template}): mamfast has one template for "
            "the whole description; copy mamfast/templates/description.bbcode.j2, add your "
            "signature and set MAMFAST_DESCRIPTION_TEMPLATE"
        )
    filters = config.filters
    if filters.remove_book_numbers is False or filters.transliterate_japanese is False:
        result.not_carried.append(
            "filters.remove_book_numbers / transliterate_japanese: mamfast always cleans "
            "book numbers and romanises Japanese names (rules in MAMFAST_NAMING_FILE)"
        )


def _owner(config: OldConfig, env: dict[str, str], result: ImportResult) -> None:
    # config.yaml's `environment:` wins over .env in the old tool.
    uid = config.environment.target_uid
    gid = config.environment.target_gid
    uid = uid if uid is not None else _int_or_none(env.get("TARGET_UID"), "TARGET_UID", result)
    gid = gid if gid is not None else _int_or_none(env.get("TARGET_GID"), "TARGET_GID", result)
    if uid is not None:
        result.settings["PUID"] = str(uid)
    if gid is not None:
        result.settings["PGID"] = str(gid)
    if uid is None or gid is None:
        result.differing_defaults.append(
            f"file ownership: the old tool changes what it creates to {OLD_OWNER[0]}:"
            f"{OLD_OWNER[1]} unless told otherwise; mamfast keeps the owner of the user it "
            "runs as unless PUID/PGID are set (Docker: the owner of your data folder)"
        )
    else:
        result.notes.append(
            "PUID/PGID: outside Docker, ids other than your own need mamfast to run as root; "
            "`mamfast doctor` checks it"
        )


def _int_or_none(value: str | None, name: str, result: ImportResult) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        result.not_carried.append(f"{name}: {value!r} is not a number; set PUID/PGID yourself")
        return None


def _qbittorrent(config: OldConfig, env: dict[str, str], result: ImportResult) -> None:
    qb, out = config.qbittorrent, result.settings
    if env.get("QB_HOST"):
        out["MAMFAST_QBIT_URL"] = env["QB_HOST"]
    else:
        result.notes.append(
            "no QB_HOST: without MAMFAST_QBIT_URL releases stop at `ready` (not added)"
        )
    if env.get("QB_USERNAME"):
        out["MAMFAST_QBIT_USERNAME"] = env["QB_USERNAME"]
    if env.get("QB_PASSWORD"):
        out["MAMFAST_QBIT_PASSWORD"] = env["QB_PASSWORD"]
    out["MAMFAST_QBIT_CATEGORY"] = qb.category or OLD_CATEGORY
    out["MAMFAST_QBIT_TAGS"] = _csv(qb.tags if qb.tags is not None else list(OLD_TAGS))
    defaults = Settings.model_fields
    if qb.category is None:
        result.differing_defaults.append(
            f"qBittorrent category: the old tool's default is {OLD_CATEGORY}, mamfast's "
            f"{defaults['qbit_category'].default}; {OLD_CATEGORY} is written, so new torrents "
            "land where the old ones are"
        )
    if qb.auto_start is not None:
        out["MAMFAST_QBIT_PAUSED"] = str(not qb.auto_start).lower()
    result.differing_defaults.append(
        "qBittorrent hash check: the old tool lets qBittorrent recheck every torrent it adds; "
        "mamfast skips the check (MAMFAST_QBIT_SKIP_CHECKING=true) because it hashed the very "
        "same files itself; set it to false to keep the recheck"
    )
    if qb.auto_tmm:
        result.not_carried.append(
            "qbittorrent.auto_tmm: mamfast always adds with automatic management off and the "
            "staged folder's own save path, so the files are found where they were staged"
        )
    _save_path(config, result)


def _save_path(config: OldConfig, result: ImportResult) -> None:
    """The old tool's `save_path` is the seed folder as qBittorrent sees it: a path map."""
    save_path, seed = config.qbittorrent.save_path, config.paths.seed_root
    if config.qbittorrent.auto_tmm:
        # The old tool ignores save_path then: the category's folder in qBittorrent is it.
        result.notes.append(
            "qBittorrent saved by category (auto_tmm): if it sees the seed folder under another "
            "path, set MAMFAST_QBIT_PATH_MAP to `seed folder:that path`"
        )
        return
    if not save_path:
        return
    if not seed or not seed.startswith("/") or not save_path.startswith("/"):
        result.not_carried.append(
            f"qbittorrent.save_path ({save_path}): set MAMFAST_QBIT_PATH_MAP to "
            "`seed folder:the same folder as qBittorrent sees it`"
        )
        return
    ours, theirs = seed.rstrip("/") or "/", save_path.rstrip("/") or "/"
    if ours != theirs:
        result.settings["MAMFAST_QBIT_PATH_MAP"] = f"{ours}:{theirs}"


def _metadata(config: OldConfig, result: ImportResult) -> None:
    audnex, out = config.audnex, result.settings
    if audnex.base_url:
        out["MAMFAST_AUDNEX_URL"] = audnex.base_url
    if audnex.timeout_seconds is not None:
        out["MAMFAST_AUDNEX_TIMEOUT"] = f"{audnex.timeout_seconds:g}"
    if audnex.regions:
        out["MAMFAST_AUDNEX_REGIONS"] = _csv([r.lower() for r in audnex.regions])
    if audnex.preferred_asin_region:
        result.not_carried.append(
            "audnex.preferred_asin_region: mamfast names a release by the ASIN Libation "
            "downloaded (the other-region lookup needs Audiobookshelf)"
        )
    if config.mediainfo.binary and config.mediainfo.binary != "mediainfo":
        out["MAMFAST_MEDIAINFO_CMD"] = config.mediainfo.binary
    if config.audiobookshelf.enabled:
        result.not_carried.append(
            "audiobookshelf: importing into Audiobookshelf is not part of mamfast"
        )


def _torrent(config: OldConfig, presets: Path | None, result: ImportResult) -> None:
    result.notes.append(
        "torrents: mamfast hashes them itself (MAMFAST_TORRENT_BACKEND=builtin, mkbrr's piece "
        "sizes), so the mkbrr image, its path mapping and timeout are not needed"
    )
    if presets is None:
        result.not_carried.append(
            "announce URL: no mkbrr presets.yaml found (mkbrr.host_config_dir); pass it with "
            "--presets, or set MAMFAST_ANNOUNCE_URL from MAM's upload page"
        )
        return
    data = read_yaml(presets)
    # mkbrr's `default:` block fills in what a preset leaves out.
    fields = {
        **_mapping(data.get("default")),
        **_mapping(_mapping(data.get("presets")).get(config.mkbrr.preset)),
    }
    trackers = fields.get("trackers")
    if not isinstance(trackers, list) or not trackers or not isinstance(trackers[0], str):
        result.not_carried.append(
            f"announce URL: preset {config.mkbrr.preset!r} in {presets} lists no tracker; "
            "set MAMFAST_ANNOUNCE_URL from MAM's upload page"
        )
        return
    result.settings["MAMFAST_ANNOUNCE_URL"] = trackers[0]
    source = fields.get("source")
    if isinstance(source, str) and source:
        result.settings["MAMFAST_TORRENT_SOURCE"] = source


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _libation(config: OldConfig, env: dict[str, str], result: ImportResult) -> None:
    """The old tool runs Libation's scan and download in its container before each run."""
    container = config.environment.libation_container or env.get("LIBATION_CONTAINER")
    if not container:
        result.notes.append(
            "no Libation container named: set MAMFAST_LIBATION_COMMAND to run Libation "
            "before each scan"
        )
        return
    docker = config.environment.docker_bin or env.get("DOCKER_BIN") or "docker"
    # One command, run without a shell on our side; the container's shell chains the two.
    script = f"{LIBATION_CLI} scan && {LIBATION_CLI} liberate"
    result.settings["MAMFAST_LIBATION_COMMAND"] = f'{docker} exec {container} sh -c "{script}"'
    scan = config.libation.scan_timeout or OLD_LIBATION_SCAN_TIMEOUT
    liberate = config.libation.liberate_timeout or OLD_LIBATION_LIBERATE_TIMEOUT
    result.settings["MAMFAST_LIBATION_TIMEOUT"] = str(scan + liberate)


def _other_env(env: dict[str, str], result: ImportResult) -> None:
    if env.get("LOG_LEVEL"):
        result.settings["MAMFAST_LOG_LEVEL"] = env["LOG_LEVEL"].upper()
    for name in sorted(env):
        if name in OLD_ENV_CARRIED or name in OLD_ENV_FOR_LIBATION or not env[name]:
            continue
        # Names only: a value here may be a token.
        result.not_carried.append(f"{name} (from .env): no mamfast equivalent; left out")


def load_problem(path: Path) -> str | None:
    """Why the written file would not load (one line per key, values never shown), or
    None: read back exactly as every command reads its `.env`."""
    try:
        load_settings(_env_file=path)
    except ConfigError as exc:
        return str(exc)
    return None


def write_env_file(path: Path, text: str, *, force: bool) -> None:
    """Write the settings owner-readable only; an existing file is kept unless `force`."""
    if (path.exists() or path.is_symlink()) and not force:
        raise ConfigError(
            f"{path} already exists; nothing written",
            hint="choose another --output, or pass --force to replace it",
        )
    write_atomic(path, text, mode=ENV_FILE_MODE, stale_after=0)
