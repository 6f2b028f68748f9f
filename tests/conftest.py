"""Fixtures shared by the tests that run rvkvm as a program: where the repository and the
shared data folder are, and a runner for `python -m rvkvm.cli ...` in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# the project reaches it as ../shared; RVKVM_SHARED names another place (a git worktree)
SHARED_DIR = Path(os.environ.get("RVKVM_SHARED", REPO_ROOT / ".." / "shared"))
GUESTS_DIR = REPO_ROOT / "tests" / "guests"
IMAGES_DIR = REPO_ROOT / "images"

# How long any one rvkvm run may take on the host before the test gives up on it: a
# safety net against a hung emulator, well above what the runs need (Linux ~0.7 s).
HOST_TIMEOUT = 120


def elf_symbol(elf: Path, name: str) -> int:
    """The address of a symbol of ELF (tests name the pcs a guest stops at)."""
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        return ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"]


def rvkvm_env() -> dict:
    """The environment for a child rvkvm: the repository importable from any cwd."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def rvkvm_command(*args) -> list[str]:
    return [sys.executable, "-m", "rvkvm.cli", *map(str, args)]


def run_rvkvm(*args, timeout: float = HOST_TIMEOUT, input: bytes | None = None,
              cwd: Path | str = REPO_ROOT) -> subprocess.CompletedProcess:
    """Run `python -m rvkvm.cli ARGS...` to completion; stdout/stderr as text. stdin is
    empty (not the test's terminal) unless `input` is given."""
    proc = subprocess.run(
        rvkvm_command(*args), cwd=cwd, env=rvkvm_env(), timeout=timeout,
        input=input, stdin=None if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode,
        proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """<repo>/../shared; tests that need it skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"../shared not found ({SHARED_DIR.resolve()}): the Linux tests are skipped")
    return SHARED_DIR.resolve()


@pytest.fixture(scope="session")
def rvkvm():
    """The subprocess runner: `rvkvm("boot", path, "--timeout", 5)` -> CompletedProcess."""
    return run_rvkvm
