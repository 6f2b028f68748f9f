"""Importing Unicorn for a short-lived process (the CLI's boot).

Unicorn 2.1.4's library loader imports `inspect` for one call, `inspect.getfile()` of
its own loader function, to look for libunicorn beside its own file. `inspect`
pulls in ast, dis, tokenize and more: ~10 ms of a 0.12 s `rvkvm boot` (bench/startup.py).
While Unicorn is imported, a stand-in answering that one call takes its place, and
leaves sys.modules at once, so a later `import inspect` gets the real module. If the
stand-in is not enough (another Unicorn), the plain import runs instead.
"""
from __future__ import annotations

import sys
import types


def _getfile(obj) -> str:
    return obj.__code__.co_filename             # what inspect.getfile answers for a function


def import_unicorn() -> None:
    if "unicorn" in sys.modules or "inspect" in sys.modules:
        import unicorn
        return
    stand_in = types.ModuleType("inspect", "stand-in while Unicorn is imported")
    stand_in.getfile = _getfile
    sys.modules["inspect"] = stand_in
    try:
        import unicorn
    except (AttributeError, ImportError):        # it wanted more than getfile
        for name in [n for n in sys.modules if n == "unicorn" or n.startswith("unicorn.")]:
            del sys.modules[name]
        del sys.modules["inspect"]
        import unicorn
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]
