"""Error type for training data that cannot be used as configured."""
from __future__ import annotations


class DataError(ValueError):
    """A label file, image, or LMDB is missing or malformed; the message names the file (and line)."""


class PipelineError(DataError):
    """The configured transforms fail for every sample (a config error, not bad data): stop, do not skip."""
