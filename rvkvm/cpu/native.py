"""Loading rvkvm's optional C extensions (built by setup.py) with ctypes.

Each one exports `size_t rvkvm_<name>_layout(size_t *out, size_t n)`, writing the sizes
and offsets of the struct it shares with Python; a build from another version of the
source is refused rather than trusted. Without a compiler at install time the file is
absent and the caller uses its pure-Python path.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

from ..errors import RvkvmError


def struct_layout(struct: type[ctypes.Structure]) -> tuple[int, ...]:
    """sizeof and every field's offset, in declaration order: what the C side reports."""
    return (ctypes.sizeof(struct),) + tuple(getattr(struct, name).offset
                                            for name, *_ in struct._fields_)


@functools.lru_cache(maxsize=None)
def load_extension(module: str, layout_function: str, expected: tuple[int, ...]):
    """rvkvm.cpu.<module> as a ctypes CDLL, or None when it was not built."""
    try:
        spec = importlib.util.find_spec(f"rvkvm.cpu.{module}")
    except ImportError:
        return None
    if spec is None or not spec.origin or not os.path.exists(spec.origin):
        return None
    lib = ctypes.CDLL(spec.origin)
    check_layout(lib, layout_function, expected, module)
    return lib


def check_layout(lib, layout_function: str, expected: tuple[int, ...], module: str = "") -> None:
    """Refuse `lib` if its struct (reported by `layout_function`) differs from `expected`."""
    layout = getattr(lib, layout_function)
    layout.restype = ctypes.c_size_t
    layout.argtypes = [ctypes.POINTER(ctypes.c_size_t), ctypes.c_size_t]
    out = (ctypes.c_size_t * len(expected))()
    count = layout(out, len(expected))
    if count != len(expected) or tuple(out) != expected:
        name = module or os.path.basename(lib._name)
        raise RvkvmError(f"rvkvm/cpu/{name} was built with another struct layout "
                         f"({tuple(out)[:count]} != {expected}); rebuild it (pip install -e .)")
