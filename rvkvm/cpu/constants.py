"""Architectural constants, named as the privileged spec names them."""

XLEN_MASK = (1 << 64) - 1

# privilege levels
PRV_U, PRV_S, PRV_M = 0, 1, 3
PRIV_NAMES = {PRV_U: "U", PRV_S: "S", PRV_M: "M"}
# htinst pseudo-instructions for guest-page faults on implicit VS-stage PTE accesses
HTINST_PTE_READ64 = 0x00003000
HTINST_PTE_WRITE64 = 0x00003020

# synchronous exception causes
EXC_INSN_MISALIGNED = 0
EXC_INSN_ACCESS = 1
EXC_ILLEGAL_INSN = 2
EXC_BREAKPOINT = 3
EXC_LOAD_MISALIGNED = 4
EXC_LOAD_ACCESS = 5
EXC_STORE_MISALIGNED = 6
EXC_STORE_ACCESS = 7
EXC_ECALL_U = 8
EXC_ECALL_S = 9
EXC_ECALL_VS = 10
EXC_ECALL_M = 11
EXC_INSN_PAGE_FAULT = 12
EXC_LOAD_PAGE_FAULT = 13
EXC_STORE_PAGE_FAULT = 15
EXC_INSN_GUEST_PAGE_FAULT = 20
EXC_LOAD_GUEST_PAGE_FAULT = 21
EXC_VIRTUAL_INSN = 22
EXC_STORE_GUEST_PAGE_FAULT = 23

EXCEPTION_NAMES = {
    0: "insn_misaligned", 1: "insn_access_fault", 2: "illegal_insn", 3: "breakpoint",
    4: "load_misaligned", 5: "load_access_fault", 6: "store_misaligned",
    7: "store_access_fault", 8: "ecall_u", 9: "ecall_s", 10: "ecall_vs", 11: "ecall_m",
    12: "insn_page_fault", 13: "load_page_fault", 15: "store_page_fault",
    20: "insn_guest_page_fault", 21: "load_guest_page_fault", 22: "virtual_insn",
    23: "store_guest_page_fault",
}

# interrupts: bit numbers in mip/mie, also the cause code with the top bit set
IRQ_SSI, IRQ_VSSI, IRQ_MSI = 1, 2, 3
IRQ_STI, IRQ_VSTI, IRQ_MTI = 5, 6, 7
IRQ_SEI, IRQ_VSEI, IRQ_MEI = 9, 10, 11
INTERRUPT_NAMES = {1: "s_software", 2: "vs_software", 3: "m_software", 5: "s_timer",
                   6: "vs_timer", 7: "m_timer", 9: "s_external", 10: "vs_external",
                   11: "m_external"}
INTERRUPT_FLAG = 1 << 63
MIP_SSIP, MIP_MSIP = 1 << IRQ_SSI, 1 << IRQ_MSI
MIP_STIP, MIP_MTIP = 1 << IRQ_STI, 1 << IRQ_MTI
MIP_SEIP, MIP_MEIP = 1 << IRQ_SEI, 1 << IRQ_MEI
IRQ_SGEI = 12
MIP_VSSIP, MIP_VSTIP, MIP_VSEIP = 1 << IRQ_VSSI, 1 << IRQ_VSTI, 1 << IRQ_VSEI
MIP_SGEIP = 1 << IRQ_SGEI
S_INTERRUPTS = MIP_SSIP | MIP_STIP | MIP_SEIP
M_INTERRUPTS = MIP_MSIP | MIP_MTIP | MIP_MEIP
VS_INTERRUPTS = MIP_VSSIP | MIP_VSTIP | MIP_VSEIP
# priority order for simultaneous interrupts (privileged spec 3.1.9 and 8.4.3)
INTERRUPT_PRIORITY = (IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI, IRQ_SGEI,
                      IRQ_VSEI, IRQ_VSSI, IRQ_VSTI)

# mstatus fields (spec positions)
MSTATUS_SIE = 1 << 1
MSTATUS_MIE = 1 << 3
MSTATUS_SPIE = 1 << 5
MSTATUS_UBE = 1 << 6
MSTATUS_MPIE = 1 << 7
MSTATUS_SPP = 1 << 8
MSTATUS_VS = 3 << 9
MSTATUS_MPP_SHIFT = 11
MSTATUS_MPP = 3 << 11
MSTATUS_FS = 3 << 13
MSTATUS_XS = 3 << 15
MSTATUS_MPRV = 1 << 17
MSTATUS_SUM = 1 << 18
MSTATUS_MXR = 1 << 19
MSTATUS_TVM = 1 << 20
MSTATUS_TW = 1 << 21
MSTATUS_TSR = 1 << 22
MSTATUS_UXL = 3 << 32
MSTATUS_SXL = 3 << 34
MSTATUS_GVA = 1 << 38
MSTATUS_MPV = 1 << 39
MSTATUS_SD = 1 << 63

# hstatus fields (H extension)
HSTATUS_VSBE = 1 << 5
HSTATUS_GVA = 1 << 6
HSTATUS_SPV = 1 << 7
HSTATUS_SPVP = 1 << 8
HSTATUS_HU = 1 << 9
HSTATUS_VGEIN = 0x3F << 12
HSTATUS_VTVM = 1 << 20
HSTATUS_VTW = 1 << 21
HSTATUS_VTSR = 1 << 22
HSTATUS_VSXL = 3 << 32
HGATP_MODE_SHIFT = 60
HGATP_VMID_SHIFT = 44
HGATP_MODE_BARE, HGATP_MODE_SV39X4, HGATP_MODE_SV48X4, HGATP_MODE_SV57X4 = 0, 8, 9, 10
# where Unicorn 2.1.4 keeps TW and TSR (a QEMU 5.0 bug): only these positions act
UC_MSTATUS_TW = 1 << 29
UC_MSTATUS_TSR = 1 << 30

SSTATUS_MASK = (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | MSTATUS_VS |
                MSTATUS_FS | MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_UXL |
                MSTATUS_SD)

SATP_MODE_SHIFT = 60
SATP_MODE_BARE, SATP_MODE_SV39, SATP_MODE_SV48, SATP_MODE_SV57 = 0, 8, 9, 10

# instruction encodings Python recognises
INSN_WFI = 0x10500073
INSN_EBREAK = 0x00100073
INSN_C_EBREAK = 0x9002
