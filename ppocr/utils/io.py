"""Output files and folders: atomic writes (a crash mid-write leaves the old file or none, never a truncated
one) and an early check that an output folder can be made and written, so a bad path fails in one line
before hours of training or model loading rather than as a traceback at the first save."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import IO, Iterator, Optional

from ppocr.utils.errors import OutputDirError


def _umask() -> int:
    """The process umask; mkstemp/mkdtemp create owner-only entries, plain open/mkdir would not."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", encoding: str = None) -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` on success."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
    """Yield a temporary directory that replaces ``path`` as a whole once the block succeeds."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if os.path.isdir(path):
            old = tmp + ".old"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _not_a_folder(path: str) -> Optional[str]:
    """The nearest existing entry on ``path``'s way up when it is not a folder (a file in the way), else None."""
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    return None if os.path.isdir(current) else current


def _check_folder(folder: str, option: str, value: str) -> None:
    blocker = _not_a_folder(folder)
    if blocker is not None:
        kind = "a file" if os.path.isfile(blocker) else "not a folder"
        if blocker == os.path.abspath(value):
            raise OutputDirError(f"{option} '{value}' is {kind}; expected a folder")
        raise OutputDirError(f"{option} '{value}': '{blocker}' is {kind}, so no folder can be made under it; "
                             "expected a path in a writable folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        stuck = f" at '{err.filename}'" if err.filename and os.path.abspath(err.filename) != os.path.abspath(folder) \
            else ""
        raise OutputDirError(f"{option} '{value}': cannot make the folder{stuck}: {_reason(err)}; "
                             "expected a writable folder") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".ppocr-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputDirError(f"{option} '{value}': cannot write in '{folder}': {_reason(err)}; "
                             "expected a writable folder") from None


def _reason(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


def ensure_output_dir(path: str, option: str) -> str:
    """Make the output folder ``path`` (parents too) and check it takes files; a failure raises
    :class:`OutputDirError` naming ``option`` (``Global.save_model_dir``, ``--draw_img_save_dir``...)."""
    if not path:
        raise OutputDirError(f"{option} is empty; expected an output folder")
    _check_folder(path, option, path)
    return path


def ensure_output_file(path: str, option: str) -> str:
    """Make the folder of the output file ``path`` and check it takes files, as :func:`ensure_output_dir`."""
    if not path:
        raise OutputDirError(f"{option} is empty; expected an output file path")
    if os.path.isdir(path):
        raise OutputDirError(f"{option} '{path}' is a folder; expected a file path")
    _check_folder(os.path.dirname(os.path.abspath(path)), option, path)
    return path
