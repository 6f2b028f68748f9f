"""The SiFive test finisher (`sifive,test0`): how firmware and Linux power the machine off.

A write of (code << 16) | command to offset 0:
    0x5555  pass: power off, exit status 0
    0x3333  fail: exit status `code` (1 if the code is 0)
    0x7777  reset: the run ends with RESET_STATUS (rvkvm does not reboot, README "Exit status")
Any other value is ignored, as on QEMU.
"""
from __future__ import annotations

from ..memory.layout import FINISHER_BASE, FINISHER_SIZE
from .. import exit_status
from .base import Device, Events

FINISHER_FAIL = 0x3333
FINISHER_PASS = 0x5555
FINISHER_RESET = 0x7777

# Exit status when the guest asks for a reboot: one of rvkvm's own outcomes, so no
# guest failure code can look like it.
RESET_STATUS = exit_status.RESET
# Why a reset request ends the run (README, "Exit status"): said with every reset reason
NO_REBOOT = "rvkvm does not reboot: the run ends"


class TestFinisher(Device):
    name = "finisher"
    __test__ = False                  # not a pytest test class despite the name

    def __init__(self, events: Events, base: int = FINISHER_BASE, size: int = FINISHER_SIZE):
        super().__init__(base, size)
        self._events = events

    def write(self, offset: int, size: int, value: int) -> None:
        if offset != 0 or size < 2:
            return
        command = value & 0xFFFF
        if command == FINISHER_PASS:
            self._events.request_exit(0, "poweroff")
        elif command == FINISHER_FAIL:
            # a failure must never look like a pass: code 0 becomes 1
            self._events.request_exit((value >> 16) & 0xFFFF or 1, "fail")
        elif command == FINISHER_RESET:
            self._events.request_exit(RESET_STATUS, f"reset through the test finisher ({NO_REBOOT})")

    def fdt_node(self, tree) -> None:
        test = tree.phandle(tree.TEST)
        tree.add_node(f"{tree.SOC}/test@{self.base:x}", {
            "phandle": test,
            "compatible": ["sifive,test1", "sifive,test0", "syscon"],
            "reg": tree.reg(self.base, self.size),
        })
        # QEMU puts these two at the root; Linux's syscon drivers find them there.
        tree.add_node("/poweroff", {
            "compatible": "syscon-poweroff",
            "regmap": test,
            "offset": 0,
            "value": FINISHER_PASS,
        })
        tree.add_node("/reboot", {
            "compatible": "syscon-reboot",
            "regmap": test,
            "offset": 0,
            "value": FINISHER_RESET,
        })
