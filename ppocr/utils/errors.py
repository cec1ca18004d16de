"""Exceptions the command-line tools report as one-line user errors (kept free of heavy imports)."""


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, inconsistent or does not fit the model."""
