"""Output files and folders: atomic writes (a crash mid-write leaves the old file or none, never a truncated
one) and an early check that an output folder can be made and written, so a bad path fails in one line
before hours of training or model loading rather than as a traceback at the first save.

Temporary entries are named ``.<target>.<pid>.<random>.tmp`` beside their target, so a later run can
recognise the ones a killed writer left (``clean_stale_temps``) without touching anything else.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from typing import IO, Iterator, List, Optional, Tuple

from ppocr.utils.errors import OutputDirError

logger = logging.getLogger(__name__)

# mkstemp/mkdtemp add 8 characters from [a-z0-9_]; older versions wrote no pid.
TEMP_NAME = re.compile(r"^\.(?P<target>.+?)\.(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}\.tmp(?P<old>\.old)?$")


def _umask() -> int:
    """The process umask; mkstemp/mkdtemp create owner-only entries, plain open/mkdir would not."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def temp_prefix(path: str) -> str:
    """The name prefix of this process's temporary entries for ``path`` (suffix ``.tmp``)."""
    return f".{os.path.basename(path)}.{os.getpid()}."


def make_temp_file(path: str) -> Tuple[int, str]:
    """``(fd, temp path)`` of a new file beside ``path`` named as ``clean_stale_temps`` expects."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=directory)
    os.chmod(tmp, 0o666 & ~_umask())
    return fd, tmp


def fsync_dir(directory: str) -> None:
    """Make renames in ``directory`` durable (a power cut after this keeps them); no-op where unsupported."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (this one included: another thread may be writing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def clean_stale_temps(folder: str, target: Optional[str] = None) -> List[str]:
    """Remove the temporary entries that killed writers left in ``folder`` (only names made by this
    module, only for ``target`` when given, never those of a live process); returns what was removed.

    An ``atomic_dir`` killed between its two renames left no ``target`` but its previous version as
    ``….tmp.old``: that is put back instead of removed.
    """
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for name in names:
        match = TEMP_NAME.match(name)
        if not match or (target is not None and match["target"] != target):
            continue
        if match["pid"] and pid_alive(int(match["pid"])):
            continue
        path = os.path.join(folder, name)
        final = os.path.join(folder, match["target"])
        if match["old"] and os.path.isdir(path) and not os.path.lexists(final):
            os.replace(path, final)
            logger.warning("restored %s from %s (a write was interrupted)", final, name)
            continue
        _remove(path)
        removed.append(name)
    if removed:
        logger.info("removed %d temporary file(s) left by an interrupted run in %s: %s%s", len(removed), folder,
                    ", ".join(removed[:3]), ", ..." if len(removed) > 3 else "")
    return removed


def make_temp_dir(folder: str, name: str) -> str:
    """A new private staging directory ``folder/.<name>.<pid>.<random>.tmp``, made after removing the
    ones killed runs left for the same ``name``; the caller removes it."""
    clean_stale_temps(folder, name)
    return tempfile.mkdtemp(prefix=temp_prefix(os.path.join(folder, name)), suffix=".tmp", dir=folder)


@contextlib.contextmanager
def temp_dir(folder: str, name: str) -> Iterator[str]:
    """``make_temp_dir`` for the duration of a block."""
    tmp = make_temp_dir(folder, name)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", encoding: str = None) -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` on success."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = make_temp_file(path)
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    try:
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
    """Yield a temporary directory that replaces ``path`` as a whole once the block succeeds.

    Leftovers of a killed earlier write of ``path`` are cleaned first (its previous version restored
    when the kill fell between the two renames).
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    clean_stale_temps(parent, os.path.basename(path))
    tmp = tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=parent)
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
