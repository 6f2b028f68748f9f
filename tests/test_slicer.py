"""Time slicing must never disturb the guest: a re-executed load, store or AMO at a
slice boundary (what an asynchronous emu_stop does on Unicorn 2.1.4) shows up here
as a wrong counter, a wrong sum or a pointer chase that is off by a step."""
import gc
import itertools
import os
import struct
import threading
import time

import pytest
from unicorn import (
    UC_ARCH_RISCV,
    UC_HOOK_CODE,
    UC_HOOK_INTR,
    UC_MODE_RISCV64,
    UC_PROT_ALL,
    UC_PROT_READ,
    UC_PROT_WRITE,
    Uc,
)
from unicorn.riscv_const import (
    UC_RISCV_REG_A1,
    UC_RISCV_REG_A2,
    UC_RISCV_REG_A5,
    UC_RISCV_REG_A6,
    UC_RISCV_REG_PC,
    UC_RISCV_REG_S0,
    UC_RISCV_REG_S1,
    UC_RISCV_REG_T1,
)

from rvkvm.cpu import exit_switch as exit_switch_mod
from rvkvm.cpu import slicer as slicer_mod
from rvkvm.cpu.slicer import (
    ExitSlicer,
    NativeSlicer,
    PythonSlicer,
    exit_switch,
    exit_switch_available,
    make_slicer,
    native_available,
)
from rvkvm.errors import RvkvmError

CODE = 0x8000_0000
DATA = 0x8001_0000
COUNTER = DATA
RING = DATA + 0x1000
RING_LEN = 7
NODE_STRIDE = 0x1000 + 24           # nodes on different pages, not page-aligned


# --- a minimal RV64 encoder (checked against riscv64-unknown-elf-as below)
def r_type(f7, rs2, rs1, f3, rd, op):
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def i_type(imm, rs1, f3, rd, op):
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def s_type(imm, rs2, rs1, f3, op):
    imm &= 0xFFF
    return ((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1F) << 7) | op


def b_type(imm, rs2, rs1, f3, op):
    imm &= 0x1FFF
    return (((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3F) << 25) | (rs2 << 20) | (rs1 << 15) \
        | (f3 << 12) | (((imm >> 1) & 0xF) << 8) | (((imm >> 11) & 1) << 7) | op


T1, T2, S0, S1, A1, A2, A4, A5, A6 = 6, 7, 8, 9, 11, 12, 14, 15, 16
LOOP = [
    r_type(0b0000000, T1, A1, 3, A4, 0x2F),     # amoadd.d a4, t1, (a1)   counter++, a4 = old
    r_type(0, A4, A6, 0, A6, 0x33),             # add a6, a6, a4          sum of old values
    i_type(0, A2, 3, A2, 0x03),                 # ld a2, 0(a2)            chase the ring
    r_type(0, A2, A5, 0, A5, 0x33),             # add a5, a5, a2          sum of chased pointers
    i_type(8, A2, 3, T2, 0x03),                 # ld t2, 8(a2)
    i_type(1, T2, 0, T2, 0x13),                 # addi t2, t2, 1
    s_type(8, T2, A2, 3, 0x23),                 # sd t2, 8(a2)            per-node visit count
    i_type(1, S0, 0, S0, 0x13),                 # addi s0, s0, 1
    b_type(-32, S1, S0, 1, 0x63),               # bne s0, s1, loop
    0x10500073,                                 # wfi: ends emu_start with pc after it
]
DONE_PC = CODE + 4 * len(LOOP)
ADDI_S0_PC = CODE + 4 * 7
# The same loop with a trap first in every iteration, an ecall whose interrupt hook
# writes pc back as rvkvm's trap handlers do (Unicorn then flags its next stop to keep
# pc as it is: see "the exit switch" in slicer.py), and split in two blocks by a jump,
# so that a stale pc (the one the hook wrote) would re-run the AMO.
ECALL, J_NEXT = 0x00000073, 0x0040006F          # ecall; j .+4 (objdump: 00000073, 0040006f)
TRAPPING_LOOP = [ECALL] + LOOP[:2] + [J_NEXT] + LOOP[2:8] + [b_type(-40, S1, S0, 1, 0x63), LOOP[9]]
TRAPPING_DONE_PC = CODE + 4 * len(TRAPPING_LOOP)


def test_encoder_matches_the_assembler():
    # words from riscv64-unknown-elf-objdump of the same source
    assert LOOP == [0x0065B72F, 0x00E80833, 0x00063603, 0x00C787B3, 0x00863383,
                    0x00138393, 0x00763423, 0x00140413, 0xFE9410E3, 0x10500073]


def test_the_exit_switch_probe_is_the_program_it_says():
    A0 = 10
    assert exit_switch_mod._PROBE_WORDS == (
        ECALL, i_type(1, S0, 0, S0, 0x13), s_type(0, S0, A0, 3, 0x23), J_NEXT,
        i_type(1, T1, 0, T1, 0x13), b_type(-16, S1, S0, 1, 0x63), LOOP[9])


def node(i):
    return RING + (i % RING_LEN) * NODE_STRIDE


def make_guest(iterations, program=LOOP):
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map(CODE, 0x1_0000, UC_PROT_ALL)
    uc.mem_map(DATA, 0x1_0000, UC_PROT_READ | UC_PROT_WRITE)
    uc.mem_write(CODE, b"".join(struct.pack("<I", w) for w in program))
    if program is TRAPPING_LOOP:
        def resume_after_ecall(uc_, intno, _):
            uc_.reg_write(UC_RISCV_REG_PC, uc_.reg_read(UC_RISCV_REG_PC))
        uc.hook_add(UC_HOOK_INTR, resume_after_ecall)
    for i in range(RING_LEN):
        uc.mem_write(node(i), struct.pack("<QQ", node(i + 1), 0))
    for reg, value in ((UC_RISCV_REG_A1, COUNTER), (UC_RISCV_REG_T1, 1), (UC_RISCV_REG_A2, node(0)),
                       (UC_RISCV_REG_S0, 0), (UC_RISCV_REG_S1, iterations)):
        uc.reg_write(reg, value)
    return uc


def u64(uc, addr):
    return struct.unpack("<Q", uc.mem_read(addr, 8))[0]


def assert_exact_final_state(uc, n, done_pc=DONE_PC):
    assert uc.reg_read(UC_RISCV_REG_PC) == done_pc
    assert uc.reg_read(UC_RISCV_REG_S0) == n
    assert u64(uc, COUNTER) == n
    assert uc.reg_read(UC_RISCV_REG_A6) == n * (n - 1) // 2
    assert uc.reg_read(UC_RISCV_REG_A2) == node(n)
    # step k (1..n) lands on node k % RING_LEN
    visits = [n // RING_LEN + (1 if 0 < i <= n % RING_LEN else 0) for i in range(RING_LEN)]
    assert uc.reg_read(UC_RISCV_REG_A5) == sum(v * node(i) for i, v in enumerate(visits))
    for i in range(RING_LEN):
        assert u64(uc, node(i) + 8) == visits[i], f"node {i}"


def run_to_wfi(slicer, uc, done_pc=DONE_PC):
    results = []
    pc = CODE
    while True:
        results.append(slicer.run(pc))
        pc = uc.reg_read(UC_RISCV_REG_PC)
        if pc == done_pc:
            return results


# Both native slicers; the exit switch only where its self-check passed.
NATIVE_SLICERS = [
    pytest.param(ExitSlicer, id="native-exit", marks=pytest.mark.skipif(
        not exit_switch_available(), reason=f"exit switch unavailable: {exit_switch()[1]}")),
    pytest.param(NativeSlicer, id="native-block", marks=pytest.mark.skipif(
        not native_available(), reason="the block hook is not built (pip install -e .)")),
]


def ticker_threads() -> int:
    # count only tickers: other tests' threads may end while this one runs
    return sum(t.name == "rvkvm-slice-ticker" and t.is_alive() for t in threading.enumerate())


def test_native_slicer_is_built():
    assert native_available(), "run `pip install -e .` (or setup.py build_ext --inplace) first"


def test_the_exit_switch_is_proven_on_the_pinned_unicorn(monkeypatch):
    # unicorn==2.1.4 is pinned: its self-check must pass, or rvkvm silently runs at
    # the block hook's speed. Elsewhere the reason says what did not match. The proof
    # itself, not exit_switch(): that may answer from the cache.
    offset, why = exit_switch_mod._prove_exit_switch()
    assert offset is not None, why
    monkeypatch.delenv("RVKVM_SLICER", raising=False)
    with make_slicer(make_guest(1)) as slicer:
        assert slicer.kind == "native-exit"


def test_the_exit_switch_moves_a_mid_block_stop_to_the_next_block():
    # What the self-check relies on, shown directly. The probe traps once, then loops
    # over two blocks; a store hook in block A stops the run on the 3rd iteration.
    flags, why = exit_switch()
    if flags is None:
        pytest.skip(why)
    probe = exit_switch_mod._probe
    code = exit_switch_mod._PROBE_CODE
    # Stock Unicorn: pc goes back onto the store, which has already run.
    assert probe(flags, switch=False, clear_skip_sync=True) == (code + 8, 3, 2)
    # Switch on, but the trap's pc write left the skip-sync flag set: pc is stale,
    # the start of block A, whose addi has already run (so would the store, again).
    assert probe(flags, switch=False, clear_skip_sync=False)[0] != code + 16
    assert probe(flags, switch=True, clear_skip_sync=False) == (code + 4, 3, 2)
    # Both: the rest of block A runs once, pc is block B's start.
    assert probe(flags, switch=True, clear_skip_sync=True) == (code + 16, 3, 2)


@pytest.mark.parametrize("slicer_class", NATIVE_SLICERS)
def test_native_slicers_stay_exact_when_a_trap_hook_writes_pc_in_every_slice(slicer_class):
    # What a machine does: every slice runs trap hooks that write pc. A stop after
    # such a write must still resume where the guest was.
    n = 200_000                    # ~0.5 s: one Python hook call per iteration
    uc = make_guest(n, TRAPPING_LOOP)
    with slicer_class(uc, slice_seconds=0.0002) as slicer:
        results = run_to_wfi(slicer, uc, TRAPPING_DONE_PC)
        assert len(results) > 1000, "too few slices to test anything: raise n"
        assert all(results[:-1])
    assert_exact_final_state(uc, n, TRAPPING_DONE_PC)


def test_an_unrecognized_library_leaves_the_switch_alone(monkeypatch):
    monkeypatch.setattr(exit_switch_mod, "_exported_code", lambda name, size=32: b"\x90" * size)
    offset, why = exit_switch_mod._prove_exit_switch()
    assert offset is None and "expected code" in why


def test_a_failed_self_check_falls_back_to_the_block_hook(monkeypatch):
    monkeypatch.delenv("RVKVM_SLICER", raising=False)
    monkeypatch.setattr(exit_switch_mod, "_exit_switch", (None, "pretend the layout did not match"))
    uc = make_guest(1)
    with pytest.raises(RvkvmError, match="pretend the layout"):
        ExitSlicer(uc)
    with make_slicer(uc) as slicer:
        assert slicer.kind == "native-block"
    monkeypatch.setattr(slicer_mod, "native_library", lambda: None)
    assert make_slicer(uc).kind == "python"


@pytest.mark.parametrize("slicer_class", NATIVE_SLICERS)
def test_native_slicers_keep_the_guest_exact_across_thousands_of_slices(slicer_class):
    n = 15_000_000                 # ~0.6 s of guest time
    uc = make_guest(n)
    with slicer_class(uc, slice_seconds=0.0002) as slicer:
        results = run_to_wfi(slicer, uc)
        assert len(results) > 1000, "too few slices to test anything: raise n"
        # every slice but the last ended by a tick; the last one by WFI (the exit
        # slicer reports a tick that races with the WFI as a tick)
        assert all(results[:-1])
        assert results[-1] is False or slicer_class is ExitSlicer
        assert slicer.stops == sum(results)
    assert_exact_final_state(uc, n)


TICKERS = [
    pytest.param(lambda period, fire: slicer_mod._Ticker(period, fire), id="event"),
    pytest.param(lambda period, fire: slicer_mod._TimerfdTicker(period, fire, slicer_mod._timerfd),
                 id="timerfd", marks=pytest.mark.skipif(
                     slicer_mod._timerfd is None, reason="no timerfd (not 64-bit Linux)")),
]


@pytest.mark.parametrize("make_ticker", TICKERS)
def test_the_ticker_fires_again_while_a_slice_goes_on(make_ticker):
    # A stop the engine drops (one racing with the start of emu_start) is made up for
    # a period later; nothing fires between slices.
    fired = []
    ticker = make_ticker(0.01, lambda: fired.append(time.monotonic()))
    try:
        ticker.slice_begins()
        began = time.monotonic()
        time.sleep(0.1)
        ticker.slice_ends()
        time.sleep(0.03)               # a fire decided just before slice_ends may land now
        during = len(fired)
        assert during >= 3
        assert fired[0] - began >= 0.01 * 0.9
        assert all(b - a >= 0.01 * 0.9 for a, b in itertools.pairwise(fired))
        time.sleep(0.05)
        assert len(fired) == during
    finally:
        ticker.close()


@pytest.mark.parametrize("make_ticker", TICKERS)
def test_the_ticker_fires_for_each_long_slice_and_never_for_short_ones(make_ticker):
    fired = []
    ticker = make_ticker(0.5, lambda: fired.append(time.monotonic()))
    try:
        for _ in range(20):                    # short slices, each well within its period
            ticker.slice_begins()
            ticker.slice_ends()
            time.sleep(0.002)
        time.sleep(0.6)                        # a period after the last one
        assert fired == []
    finally:
        ticker.close()
    ticker = make_ticker(0.02, lambda: fired.append(time.monotonic()))
    try:
        for _ in range(2):                     # long ones: one fire each, a period in
            ticker.slice_begins()
            began = time.monotonic()
            while (not fired or fired[-1] < began) and time.monotonic() < began + 10:
                time.sleep(0.001)
            ticker.slice_ends()
            assert fired and fired[-1] - began >= 0.02 * 0.9
        time.sleep(0.05)
        assert len(fired) == 2
    finally:
        ticker.close()
    assert not ticker._thread.is_alive()


def test_slicers_use_the_timerfd_ticker_on_linux():
    if slicer_mod._timerfd is None:
        pytest.skip("no timerfd (not 64-bit Linux)")
    with ExitSlicer(make_guest(1)) if exit_switch_available() else NativeSlicer(make_guest(1)) as s:
        assert isinstance(s._ticker, slicer_mod._TimerfdTicker)


def test_python_slicer_keeps_the_guest_exact_across_thousands_of_slices():
    n = 200_000
    uc = make_guest(n)
    slicer = PythonSlicer(uc, instructions_per_slice=701)     # prime: slices end anywhere in the loop
    results = run_to_wfi(slicer, uc)
    assert len(results) >= n * len(LOOP[:-1]) // 701
    assert not any(results)            # nothing requested a stop
    assert_exact_final_state(uc, n)


def test_python_slicer_counts_even_after_a_run_without_count():
    # Unicorn 2.1.4 ignores count in blocks translated by a run without count
    # unless the translation cache is flushed; PythonSlicer flushes it.
    uc = make_guest(50)
    uc.emu_start(CODE, 0)                          # translate the loop without a counter
    uc.reg_write(UC_RISCV_REG_S0, 0)
    uc.reg_write(UC_RISCV_REG_S1, 100_000)
    slicer = PythonSlicer(uc, instructions_per_slice=900)
    slicer.run(CODE)
    iterations = uc.reg_read(UC_RISCV_REG_S0)
    assert 900 // 9 - 1 <= iterations <= 900 // 9 + 1


def test_python_slicer_request_stop():
    uc = make_guest(1_000_000)
    slicer = PythonSlicer(uc, instructions_per_slice=9 * 1000)
    slicer.request_stop()                          # pending before the slice: no instruction runs
    assert slicer.run(CODE) is True
    assert uc.reg_read(UC_RISCV_REG_S0) == 0 and slicer.stops == 1

    def on_addi(uc_, address, size, _):
        if uc_.reg_read(UC_RISCV_REG_S0) == 10:
            slicer.request_stop()
    uc.hook_add(UC_HOOK_CODE, on_addi, begin=ADDI_S0_PC, end=ADDI_S0_PC)
    assert slicer.run(CODE) is True                # requested inside a callback: the count still runs out
    assert uc.reg_read(UC_RISCV_REG_S0) == 1000
    assert slicer.run(uc.reg_read(UC_RISCV_REG_PC)) is False
    assert slicer.stops == 2


@pytest.mark.parametrize("slicer_class", NATIVE_SLICERS)
def test_native_request_stop_from_a_callback_ends_at_the_next_block(slicer_class):
    uc = make_guest(1_000_000)
    with slicer_class(uc, slice_seconds=60) as slicer:    # no tick during the test
        def on_addi(uc_, address, size, _):
            if uc_.reg_read(UC_RISCV_REG_S0) == 10:
                slicer.request_stop()
        uc.hook_add(UC_HOOK_CODE, on_addi, begin=ADDI_S0_PC, end=ADDI_S0_PC)
        assert slicer.run(CODE) is True
        # the loop body is one block: the stop lands at its next start
        assert uc.reg_read(UC_RISCV_REG_S0) == 11
        assert uc.reg_read(UC_RISCV_REG_PC) == CODE
        assert u64(uc, COUNTER) == 11
        assert slicer.stops == 1


@pytest.mark.parametrize("slicer_class", NATIVE_SLICERS)
def test_two_engines_slice_independently(slicer_class):
    n = 50_000
    uc_a, uc_b = make_guest(n), make_guest(n)
    with slicer_class(uc_a, slice_seconds=60) as a, slicer_class(uc_b, slice_seconds=60) as b:
        a.request_stop()
        assert b.run(CODE) is False                # b runs to its WFI, untouched by a's request
        assert b.stops == 0
        assert_exact_final_state(uc_b, n)
        assert a.run(CODE) is True                 # a's pending request stops it before any instruction
        assert a.stops == 1 and uc_a.reg_read(UC_RISCV_REG_S0) == 0
        assert a.run(CODE) is False
        assert_exact_final_state(uc_a, n)


@pytest.mark.parametrize("slicer_class", NATIVE_SLICERS)
def test_close_stops_the_ticker_and_a_later_run_starts_one(slicer_class):
    n = 15_000_000
    uc = make_guest(n)
    before = ticker_threads()
    slicer = slicer_class(uc, slice_seconds=0.0002)
    assert ticker_threads() == before + 1
    slicer.close()
    slicer.close()                                 # idempotent
    assert ticker_threads() == before
    results = run_to_wfi(slicer, uc)               # the machine may run again after close
    assert len(results) > 100 and all(results[:-1])
    slicer.close()
    assert ticker_threads() == before
    assert_exact_final_state(uc, n)


@pytest.mark.parametrize("slicer_class", NATIVE_SLICERS)
def test_forgotten_slicers_do_not_leak_ticker_threads(slicer_class):
    gc.collect()
    before = ticker_threads()
    for _ in range(20):
        slicer_class(make_guest(1), slice_seconds=60)
    gc.collect()
    deadline = time.monotonic() + 2
    while ticker_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)                           # a closed ticker exits on its own thread
    assert ticker_threads() <= before


def test_environment_forces_the_slicer(monkeypatch):
    uc = make_guest(1)
    monkeypatch.setenv("RVKVM_SLICER", "python")
    assert make_slicer(uc).kind == "python"
    for forced in ("native-block", "native-exit"):
        monkeypatch.setenv("RVKVM_SLICER", forced)
        with make_slicer(uc, prefer_native=False) as s:
            assert s.kind == forced
    monkeypatch.setenv("RVKVM_SLICER", "native")      # the best native one
    with make_slicer(uc, prefer_native=False) as s:
        assert s.kind == ("native-exit" if exit_switch_available() else "native-block")
    monkeypatch.setenv("RVKVM_SLICER", "fast")
    with pytest.raises(RvkvmError):
        make_slicer(uc)
    monkeypatch.delenv("RVKVM_SLICER")
    assert make_slicer(uc, prefer_native=False).kind == "python"


def test_without_the_extension_the_block_hook_cannot_be_made(monkeypatch):
    monkeypatch.delenv("RVKVM_SLICER", raising=False)
    monkeypatch.setattr(slicer_mod, "native_library", lambda: None)
    uc = make_guest(1)
    with pytest.raises(RvkvmError):
        NativeSlicer(uc)
    # the exit switch needs no compiler
    expected = "native-exit" if exit_switch_available() else "python"
    with make_slicer(uc) as slicer:
        assert slicer.kind == expected


def test_the_guest_detects_an_asynchronous_stop():
    # The control experiment: the unsafe way (another thread calls uc.emu_stop())
    # must break the exact checks above, or they prove nothing about the slicers.
    # If this fails on a newer Unicorn, the engine bug may be fixed.
    n = 15_000_000
    uc = make_guest(n)
    running = threading.Event()
    done = threading.Event()

    def ticker():
        while not done.wait(0.0002):
            if running.is_set():
                uc.emu_stop()
    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        pc = CODE
        while pc != DONE_PC:
            running.set()
            uc.emu_start(pc, 0)
            running.clear()
            pc = uc.reg_read(UC_RISCV_REG_PC)
    finally:
        done.set()
        thread.join()
    with pytest.raises(AssertionError):
        assert_exact_final_state(uc, n)


# ----------------------------------------------------------------------------- the cache

@pytest.fixture
def fresh_exit_switch(monkeypatch, tmp_path):
    """exit_switch() as in a new process, with its cache in tmp_path; returns the
    list of proofs run (each a real _prove_exit_switch)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(exit_switch_mod, "_exit_switch", None)
    proofs = []
    real_prove = exit_switch_mod._prove_exit_switch

    def counted_prove():
        proofs.append(1)
        return real_prove()
    monkeypatch.setattr(exit_switch_mod, "_prove_exit_switch", counted_prove)
    if exit_switch_mod._locate_engine_flags()[0] is None:
        pytest.skip("no exit switch to cache on this Unicorn")
    return proofs


def new_process(monkeypatch):
    monkeypatch.setattr(exit_switch_mod, "_exit_switch", None)
    return exit_switch()


def test_a_passed_proof_is_remembered_across_processes(fresh_exit_switch, monkeypatch, tmp_path):
    first = new_process(monkeypatch)
    assert first[0] is not None and fresh_exit_switch == [1]
    assert exit_switch_mod.cache_path() == str(tmp_path / "rvkvm" / "exit_switch")
    second = new_process(monkeypatch)
    assert fresh_exit_switch == [1], "the second process proved again"
    assert (second[0].no_exit_request, second[0].skip_sync_pc) == (
        first[0].no_exit_request, first[0].skip_sync_pc)


def _edit_cache(edit):
    path = exit_switch_mod.cache_path()
    with open(path) as f:
        key, offsets = f.read().splitlines()
    with open(path, "w") as f:
        f.write("\n".join(edit(key, offsets)) + "\n")


@pytest.mark.parametrize("edit", [
    pytest.param(lambda key, offsets: (key.replace(repr(exit_switch_mod.__version__),
                                                   "'0.0.0.other'"), offsets),
                 id="another-rvkvm-version"),
    pytest.param(lambda key, offsets: (key.replace(str(os.stat(
        os.path.realpath(exit_switch_mod.uclib._name)).st_size), "1"), offsets),
                 id="another-library-size"),
    pytest.param(lambda key, offsets: (key, " ".join(str(int(o) + 8) for o in offsets.split())),
                 id="other-offsets"),
    pytest.param(lambda key, offsets: ("garbage",), id="garbage"),
])
def test_a_cache_that_does_not_match_exactly_is_proved_again(fresh_exit_switch, monkeypatch, edit):
    new_process(monkeypatch)
    _edit_cache(edit)
    flags, why = new_process(monkeypatch)
    assert flags is not None, why
    assert fresh_exit_switch == [1, 1]
    new_process(monkeypatch)                       # the new proof replaced the bad entry
    assert fresh_exit_switch == [1, 1]


def test_an_unwritable_cache_falls_back_to_the_proof_silently(fresh_exit_switch, monkeypatch,
                                                              tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_dir))
    for _ in range(2):
        flags, why = new_process(monkeypatch)
        assert flags is not None, why
    assert fresh_exit_switch == [1, 1]
    assert os.listdir(tmp_path) == ["file"]


def test_a_failed_proof_is_not_remembered(fresh_exit_switch, monkeypatch):
    monkeypatch.setattr(exit_switch_mod, "_probe", lambda *args: (0, 0, 0))   # a wrong stop
    flags, why = new_process(monkeypatch)
    assert flags is None and "self-check" in why
    assert not os.path.exists(exit_switch_mod.cache_path())
