"""Read PyTorch .pth weight files (legacy and zip formats) into numpy arrays, without torch."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from photoshelf.errors import PhotoshelfError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_DTYPES = {
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


class WeightFileError(PhotoshelfError):
    """A weight file that cannot be read (not a PyTorch file, or an unsupported layout)."""


class _StorageType:
    def __init__(self, name: str) -> None:
        if name not in _DTYPES:
            raise WeightFileError(f"unsupported tensor storage type {name}")
        self.dtype = np.dtype(_DTYPES[name])


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: Any) -> np.ndarray:
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=[s * item for s in stride])
    return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    """Maps the few torch globals a state dict uses onto numpy; refuses every other global (no code runs)."""

    def __init__(self, fh: IO[bytes], load_storage: Callable[[tuple[Any, ...]], Any]) -> None:
        super().__init__(fh)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_lazy
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, requires_grad, hooks: data
        raise WeightFileError(f"unexpected object {module}.{name} in the weight file")

    def persistent_load(self, pid: Any) -> Any:
        return self._load_storage(tuple(pid))


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a torch.save()d state dict, as numpy arrays keyed by parameter name."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as fh:
        return _load_legacy(fh)


def _load_legacy(fh: IO[bytes]) -> dict[str, np.ndarray]:
    def plain() -> Any:
        return _Unpickler(fh, lambda pid: None).load()

    try:
        magic = plain()
    except (pickle.UnpicklingError, EOFError) as exc:
        raise WeightFileError(f"not a PyTorch weight file: {exc}") from None
    if magic != _LEGACY_MAGIC:
        raise WeightFileError("not a PyTorch weight file (bad magic number)")
    plain()  # protocol version
    sys_info = plain()
    if not sys_info.get("little_endian", True):
        raise WeightFileError("big-endian weight files are not supported")
    # Storages are pickled as references; their bytes follow the pickle, in the order of the sorted keys.
    dtypes: dict[str, np.dtype[Any]] = {}

    def reference(pid: tuple[Any, ...]) -> _Deferred:
        _, storage_type, key, _location, numel = pid[:5]
        dtypes[key] = storage_type.dtype
        return _Deferred(key, numel)

    obj = _Unpickler(fh, reference).load()
    keys = plain()
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        (numel,) = struct.unpack("<q", fh.read(8))
        dtype = dtypes.get(key, np.dtype(np.float32))
        storages[key] = np.frombuffer(fh.read(numel * dtype.itemsize), dtype=dtype)
    return _resolve(obj, storages)


class _Deferred:
    """A storage whose bytes come after the pickle (legacy format)."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


def _resolve(obj: Any, storages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if isinstance(value, _LazyTensor):
            out[name] = value.materialise(storages)
        elif isinstance(value, np.ndarray):
            out[name] = value
    return out


class _LazyTensor:
    def __init__(self, storage: _Deferred, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialise(self, storages: dict[str, np.ndarray]) -> np.ndarray:
        return _rebuild_tensor(storages[self.storage.key], self.offset, self.size, self.stride)


def _rebuild_lazy(storage: Any, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *rest: Any) -> Any:
    if isinstance(storage, _Deferred):
        return _LazyTensor(storage, offset, tuple(size), tuple(stride))
    return _rebuild_tensor(storage, offset, tuple(size), tuple(stride))


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise WeightFileError(f"{path.name}: no data.pkl in the archive")
        prefix = pkl[: -len("data.pkl")]

        def storage(pid: tuple[Any, ...]) -> np.ndarray:
            _, storage_type, key, _location, _numel = pid[:5]
            return np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=storage_type.dtype)

        obj = _Unpickler(io.BytesIO(zf.read(pkl)), storage).load()
    return _resolve(obj, {})
