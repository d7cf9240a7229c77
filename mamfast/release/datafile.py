"""User-overridable JSON data files (naming rules, category maps), read into pydantic models.

Every way such a file can be wrong (unreadable, not JSON, not the right shape)
becomes one ConfigError naming the file, the place in it, and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mamfast.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# The files shipped inside the package (rules, category maps, templates).
SHIPPED_DATA = Path(__file__).resolve().parents[1] / "data"
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def load_model(path: Path, model: type[M], *, what: str, setting: str, shipped: str) -> M:
    """Read `path` as `model`; `what` names it in messages ("naming rules"), `setting` is the
    variable that points at it, `shipped` the file to compare with."""
    raw = load_json(path, what=what, setting=setting, shipped=shipped)
    try:
        return model.model_validate(raw)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(
            f"{what} {path} is invalid: {first_error(exc)}", hint=f"compare with {shipped}"
        ) from None


def load_json(path: Path, *, what: str, setting: str, shipped: str) -> Any:
    """The JSON in `path`; unreadable or not JSON is a ConfigError saying what to do."""
    try:
        return json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what} {path}: {exc.strerror or exc}",
            hint=f"fix {setting} or leave it empty to use the shipped file",
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not valid JSON (line {exc.lineno}: {exc.msg})",
            hint=f"compare with {shipped}",
        ) from None


def first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors(include_url=False, include_input=False)[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return str(exc)
