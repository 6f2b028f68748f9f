"""The rvkvm command line: `rvkvm boot`, `rvkvm disas`."""
from __future__ import annotations

import re
import sys
import time

import click

from .errors import RvkvmError

SIZE_RE = re.compile(r"^(\d+)([KMG]?)i?B?$", re.IGNORECASE)
SIZE_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}   # QEMU: bare numbers are MiB


def parse_size(text: str) -> int:
    m = SIZE_RE.match(text.strip())
    if not m:
        raise click.BadParameter(f"{text!r} is not a memory size (e.g. 128M, 1G)", param_hint="-m")
    size = int(m.group(1)) * SIZE_UNITS[m.group(2).upper()]
    if size < (4 << 20) or size % (2 << 20):
        raise click.BadParameter(f"{text!r}: RAM must be at least 4M and a multiple of 2M",
                                 param_hint="-m")
    return size


def parse_int(text: str, option: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (e.g. 0x80000000)",
                                 param_hint=option) from None


def check_regex(text: str | None) -> str | None:
    if text is not None:
        try:
            re.compile(text)
        except re.error as err:
            raise click.BadParameter(f"{text!r} is not a regular expression: {err}",
                                     param_hint="--expect") from None
    return text


@click.group()
@click.version_option(package_name="rvkvm")
def cli():
    """rvkvm: a RISC-V full-system emulator and hypervisor in Python."""


@cli.command()
@click.argument("kernel", type=click.Path(dir_okay=False))
@click.option("-m", "--memory", "memory", default="128M", show_default=True,
              help="RAM size (QEMU syntax: 128M, 1G; a bare number is MiB).")
@click.option("--bios", help="M-mode firmware (e.g. OpenSBI fw_jump.elf), or 'none' to start the kernel in M-mode.")
@click.option("--initrd", type=click.Path(dir_okay=False), help="Initial ramdisk.")
@click.option("--append", help="Kernel command line (/chosen/bootargs).")
@click.option("--dtb", type=click.Path(dir_okay=False), help="Use this device tree instead of the generated one.")
@click.option("--dump-dtb", type=click.Path(dir_okay=False), help="Write the generated device tree to FILE and exit.")
@click.option("--smp", default=1, type=int, show_default=True, help="Number of harts (only 1 for now).")
@click.option("--load-addr", help="Load address of a raw binary (default: RAM base).")
@click.option("--timeout", type=float, help="End the run after SECONDS (exit status 124).")
@click.option("--expect", help="Exit 0 as soon as the console output matches this regex.")
@click.option("--trace", type=click.Choice(["int", "sbi", "mmio", "exit"]), multiple=True,
              help="Print one line per trap and interrupt (int), per SBI call served by rvkvm "
                   "(sbi), per device register access (mmio), per VM exit with --guest (exit). "
                   "Repeatable.")
@click.option("--stats", is_flag=True, help="At exit, print trap, SBI and MMIO counts and where the time went.")
@click.option("--slice-ms", type=float, default=2.0, show_default=True,
              help="Time slice: the longest a pending interrupt waits.")
@click.option("--guest", is_flag=True,
              help="Run KERNEL as a VS-mode guest of rvkvm's hypervisor (rvkvm/hv), kvmtool-style.")
def boot(kernel, memory, bios, initrd, append, dtb, dump_dtb, smp, load_addr, timeout,
         expect, trace, stats, slice_ms, guest):
    """Boot KERNEL (ELF, Linux Image or raw binary) on the virt machine."""
    from .machine.virt import MachineConfig, VirtMachine
    if smp != 1:
        raise click.BadParameter("only --smp 1 is supported so far", param_hint="--smp")
    if slice_ms <= 0:
        raise click.BadParameter("must be positive", param_hint="--slice-ms")
    # ---- --guest: the hypervisor's VMM (rvkvm/hv/vmm.py) instead of the native machine
    if guest:
        for option, value in (("--bios", bios), ("--load-addr", load_addr)):
            if value:
                raise click.BadParameter("not with --guest", param_hint=option)
        from .hv.vmm import GuestConfig, Vmm
        vmm = Vmm(GuestConfig(ram_size=parse_size(memory), append=append, initrd=initrd, dtb=dtb,
                              expect=check_regex(expect), trace=frozenset(trace), stats=stats,
                              slice_seconds=slice_ms / 1000))
        vmm.load(kernel)
        if dump_dtb:
            with open(dump_dtb, "wb") as f:
                f.write(vmm.dtb)
            return
        vmm.console.start_input()
        started = time.perf_counter()
        try:
            result = vmm.run(timeout=timeout)
        finally:
            vmm.console.stop_input()
        if stats:
            click.echo("\n" + vmm.stats_report(time.perf_counter() - started), err=True)
        if result.status != 0 or trace:
            click.echo(f"\nrvkvm: {result.reason} (exit status {result.status})", err=True)
        if result.dump:
            click.echo(result.dump, err=True)
        sys.exit(result.status if 0 <= result.status <= 255 else 255)
    # ---- end of --guest
    config = MachineConfig(
        ram_size=parse_size(memory), bios=bios, append=append, initrd=initrd, dtb=dtb,
        load_addr=parse_int(load_addr, "--load-addr") if load_addr else None,
        slice_seconds=slice_ms / 1000, trace=frozenset(trace), expect=check_regex(expect),
        stats=stats)
    machine = VirtMachine(config)
    machine.load(kernel)
    if dump_dtb:                           # the tree this kernel would get (initrd, bootargs)
        with open(dump_dtb, "wb") as f:
            f.write(machine.dtb)
        return
    if trace:
        click.echo(f"rvkvm: time slicing: {machine.hart.slicer.kind}", err=True)
    machine.console.start_input()
    started = time.perf_counter()
    try:
        result = machine.run(timeout=timeout)
    finally:
        machine.console.stop_input()
    if stats:
        click.echo("\n" + machine.stats_report(time.perf_counter() - started), err=True)
    if result.status != 0 or trace:
        click.echo(f"\nrvkvm: {result.reason} (exit status {result.status})", err=True)
    if result.dump:
        click.echo(result.dump, err=True)
    # a process status is 8 bits: a guest code of 256 must not turn into a pass
    sys.exit(result.status if 0 <= result.status <= 255 else 255)


@cli.command("disas", context_settings={"ignore_unknown_options": True},
             add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def disas(args):
    """Disassemble an ELF's code sections, or raw bytes (--raw --addr)."""
    # capstone is imported only here: it would add 50 ms to every boot
    from .disas import disas_command
    disas_command.main(args=list(args), prog_name="rvkvm disas", standalone_mode=True)


def main():
    try:
        cli(standalone_mode=True)
    except RvkvmError as err:
        click.echo(f"rvkvm: error: {err}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("rvkvm: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
