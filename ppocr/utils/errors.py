"""Exceptions the command-line tools report as one-line user errors (kept free of heavy imports)."""


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, inconsistent or does not fit the model."""


class OutputDirError(ValueError):
    """An output folder (or an output file's folder) cannot be made or written; checked before work starts."""


class CharacterDictError(ValueError):
    """A character dict file is not UTF-8, has a line that is not one character, or repeats a character."""
