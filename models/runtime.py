"""Model runtime: lazy optional imports, onnxruntime sessions (thread count from config), unload when idle."""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from photoshelf.errors import ToolMissing

log = logging.getLogger(__name__)


def require(module: str, extra: str = "ml", package: str | None = None) -> Any:
    """Import an optional dependency, or raise ToolMissing naming the extra (or package) that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        hint = f"pip install {package}" if package else f"pip install 'photoshelf[{extra}]'"
        raise ToolMissing(f"this needs the Python module {module!r}: {hint}") from None


def release_memory() -> None:
    """Hand freed heap back to the operating system (glibc keeps it otherwise: a dropped model's hundreds of MB
    stayed in the process's RSS). A no-op where the C library has no malloc_trim."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)


def onnx_session(model: bytes | str, threads: int, lean: bool = False) -> Any:
    """An onnxruntime CPU session with `threads` intra-op threads (0 = onnxruntime's default).

    `lean`: for small inputs of varying shape (a search query): no memory pattern planning either (it keeps a
    buffer per input shape seen)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The arena keeps peak activation memory reserved for the session's life; off keeps RSS near the weights.
    options.enable_cpu_mem_arena = False
    if lean:
        options.enable_mem_pattern = False
    options.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


class Lazy:
    """A model loaded on first use and dropped after `idle_seconds` without use (by a timer thread that lives
    while the model is loaded, and by `sweep`), so a daemon that indexes once a day, or a viewer asked one search
    by meaning, does not hold hundreds of MB between uses."""

    def __init__(self, name: str, loader: Callable[[], Any], idle_seconds: float = 300.0) -> None:
        self.name = name
        self._loader = loader
        self._idle = idle_seconds
        self._value: Any = None
        self._used = 0.0
        self._lock = threading.Lock()
        self._watching = False  # a timer thread is running (set and cleared under the lock)

    def get(self) -> Any:
        with self._lock:
            if self._value is None:
                started = time.monotonic()
                self._value = self._loader()
                log.info("loaded model %s in %.1fs", self.name, time.monotonic() - started)
            self._used = time.monotonic()
            if not self._watching:
                self._watching = True
                threading.Thread(target=self._watch, name=f"unload {self.name}", daemon=True).start()
            return self._value

    def _watch(self) -> None:
        """Unload once the model has not been asked for in `idle_seconds`; ends when it is unloaded."""
        while True:
            with self._lock:
                if self._value is None:
                    self._watching = False
                    return
                left = self._used + self._idle - time.monotonic()
            if left <= 0:
                if not self.sweep():
                    time.sleep(0.01)
                continue
            time.sleep(min(max(left, 0.05), 60.0) + 0.01)

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def sweep(self) -> bool:
        """Unload when idle; returns True when it did."""
        with self._lock:
            if self._value is None or time.monotonic() - self._used <= self._idle:
                return False
            self._value = None
        release_memory()
        log.info("unloaded idle model %s", self.name)
        return True

    def unload(self) -> None:
        with self._lock:
            loaded, self._value = self._value is not None, None
        if loaded:
            release_memory()
