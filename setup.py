"""Build the optional native hooks; all metadata lives in pyproject.toml.

optional=True: an install without a C compiler still succeeds and rvkvm falls back
to the pure-Python slicer (rvkvm/cpu/slicer.py), TLB-fill hook (rvkvm/cpu/fillhook.py),
CSR access (rvkvm/cpu/regs.py), rdtime (rvkvm/cpu/native_time.py) and INTR hook
(rvkvm/cpu/intrhook.py)."""
from setuptools import Extension, setup

NATIVE = ("_slicehook", "_fillhook", "_regs", "_timebase", "_intrhook")


def native(name: str) -> Extension:
    # every one includes _native.h (the layout check, the export macro, the module stub)
    return Extension(f"rvkvm.cpu.{name}", [f"rvkvm/cpu/{name}.c"],
                     depends=["rvkvm/cpu/_native.h"], optional=True)


setup(ext_modules=[native(name) for name in NATIVE])
