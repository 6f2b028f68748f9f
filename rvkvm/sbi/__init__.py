"""rvkvm's SBI implementation: the firmware answering a supervisor's ecalls in Python.

`dispatch(host, eid, fid, args)` serves one call against an `SbiHost`; the
extensions (one module each) know nothing of Unicorn or the hart.
"""
from .host import Extension, SbiHost, SbiResult
from .table import EXTENSIONS, dispatch, find_extension

__all__ = ["Extension", "SbiHost", "SbiResult", "EXTENSIONS", "dispatch", "find_extension"]
