"""The exit statuses of rvkvm, chosen so that a CI job can tell them apart.

A guest reports its own result through the test finisher, HTIF or SBI shutdown: 0 is a
pass and 1..119 are its failure codes as it gave them (a riscv-test's failing test number,
say). rvkvm's own outcomes live above that range, where no guest code lands: the
`timeout` command's 124 and 125, and 128 + the signal number as a shell shows it.
"""
from __future__ import annotations


class Outcome(int):
    """A status rvkvm decided itself, as opposed to a code the guest reported."""


PASS = 0
GUEST_MAX = 119                    # a guest code above this exits GUEST_MAX
RESET = Outcome(120)
DIED = Outcome(121)
PANIC = Outcome(122)
NO_MATCH = Outcome(123)
TIMEOUT = Outcome(124)
ERROR = Outcome(125)
SIGINT = Outcome(130)
SIGPIPE = Outcome(141)
SIGTERM = Outcome(143)

# (status, meaning) for --help and the README, in order
MEANINGS = (
    ("0", "the guest passed or powered off (or --expect matched, or Ctrl-A x)"),
    (f"1-{GUEST_MAX}", f"the guest's own failure code (finisher, HTIF, SBI); a code above "
                       f"{GUEST_MAX} exits {GUEST_MAX}"),
    (str(RESET), "the guest asked for a reset (rvkvm does not reboot)"),
    (str(DIED), "the guest died: a trap loop, a fetch from nowhere, a trap no one serves"),
    (str(PANIC), "a Linux kernel panic on the console"),
    (str(NO_MATCH), "the guest ended before the console matched --expect"),
    (str(TIMEOUT), "--timeout expired"),
    (str(ERROR), "rvkvm refused its input or could not run (one line on stderr)"),
    (f"{SIGINT}, {SIGTERM}", "ended by SIGINT, SIGTERM (141: stdout was a closed pipe)"),
)


def process_status(status: int) -> int:
    """The 8-bit process status for a run's status: rvkvm's outcomes as they are, a
    guest's code clamped into 1..GUEST_MAX (a failure never becomes 0 or an outcome)."""
    if isinstance(status, Outcome) or status == PASS:
        return int(status)
    return min(max(status, 1), GUEST_MAX)


def describe() -> str:
    """The table of MEANINGS as aligned text lines."""
    width = max(len(code) for code, _ in MEANINGS)
    return "\n".join(f"{code:>{width}}  {meaning}" for code, meaning in MEANINGS)
