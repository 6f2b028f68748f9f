"""The command line itself (rvkvm/cli.py on argparse): what a rewrite of the parser could
silently change. Long options are never abbreviated, every bad command line is one line
and status 125 (argparse's own 2 is a guest's code), `rvkvm` alone is the help, the help
texts keep their metavars, defaults, exit statuses and console keys, and the process
ends through os._exit() with nothing lost.

Parsing is checked in-process through rvkvm.cli.run(argv), which returns the status;
what only a whole process shows (os._exit, the imports, a closed stdout) runs
`python -m rvkvm.cli` in a subprocess (see conftest.py)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from conftest import IMAGES_DIR, REPO_ROOT, rvkvm_command, rvkvm_env
from rvkvm.cli import BadValue, parse_size, parse_trace, run

HELLO = str(IMAGES_DIR / "hello.elf")
ERROR = 125                     # spelled out, as in test_cli.py
MiB = 1 << 20


@pytest.fixture(autouse=True)
def keep_sigterm():
    """`boot` run in-process installs its SIGTERM handler: give pytest its own back."""
    saved = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, saved)


def one_error_line(capsys, status: int, *, help_of: str = "rvkvm boot") -> str:
    """The contract for a bad command line: 125, nothing on stdout, one stderr line
    `rvkvm: error: ... (see 'rvkvm boot -h')`. Returns the line."""
    out, err = capsys.readouterr()
    assert status == ERROR, (status, err)
    assert out == "", out
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("rvkvm: error: "), err
    assert err.rstrip("\n").endswith(f" (see '{help_of} -h')"), err
    return err.rstrip("\n")


# ---------------------------------------------------------------- abbreviations

@pytest.mark.parametrize("argv, word", [
    (["boot", "--mem", "256M"], "--mem"),           # click did not take it either
    (["boot", "--memo=256M"], "--memo"),
    (["boot", "--time", "5"], "--time"),
    (["boot", "--gue"], "--gue"),
    (["disas", "--ra"], "--ra"),
])
def test_long_options_are_not_abbreviated(capsys, tmp_path, argv, word):
    dumped = tmp_path / "virt.dtb"
    command = argv[0]
    status = run([*argv, "--dump-dtb", str(dumped), HELLO] if command == "boot" else [*argv, HELLO])
    line = one_error_line(capsys, status, help_of=f"rvkvm {command}")
    assert line.startswith(f"rvkvm: error: No such option '{word}'"), line
    assert not dumped.exists()                      # refused before anything ran


def test_an_unknown_option_names_the_near_ones(capsys):
    line = one_error_line(capsys, run(["boot", "--mem", "256M", HELLO]))
    assert "Did you mean '--memory'" in line, line


# ---------------------------------------------------------------- bad command lines

@pytest.mark.parametrize("argv, help_of, mentions", [
    (["--frobnicate"], "rvkvm", "No such option '--frobnicate'"),
    (["bogus"], "rvkvm", "No such command 'bogus'"),
    (["boot"], "rvkvm boot", "Missing argument 'KERNEL'"),
    (["disas"], "rvkvm disas", "Missing argument 'FILE'"),
    (["boot", "-m"], "rvkvm boot", "-m"),
    (["boot", HELLO, "--timeout"], "rvkvm boot", "--timeout"),
    (["boot", "--stats=1", HELLO], "rvkvm boot", "--stats"),
    (["boot", HELLO, HELLO], "rvkvm boot", "unexpected extra argument"),
    (["disas", "--frob", HELLO], "rvkvm disas", "No such option '--frob'"),
    (["boot", "--timeout", "-1", HELLO], "rvkvm boot", "finite number above 0"),
    (["boot", "--smp", "-1", HELLO], "rvkvm boot", "only --smp 1"),
    (["boot", "--cpu", "rv32", HELLO], "rvkvm boot", "the only model is rv64"),
    (["boot", "--cpu", "rv64,v=on", HELLO], "rvkvm boot", "the only property is h=on|off"),
    (["boot", "--guest", "--bios", "none", HELLO], "rvkvm boot", "'--bios': not with --guest"),
    (["boot", "-S", HELLO], "rvkvm boot", "'-S': waits for gdb"),
    (["boot", "--initrd", str(IMAGES_DIR), HELLO], "rvkvm boot", "is a directory"),
])
def test_every_bad_command_line_is_one_line_and_125(capsys, argv, help_of, mentions):
    """Not argparse's usage block and status 2 (a guest's failure code)."""
    line = one_error_line(capsys, run(argv), help_of=help_of)
    assert mentions in line, line


@pytest.mark.parametrize("option, value, message", [
    ("-m", "banana", "'banana' is not a memory size (e.g. 128M, 1.5G)"),
    ("-m", "3M", "'3M': RAM must be at least 4M and a multiple of 2M"),
    ("--timeout", "nan", "'nan' must be a finite number above 0"),
    ("--slice-ms", "soon", "'soon' is not a number"),
    ("--trace", "int,bogus,zz", "unknown 'bogus', 'zz'; choose from int, sbi, mmio, mmu, exit"),
    ("--load-addr", "xyz", "'xyz' is not a number (e.g. 0x80000000)"),
    ("--expect", "[x", "'[x' is not a regular expression"),
])
def test_bad_values_name_the_option(capsys, option, value, message):
    line = one_error_line(capsys, run(["boot", option, value, HELLO]))
    assert line.startswith(f"rvkvm: error: Invalid value for '{option}': {message}"), line


def test_a_value_may_start_with_a_dash_after_equals(capsys, tmp_path):
    """`--append=-v` is the value -v, not an option (argparse needs the = for it)."""
    dumped = tmp_path / "virt.dtb"
    assert run(["boot", "--append=-v quiet", "--dump-dtb", str(dumped), HELLO]) == 0
    import fdt
    assert fdt.parse_dtb(dumped.read_bytes()).get_property("bootargs", "/chosen").value == "-v quiet"


# ---------------------------------------------------------------- values

@pytest.mark.parametrize("text, size", [("1.5G", 3 << 29), ("0.5g", 512 * MiB), ("64", 64 * MiB),
                                        ("256MiB", 256 * MiB), ("4194304B", 4 * MiB),
                                        (".5G", 512 * MiB), (" 6 M ", 6 * MiB)])
def test_memory_sizes_as_qemu_parses_them(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text, why", [("2M", "at least 4M"), ("5M", "multiple of 2M"),
                                       ("1.5B", "fraction of a byte"), ("1X", "not a memory size")])
def test_memory_sizes_refused(text, why):
    with pytest.raises(BadValue, match=why):
        parse_size(text)


def test_trace_values_are_comma_lists_of_known_names():
    assert parse_trace(" int , mmio ,") == {"int", "mmio"}
    assert parse_trace("exit") == {"exit"}
    with pytest.raises(BadValue, match="unknown 'x'"):
        parse_trace("int,x")


def test_memory_and_the_trace_list_reach_the_machine(capsys, tmp_path):
    """`-m 1.5G` and a repeated, comma-listed --trace, through the whole command line."""
    dumped = tmp_path / "virt.dtb"
    assert run(["boot", "-m", "1.5G", "--trace", "int,mmio", "--trace", "exit",
                "--dump-dtb", str(dumped), HELLO]) == 0
    import fdt
    tree = fdt.parse_dtb(dumped.read_bytes())
    assert list(tree.get_property("reg", "/memory@80000000")) == [0, 0x8000_0000, 0, 1536 * MiB]


# ---------------------------------------------------------------- help and version

def test_rvkvm_alone_is_the_help_with_status_0():
    proc = subprocess.run(rvkvm_command(), cwd=REPO_ROOT, env=rvkvm_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith("Usage: rvkvm [OPTIONS] COMMAND [ARGS]...")
    assert re.search(r"^  boot +Boot KERNEL", proc.stdout, re.M), proc.stdout
    assert re.search(r"^  disas +Disassemble", proc.stdout, re.M), proc.stdout
    assert "'rvkvm boot -h' lists the exit statuses and the console keys." in proc.stdout
    assert run(["-h"]) == run(["--help"]) == 0


def test_version(capsys):
    import rvkvm
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"rvkvm, version {rvkvm.__version__}\n"
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert f'version = "{rvkvm.__version__}"' in pyproject


def test_boot_help_lists_every_option_its_defaults_statuses_and_keys(capsys):
    assert run(["boot", "-h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: rvkvm boot [OPTIONS] KERNEL\n")
    for shown in ["-m, --memory SIZE", "--bios FILE|none", "--initrd FILE", "--append CMDLINE",
                  "--dtb FILE", "--dump-dtb FILE", "--smp N", "--load-addr ADDR",
                  "--timeout SECONDS", "--expect REGEX", "--trace LIST", "--stats",
                  "--slice-ms MS", "--gdb tcp::PORT", "-s ", "-S ", "--guest", "--cpu MODEL",
                  "-h, --help"]:
        assert re.search(rf"^  {re.escape(shown)}", out, re.M), shown
    flat = " ".join(out.split())                    # defaults may be wrapped onto a new line
    for default in ["[default: 128M]", "[default: 1]", "[default: 2.0]", "[default: rv64]"]:
        assert default in flat, default
    for status in ["0  the guest passed", "120  the guest asked for a reset",
                   "122  a Linux kernel panic", "123  the guest ended before",
                   "124  --timeout expired", "125  rvkvm refused its input"]:
        assert status in out, status
    assert "Console keys (as QEMU -nographic):" in out and "C-a x    exit rvkvm" in out


def test_disas_help(capsys):
    assert run(["disas", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: rvkvm disas [OPTIONS] FILE\n")
    assert re.search(r"^  --addr ADDR .*\[default: 0x80000000\]$", out, re.M), out
    assert "Exit status" not in out


@pytest.mark.parametrize("argv", [["-h"], ["boot", "-h"], ["--version"]])
def test_help_into_a_closed_stdout_is_one_line(argv):
    proc = subprocess.run(rvkvm_command(*argv), cwd=REPO_ROOT, env=rvkvm_env(),
                          stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
                          preexec_fn=lambda: os.close(1))
    err = proc.stderr.decode()
    assert proc.returncode == ERROR and err.count("\n") == 1, err
    assert err.startswith("rvkvm: error: stdout is closed"), err


def test_help_into_a_full_stdout_is_one_line():
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(rvkvm_command("boot", "-h"), cwd=REPO_ROOT, env=rvkvm_env(),
                              stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE,
                              timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == ERROR and err.count("\n") == 1, err
    assert "cannot write the output" in err and "No space left" in err, err


# ---------------------------------------------------------------- the process

def test_the_process_output_is_whole_after_os_exit(capsys):
    """main() ends with os._exit(): the listing a pipe receives is the one run() makes
    in-process, to the last line (nothing left in a buffer)."""
    assert run(["disas", HELLO]) == 0
    expected = capsys.readouterr().out
    proc = subprocess.run(rvkvm_command("disas", HELLO), cwd=REPO_ROOT, env=rvkvm_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected and expected.count("\n") > 50


def test_the_entry_point_ends_with_the_status_of_run():
    """`rvkvm.cli:main`, as the installed script calls it, exits with the run's status
    (a guest code, a usage error) and never returns."""
    script = "from rvkvm.cli import main; main(); print('main returned')"
    for args, status in [(["boot", "--frob"], ERROR), (["boot", HELLO], 0)]:
        proc = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO_ROOT,
                              env=rvkvm_env(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == status, proc.stderr
        assert "main returned" not in proc.stdout


def test_python_dash_m_rvkvm_is_the_command():
    proc = subprocess.run([sys.executable, "-m", "rvkvm", "--frob"], cwd=REPO_ROOT,
                          env=rvkvm_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == ERROR and proc.stdout == "", proc.stderr
    assert proc.stderr == "rvkvm: error: No such option '--frob' (see 'rvkvm -h')\n"


def test_start_up_imports_neither_click_nor_what_only_help_needs():
    """The parser costs nothing it does not use: no click (~17 ms of every process),
    boot's help epilog (the console keys) and difflib only when they are shown."""
    code = ("import sys; from rvkvm import cli; cli.COMMANDS['boot'].parse(['x']); "
            "print(sorted(m for m in ('click', 'difflib', 'rvkvm.machine.console') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=rvkvm_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_boot_imports_unicorn_without_inspect_and_leaves_the_real_one_importable():
    """Unicorn's loader imports inspect (~10 ms) for one getfile(): the CLI imports
    Unicorn with a stand-in (rvkvm/cpu/engine_import.py) that leaves at once."""
    code = ("import sys; from rvkvm.cpu.engine_import import import_unicorn; import_unicorn(); "
            "print('inspect' in sys.modules); import unicorn; "
            "unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64); "
            "import inspect; print(callable(inspect.signature))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=rvkvm_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]
    boot = subprocess.run([sys.executable, "-X", "importtime", "-m", "rvkvm.cli", "boot",
                           str(REPO_ROOT / "images" / "hello.elf")], cwd=REPO_ROOT,
                          env=rvkvm_env(), capture_output=True, text=True, timeout=60)
    assert boot.returncode == 0 and "hello: PASS" in boot.stdout, boot.stderr[-500:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in boot.stderr.splitlines()}
    assert "unicorn" in imported and "inspect" not in imported
