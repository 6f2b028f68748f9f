"""rvkvm: a RISC-V full-system emulator and hypervisor in Python, on Unicorn."""
__version__ = "0.1.0"
