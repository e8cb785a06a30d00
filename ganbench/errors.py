"""Exceptions that ganbench raises for bad input. Each message names the key, file or value at fault."""


class GanbenchError(Exception):
    """Base class: the CLI prints these as one clear line instead of a traceback."""


class ConfigError(GanbenchError, ValueError):
    """A configuration value is missing, unknown, of the wrong type or inconsistent. The message names the key."""


class DataError(GanbenchError):
    """A dataset file is missing, corrupt, or could not be downloaded. The message names the file and URL."""


class CheckpointError(GanbenchError):
    """A checkpoint is truncated, unreadable, or not a plain-tensor checkpoint."""
