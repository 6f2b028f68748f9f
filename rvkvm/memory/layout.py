"""The `virt` machine's physical memory map, the same as QEMU's `-M virt`.

    0x0000_1000  boot ROM (unused: the hart starts at the entry point)
    0x0010_0000  test finisher (sifive,test)       0x1000
    0x0200_0000  CLINT (msip, mtimecmp, mtime)     0x10000
    0x0c00_0000  PLIC                              0x600000
    0x1000_0000  UART 16550A (PLIC source 10)      0x100
    0x8000_0000  RAM (-m, default 128 MiB)
"""

FINISHER_BASE = 0x0010_0000
FINISHER_SIZE = 0x1000
CLINT_BASE = 0x0200_0000
CLINT_SIZE = 0x10000
PLIC_BASE = 0x0C00_0000
PLIC_SIZE = 0x60_0000
UART0_BASE = 0x1000_0000
UART0_SIZE = 0x100
UART0_IRQ = 10
RAM_BASE = 0x8000_0000
DEFAULT_RAM_SIZE = 128 << 20

KERNEL_OFFSET = 0x20_0000        # Linux and fw_jump place the kernel at RAM + 2 MiB
TIMEBASE_HZ = 10_000_000         # mtime frequency, as QEMU virt
