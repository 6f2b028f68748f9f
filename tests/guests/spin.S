/* spin: loop forever without ever waiting; only --timeout ends the run. */
    .text
    .globl _start
_start:
    j _start
