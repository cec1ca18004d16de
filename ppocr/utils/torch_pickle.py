"""Read PyTorch's legacy (pre-1.6, non-zip) ``.pth`` files into numpy arrays without importing torch.

The legacy format is a run of pickles: magic number, protocol version, system info, the object itself
(tensors refer to storages by key through persistent ids), the list of storage keys, then each storage's
raw bytes (an int64 element count followed by the elements). Only the names such a file needs are
resolved; anything else in the pickle is refused, so a crafted file cannot run code.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
from typing import Any, Dict, Tuple

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchPickleError(ValueError):
    """The file is not a legacy PyTorch pickle this reader understands; the message names the file."""


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray = None


class _LazyTensor:
    def __init__(self, storage: _Storage, offset: int, size: Tuple[int, ...], stride: Tuple[int, ...]):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if not self.size:
            return np.array(data[self.offset], dtype=data.dtype)
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=[s * itemsize for s in self.stride])
        return np.array(view)


def _rebuild_tensor(storage: _Storage, storage_offset: int, size, stride, *unused) -> _LazyTensor:
    return _LazyTensor(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream, storages: Dict[str, _Storage], path: str):
        super().__init__(stream)
        self.storages = storages
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise TorchPickleError(f"{self.path}: refuses to load {module}.{name} (only tensors and dicts are read)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise TorchPickleError(f"{self.path}: unexpected persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if len(pid) > 5 and pid[5] is not None:
            raise TorchPickleError(f"{self.path}: storage views are not supported")
        if not isinstance(storage_type, _StorageType):
            raise TorchPickleError(f"{self.path}: unknown storage type {storage_type!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type.dtype, numel)
        return self.storages[key]


def _materialize(obj: Any) -> Any:
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        return type(obj)((k, _materialize(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def load_legacy_torch_file(path: str) -> Any:
    """The object saved in a legacy ``torch.save`` file, tensors as numpy arrays (state dicts stay ordered)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise TorchPickleError(f"cannot read {path}: {exc.strerror or exc}") from None
    if raw[:2] == b"PK":
        raise TorchPickleError(f"{path}: a zip-format (PyTorch >= 1.6) checkpoint, not the legacy format")
    stream = io.BytesIO(raw)
    storages: Dict[str, _Storage] = {}
    try:
        magic = pickle.load(stream)
        if magic != MAGIC_NUMBER:
            raise TorchPickleError(f"{path}: not a legacy PyTorch file (magic number {magic!r})")
        version = pickle.load(stream)
        if version != PROTOCOL_VERSION:
            raise TorchPickleError(f"{path}: unsupported protocol version {version!r}")
        pickle.load(stream)  # system info: byte order and type sizes
        obj = _Unpickler(stream, storages, path).load()
        keys = pickle.load(stream)
        for key in keys:
            storage = storages.get(str(key))
            if storage is None:
                raise TorchPickleError(f"{path}: storage {key} is listed but not used")
            (numel,) = struct.unpack("<q", stream.read(8))
            nbytes = numel * storage.dtype.itemsize
            chunk = stream.read(nbytes)
            if len(chunk) != nbytes:
                raise TorchPickleError(f"{path}: truncated data for storage {key}")
            storage.data = np.frombuffer(chunk, dtype=storage.dtype.newbyteorder("<"), count=numel)
    except TorchPickleError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError, TypeError, IndexError) as exc:
        raise TorchPickleError(f"{path}: corrupt legacy PyTorch file ({type(exc).__name__}: {exc})") from None
    missing = [key for key, storage in storages.items() if storage.data is None]
    if missing:
        raise TorchPickleError(f"{path}: no data for storages {missing[:3]}")
    return _materialize(obj)
