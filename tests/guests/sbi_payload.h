/* What the S-mode payloads (linked at 0x80200000) share: the SBI TIME extension,
 * sip.STIP, and a `linux_banner` symbol, by which rvkvm's loader takes an ELF as a
 * kernel for its built-in SBI when no --bios is given (LINUX_BANNER, before .text). */
#define SBI_EXT_TIME 0x54494D45
#define SIP_STIP     (1 << 5)

.macro LINUX_BANNER
    .section .rodata
    .globl linux_banner
linux_banner:
    .asciz "a test payload for rvkvm's built-in SBI, not Linux"
.endm
