"""Model runtime: lazy optional imports, onnxruntime sessions (thread count from config), unload when idle."""

from __future__ import annotations

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


def onnx_session(model: bytes | str, threads: int) -> Any:
    """An onnxruntime CPU session with `threads` intra-op threads (0 = onnxruntime's default)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The arena keeps peak activation memory reserved for the session's life; off keeps RSS near the weights.
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


class Lazy:
    """A model loaded on first use and dropped after `idle_seconds` without use (checked on each access and by
    `sweep`), so a daemon that indexes once a day does not hold hundreds of MB between runs."""

    def __init__(self, name: str, loader: Callable[[], Any], idle_seconds: float = 300.0) -> None:
        self.name = name
        self._loader = loader
        self._idle = idle_seconds
        self._value: Any = None
        self._used = 0.0
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._value is None:
                started = time.monotonic()
                self._value = self._loader()
                log.info("loaded model %s in %.1fs", self.name, time.monotonic() - started)
            self._used = time.monotonic()
            return self._value

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def sweep(self) -> bool:
        """Unload when idle; returns True when it did."""
        with self._lock:
            if self._value is not None and time.monotonic() - self._used > self._idle:
                self._value = None
                log.info("unloaded idle model %s", self.name)
                return True
        return False

    def unload(self) -> None:
        with self._lock:
            self._value = None
