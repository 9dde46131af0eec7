"""Errors that carry a message meant for the user, shown without a traceback."""

from __future__ import annotations

import os
from typing import List, Optional


class IdgError(Exception):
    """Base class: the message alone says what is wrong and what to do (no traceback needed)."""


class ConfigError(IdgError):
    """A config value is invalid; the message names the key (e.g. ``inpaint.strength``)."""


class DataError(IdgError):
    """An input file or dataset is missing or malformed; the message names the file."""


class ModelLoadError(IdgError):
    """A model or asset cannot be loaded; the message says what to pass instead."""


class RunDirError(IdgError):
    """The run directory holds outputs of a different run, is in use by another run, or cannot be written."""


class DiskFullError(RunDirError):
    """A write failed because its filesystem is full (or over quota); the message names device and file."""


class UserErrorEscape(BaseException):
    """Carries an IdgError out of a Hydra callback (Hydra turns an Exception raised there into a warning and
    goes on), e.g. a bad ``hydra.run.dir`` found before Hydra creates it; ``idg.run`` reports ``error`` like
    any other user error."""

    def __init__(self, error: IdgError):
        super().__init__(str(error))
        self.error = error


def full_error_requested() -> bool:
    """``HYDRA_FULL_ERROR=1``: show tracebacks instead of one-paragraph messages (as Hydra does)."""
    return os.environ.get("HYDRA_FULL_ERROR", "").strip().lower() in ("1", "true", "yes")


def _clean_lines(text: str) -> List[str]:
    """The lines of an OmegaConf/Hydra message that say what is wrong (not its object-type footer or the
    config search path)."""
    out = []
    for line in str(text).splitlines():
        s = line.strip()
        if s.startswith("Config search path"):
            break
        if not s or s.startswith(("full_key:", "reference_type=", "object_type=", "Set the environment variable")):
            continue
        out.append(s.rstrip("."))
    return out


def _did_you_mean(cause: BaseException, key: str) -> str:
    """A close match for a misspelt key among the fields of the schema that rejected it."""
    import dataclasses
    import difflib

    node = getattr(cause, "object_type", None)
    if not (isinstance(node, type) and dataclasses.is_dataclass(node)):
        return ""
    full = getattr(cause, "full_key", "") or ""
    prefix = full.rsplit(".", 1)[0] + "." if "." in full else ""
    match = difflib.get_close_matches(key, [f.name for f in dataclasses.fields(node)], n=1)
    return f" (did you mean {prefix}{match[0]}?)" if match else ""


def _type_name(cause: BaseException) -> str:
    """The declared type of the key that rejected a value (from the schema dataclass)."""
    import dataclasses

    node, key = getattr(cause, "object_type", None), (getattr(cause, "full_key", "") or "").rsplit(".", 1)[-1]
    if isinstance(node, type) and dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            if f.name == key:
                return str(f.type).replace("typing.", "")
    return "another type"


def user_message(exc: BaseException) -> Optional[str]:
    """One paragraph for an error the user can fix (a bad override, an unknown option, an IdgError), or
    None for anything else (a bug, which keeps its traceback)."""
    from hydra.errors import CompactHydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

    if isinstance(exc, IdgError):
        return " ".join(str(exc).split("\n"))
    if isinstance(exc, MissingConfigException) and exc.options is not None and exc.missing_cfg_file:
        group, _, option = str(exc.missing_cfg_file).rpartition("/")
        options = [o for o in exc.options if not o.startswith("base_")]
        if group:
            return (f"{group}={option}: no such option in config group '{group}'; choose from "
                    f"{', '.join(options) or '(none)'} (files in conf/{group}/)")
    if isinstance(exc, OverrideParseException):
        return (f"cannot parse the override {exc.override!r}: {'; '.join(_clean_lines(exc.message))}; quote lists "
                f"and special characters for the shell, e.g. 'stages=[generate,train]'")
    if isinstance(exc, (CompactHydraException, OmegaConfBaseException)):
        cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
        key = getattr(cause, "full_key", None) or ""
        exc_lines = _clean_lines(str(exc))
        lines = exc_lines + (_clean_lines(str(cause)) if cause is not exc else [])
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and key:
            # Hydra says "Could not override 'x'" + "To append to your config use +x=..." + "Key 'y' not in 'Z'";
            # appending is not allowed in a typed group anyway, so say what is wrong and what was meant.
            name = key.rsplit(".", 1)[-1]
            where = f"'{key.rsplit('.', 1)[0]}'" if "." in key else "the config"
            return (f"{key}: {where} has no key '{name}'{_did_you_mean(cause, name)}; "
                    f"`python -m idg.run --cfg job` lists the keys")
        if isinstance(cause, ValidationError) and key:
            # "Error merging override k=v" + "Value 'v' of type 'str' could not be converted to Integer"
            first = exc_lines[0] if exc_lines else ""
            override = first.split("override ", 1)[1] if "override " in first else key
            return f"{override}: {'; '.join(_clean_lines(str(cause)))} ({key} has type {_type_name(cause)})"
        message = "; ".join(dict.fromkeys(lines)) or exc.__class__.__name__
        if key and key not in message:
            message = f"{key}: {message}"
        return message
    return None
