"""Errors a user can cause. The CLI prints their message as one line and exits non-zero."""
from . import exit_status


class RvkvmError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""
    exit_code = exit_status.ERROR


class LoadError(RvkvmError):
    """A kernel, firmware, initrd or device tree that cannot be loaded."""
