"""Fast register access: direct ctypes calls into libunicorn.

The binding's `reg_read` costs 1.3-1.8 us; a direct `uc_reg_read` about 0.85 us, and
`uc_reg_read_batch` reads many registers for little more than one. Trap handlers
live on these calls, so they matter.

Unicorn obeys the current privilege for CSR access: from S or U an M CSR reads
garbage and writes are dropped. `RegisterFile.csr_*` switch PRIV to M around it.
"""
from __future__ import annotations

import ctypes

from unicorn import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH, UC_CTL_TLB_TYPE
from unicorn import riscv_const as rc
from unicorn.unicorn_py3.unicorn import uclib

from .native import load_extension, struct_layout

M64 = (1 << 64) - 1
PC = rc.UC_RISCV_REG_PC
PRIV = rc.UC_RISCV_REG_PRIV
X0 = rc.UC_RISCV_REG_X0
A0 = rc.UC_RISCV_REG_A0

uclib.uc_reg_read_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                    ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
uclib.uc_reg_write_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                     ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
BATCH_MAX = 16
# uc_ctl codes (unicorn.h UC_CTL_WRITE(type, nargs)): the binding's ctl() costs ~5 us a call
# in argument checks, and every V transition makes three
_CTL_TLB_FLUSH = (UC_CTL_IO_WRITE << 30) | UC_CTL_TLB_FLUSH
_CTL_TLB_TYPE = (UC_CTL_IO_WRITE << 30) | (1 << 26) | UC_CTL_TLB_TYPE


class RegAccess(ctypes.Structure):
    """struct reg_access in _regs.c."""
    _fields_ = [("uc", ctypes.c_void_p), ("reg_read", ctypes.c_void_p),
                ("reg_write", ctypes.c_void_p), ("priv_reg", ctypes.c_int64)]


def _load_native():
    """The built _regs library with its prototypes, or None (then Python does it)."""
    lib = load_extension("_regs", "rvkvm_reg_access_layout", struct_layout(RegAccess))
    if lib is None:
        return None
    lib.rvkvm_csr_read.restype = ctypes.c_uint64
    lib.rvkvm_csr_read.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rvkvm_csr_write.restype = None
    lib.rvkvm_csr_write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
    lib.rvkvm_csr_read_many.restype = None
    lib.rvkvm_csr_read_many.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                        ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]
    return lib


_NATIVE = _load_native()



class RegisterFile:
    def __init__(self, uc):
        self._h = uc._uch
        self._v = ctypes.c_uint64()
        self._vref = ctypes.byref(self._v)
        self._rr = uclib.uc_reg_read
        self._rw = uclib.uc_reg_write
        # a0..a7 as one batch (SBI calls read all of them)
        self._args = (ctypes.c_uint64 * 8)()
        self._args_ids = (ctypes.c_int * 8)(*[A0 + i for i in range(8)])
        self._args_ptrs = (ctypes.c_void_p * 8)(
            *[ctypes.addressof(self._args) + 8 * i for i in range(8)])
        self._pp = (ctypes.c_uint64 * 2)()
        self._pp_ids = (ctypes.c_int * 2)(PC, PRIV)
        self._pp_ptrs = (ctypes.c_void_p * 2)(ctypes.addressof(self._pp), ctypes.addressof(self._pp) + 8)
        self._all = (ctypes.c_uint64 * 32)()
        self._all_ids = (ctypes.c_int * 32)(*[X0 + i for i in range(32)])
        self._all_ptrs = (ctypes.c_void_p * 32)(
            *[ctypes.addressof(self._all) + 8 * i for i in range(32)])

        self._rids = (ctypes.c_int * BATCH_MAX)()
        self._rvals = (ctypes.c_uint64 * BATCH_MAX)()
        self._rptrs = (ctypes.c_void_p * BATCH_MAX)(
            *[ctypes.addressof(self._rvals) + 8 * i for i in range(BATCH_MAX)])
        if _NATIVE is not None:
            self._use_native_csr_access(uc)
        self._wids = (ctypes.c_int * BATCH_MAX)()
        self._wvals = (ctypes.c_uint64 * BATCH_MAX)()
        self._wptrs = (ctypes.c_void_p * BATCH_MAX)(
            *[ctypes.addressof(self._wvals) + 8 * i for i in range(BATCH_MAX)])

    def _use_native_csr_access(self, uc) -> None:
        """csr_read/csr_write/csr_read_batch as one foreign call each (_regs.c)."""
        acc = self._access = RegAccess(
            self._h.value, ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value,
            ctypes.cast(uclib.uc_reg_write, ctypes.c_void_p).value, PRIV)
        ref = ctypes.addressof(acc)
        read, write, many = _NATIVE.rvkvm_csr_read, _NATIVE.rvkvm_csr_write, _NATIVE.rvkvm_csr_read_many
        self.csr_read = lambda reg: read(ref, reg)
        self.csr_write = lambda reg, value: write(ref, reg, value & M64)
        ids, vals = self._rids, self._rvals

        def csr_read_batch(regs):
            n = len(regs)
            for i, reg in enumerate(regs):
                ids[i] = reg
            many(ref, ids, vals, n)
            return list(vals[:n])
        self.csr_read_batch = csr_read_batch

    def write_batch(self, pairs) -> None:
        """Write (register, value) pairs in order, in one call. Include (PRIV, 3) first
        to reach M CSRs and (PRIV, p) after them to drop back: Unicorn applies them in
        order."""
        n = 0
        for reg, value in pairs:
            self._wids[n] = reg
            self._wvals[n] = value & M64
            n += 1
        uclib.uc_reg_write_batch(self._h, self._wids, self._wptrs, n)

    def read_pc_priv(self) -> tuple[int, int]:
        """pc and PRIV in one call."""
        uclib.uc_reg_read_batch(self._h, self._pp_ids, self._pp_ptrs, 2)
        return self._pp[0], self._pp[1]

    def read(self, reg: int) -> int:
        self._rr(self._h, reg, self._vref)
        return self._v.value

    def write(self, reg: int, value: int) -> None:
        self._v.value = value & M64
        self._rw(self._h, reg, self._vref)

    def read_x(self, n: int) -> int:
        if n == 0:
            return 0
        self._rr(self._h, X0 + n, self._vref)
        return self._v.value

    def write_x(self, n: int, value: int) -> None:
        if n:
            self._v.value = value & M64
            self._rw(self._h, X0 + n, self._vref)

    def read_args(self) -> tuple[int, ...]:
        """a0..a7 in one call."""
        uclib.uc_reg_read_batch(self._h, self._args_ids, self._args_ptrs, 8)
        return tuple(self._args)

    def flush_tlb(self) -> None:
        """UC_CTL_TLB_FLUSH: the whole engine TLB."""
        uclib.uc_ctl(self._h, _CTL_TLB_FLUSH)

    def set_tlb_mode(self, mode: int) -> None:
        """UC_CTL_TLB_TYPE: UC_TLB_CPU or UC_TLB_VIRTUAL (does not flush)."""
        uclib.uc_ctl(self._h, _CTL_TLB_TYPE, ctypes.c_uint(mode))

    def read_batch(self, regs) -> list[int]:
        """Several registers in one engine call (at the current PRIV)."""
        n = len(regs)
        for i, reg in enumerate(regs):
            self._rids[i] = reg
        uclib.uc_reg_read_batch(self._h, self._rids, self._rptrs, n)
        return list(self._rvals[:n])

    def csr_read_batch(self, regs) -> list[int]:
        """Several CSRs Unicorn holds, at any privilege: three engine calls."""
        self._rr(self._h, PRIV, self._vref)
        p = self._v.value
        if p != 3:
            self._v.value = 3
            self._rw(self._h, PRIV, self._vref)
        values = self.read_batch(regs)
        if p != 3:
            self._v.value = p
            self._rw(self._h, PRIV, self._vref)
        return values

    def read_gprs(self) -> list[int]:
        uclib.uc_reg_read_batch(self._h, self._all_ids, self._all_ptrs, 32)
        return [0] + list(self._all)[1:]

    # CSRs held by Unicorn, at any privilege
    def csr_read(self, reg: int) -> int:
        self._rr(self._h, PRIV, self._vref)
        p = self._v.value
        if p != 3:
            self._v.value = 3
            self._rw(self._h, PRIV, self._vref)
        self._rr(self._h, reg, self._vref)
        v = self._v.value
        if p != 3:
            self._v.value = p
            self._rw(self._h, PRIV, self._vref)
        return v

    def csr_write(self, reg: int, value: int) -> None:
        self._rr(self._h, PRIV, self._vref)
        p = self._v.value
        if p != 3:
            self._v.value = 3
            self._rw(self._h, PRIV, self._vref)
        self._v.value = value & M64
        self._rw(self._h, reg, self._vref)
        if p != 3:
            self._v.value = p
            self._rw(self._h, PRIV, self._vref)
