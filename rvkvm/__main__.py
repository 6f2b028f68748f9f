"""`python -m rvkvm ...`: the same as the `rvkvm` command (rvkvm.cli:main)."""
from .cli import main

main()
