"""CSR numbers and names (privileged spec table 2.2-2.6). The CSR table in csr.py, the
disassembler and register dumps all name CSRs from here."""

CSR_NAMES: dict[int, str] = {
    # unprivileged
    0x001: "fflags", 0x002: "frm", 0x003: "fcsr",
    0xC00: "cycle", 0xC01: "time", 0xC02: "instret",
    # supervisor
    0x100: "sstatus", 0x104: "sie", 0x105: "stvec", 0x106: "scounteren", 0x10A: "senvcfg",
    0x140: "sscratch", 0x141: "sepc", 0x142: "scause", 0x143: "stval", 0x144: "sip",
    0x14D: "stimecmp", 0x180: "satp",
    # hypervisor
    0x600: "hstatus", 0x602: "hedeleg", 0x603: "hideleg", 0x604: "hie", 0x605: "htimedelta",
    0x606: "hcounteren", 0x607: "hgeie", 0x60A: "henvcfg", 0x643: "htval", 0x644: "hip",
    0x645: "hvip", 0x64A: "htinst", 0x680: "hgatp", 0xE12: "hgeip",
    0x200: "vsstatus", 0x204: "vsie", 0x205: "vstvec", 0x240: "vsscratch", 0x241: "vsepc",
    0x242: "vscause", 0x243: "vstval", 0x244: "vsip", 0x280: "vsatp",
    # machine
    0xF11: "mvendorid", 0xF12: "marchid", 0xF13: "mimpid", 0xF14: "mhartid",
    0xF15: "mconfigptr",
    0x300: "mstatus", 0x301: "misa", 0x302: "medeleg", 0x303: "mideleg", 0x304: "mie",
    0x305: "mtvec", 0x306: "mcounteren", 0x30A: "menvcfg", 0x320: "mcountinhibit",
    0x340: "mscratch", 0x341: "mepc", 0x342: "mcause", 0x343: "mtval", 0x344: "mip",
    0x34A: "mtinst", 0x34B: "mtval2",
    0x747: "mseccfg",
    0xB00: "mcycle", 0xB02: "minstret",
    0x7A0: "tselect", 0x7A1: "tdata1", 0x7A2: "tdata2", 0x7A3: "tdata3",
    0x7B0: "dcsr", 0x7B1: "dpc", 0x7B2: "dscratch0", 0x7B3: "dscratch1",
}
for _i in range(16):
    CSR_NAMES[0x3A0 + _i] = f"pmpcfg{_i}"
for _i in range(64):
    CSR_NAMES[0x3B0 + _i] = f"pmpaddr{_i}"
for _i in range(3, 32):
    CSR_NAMES[0xC00 + _i] = f"hpmcounter{_i}"
    CSR_NAMES[0xB00 + _i] = f"mhpmcounter{_i}"
    CSR_NAMES[0x320 + _i] = f"mhpmevent{_i}"

CSR_NUMBERS: dict[str, int] = {name: num for num, name in CSR_NAMES.items()}


def csr_name(num: int) -> str:
    """The spec name of CSR `num`, or its number in hex when it has none."""
    return CSR_NAMES.get(num, f"csr{num:#x}")
