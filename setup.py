"""Build the optional native slicer hook; all metadata lives in pyproject.toml.

optional=True: an install without a C compiler still succeeds and rvkvm falls back
to the pure-Python slicer (rvkvm/cpu/slicer.py)."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("rvkvm.cpu._slicehook", ["rvkvm/cpu/_slicehook.c"], optional=True),
    ],
)
