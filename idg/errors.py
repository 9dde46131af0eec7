"""Errors that carry a message meant for the user, shown without a traceback."""


class IdgError(Exception):
    """Base class: the message alone says what is wrong and what to do (no traceback needed)."""


class ConfigError(IdgError):
    """A config value is invalid; the message names the key (e.g. ``inpaint.strength``)."""


class DataError(IdgError):
    """An input file or dataset is missing or malformed; the message names the file."""


class ModelLoadError(IdgError):
    """A model or asset cannot be loaded; the message says what to pass instead."""


class RunDirError(IdgError):
    """The run directory holds outputs of a different run, or cannot be written."""
