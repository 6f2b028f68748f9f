"""Build the optional native hooks; all metadata lives in pyproject.toml.

optional=True: an install without a C compiler still succeeds and rvkvm falls back
to the pure-Python slicer (rvkvm/cpu/slicer.py), TLB-fill hook (rvkvm/cpu/fillhook.py)
CSR access (rvkvm/cpu/regs.py) and rdtime (rvkvm/cpu/native_time.py)."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("rvkvm.cpu._slicehook", ["rvkvm/cpu/_slicehook.c"], optional=True),
        Extension("rvkvm.cpu._fillhook", ["rvkvm/cpu/_fillhook.c"], optional=True),
        Extension("rvkvm.cpu._regs", ["rvkvm/cpu/_regs.c"], optional=True),
        Extension("rvkvm.cpu._timebase", ["rvkvm/cpu/_timebase.c"], optional=True),
        Extension("rvkvm.cpu._intrhook", ["rvkvm/cpu/_intrhook.c"], optional=True),
    ],
)
