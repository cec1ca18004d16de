"""Error type for training data that cannot be used as configured."""
from __future__ import annotations


class DataError(ValueError):
    """A label file, image, or LMDB is missing or malformed; the message names the file (and line)."""
