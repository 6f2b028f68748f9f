"""A VM: its host-physical memory, memory slots, G-stage and dirty logs (KVM's `struct kvm`).

Where guest memory lives. The hart's walker reads G-stage PTEs (and, through them,
the guest's own VS-stage tables) only from the hart's one `Ram`. So a VM's "host
physical" space is one Ram (at HOST_BASE, deliberately far from any guest address
so that a GPA used as an HPA fails loudly), split in two:
- the G-stage table pool at its start, which no slot can map: whatever the guest
  writes to its page tables or CSRs, its accesses go through tables that only map
  slot memory, so it cannot reach the tables or anything else of the host;
- `HostMemory` blocks after it (`vm.allocate_memory`), KVM's userspace memory:
  slots map GPA ranges onto them; the VMM reads and writes them directly.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc

from ..errors import RvkvmError
from ..memory.ram import Ram
from .gstage import GPA_BITS, GStage, PoolExhausted, level_size

HOST_BASE = 0x10_0000_0000          # host physical RAM of a VM (64 GiB: no guest uses it)
IO_WINDOW_BASE = 0x20_0000_0000     # host physical pages of in-hypervisor devices ...
IO_WINDOW_SIZE = 64 << 20           # ... (register_mmio_device), at 128 GiB
PAGE = 0x1000
SUPERPAGE = 2 << 20
MEM_LOG_DIRTY_PAGES = 1 << 0        # KVM_MEM_LOG_DIRTY_PAGES
MEM_READONLY = 1 << 1               # KVM_MEM_READONLY
KNOWN_FLAGS = MEM_LOG_DIRTY_PAGES | MEM_READONLY


class VmError(RvkvmError):
    """A bad request to the VM API (overlapping slots, memory that does not fit)."""


def _device_callbacks(dev, limit: int):
    """Engine MMIO callbacks for an in-hypervisor device; they count accesses in
    dev.mmio_reads/mmio_writes (the VMM's --stats), as the native bus does."""
    dev.mmio_reads = dev.mmio_writes = 0

    def read_cb(uc, offset, size, _user):
        dev.mmio_reads += 1
        return dev.read(offset, size) if offset + size <= limit else 0

    def write_cb(uc, offset, size, value, _user):
        dev.mmio_writes += 1
        if offset + size <= limit:
            dev.write(offset, size, value & ((1 << (8 * size)) - 1))

    return read_cb, write_cb


def _pool_size(host_bytes: int) -> int:
    """Tables for 4 KiB pages over all of memory (dirty logging), plus root and spares."""
    leaf_tables = host_bytes // SUPERPAGE + 1
    upper = host_bytes // (1 << 30) + 2
    return ((16 << 10) + PAGE * (leaf_tables + upper + 16) + SUPERPAGE - 1) & ~(SUPERPAGE - 1)


@dataclass(frozen=True)
class HostMemory:
    """A block of the VM's host RAM (KVM: the VMM's mmap)."""
    ram: Ram
    hpa: int
    size: int

    def write(self, offset: int, data: bytes) -> None:
        if not 0 <= offset <= self.size - len(data):
            raise VmError(f"write of {len(data)} bytes at offset {offset:#x} outside "
                          f"this {self.size:#x}-byte memory")
        self.ram.write(self.hpa + offset, data)

    def read(self, offset: int, length: int) -> bytes:
        if not 0 <= offset <= self.size - length:
            raise VmError(f"read of {length} bytes at offset {offset:#x} outside "
                          f"this {self.size:#x}-byte memory")
        return self.ram.read(self.hpa + offset, length)


@dataclass
class MemorySlot:
    slot: int
    guest_phys_addr: int
    memory_size: int
    memory: HostMemory
    flags: int
    dirty: bytearray | None = None      # one byte per page: which the guest wrote

    @property
    def end(self) -> int:
        return self.guest_phys_addr + self.memory_size

    def hpa(self, gpa: int) -> int:
        return self.memory.hpa + (gpa - self.guest_phys_addr)


class GuestPhysView:
    """Guest-physical addresses of one slot as a Ram-like object, for the loaders
    (kernel, initrd, device tree go into guest memory by GPA)."""

    def __init__(self, slot: MemorySlot):
        self._slot = slot
        self.base, self.size, self.end = slot.guest_phys_addr, slot.memory_size, slot.end
        self._ram = slot.memory.ram

    def contains(self, pa: int, length: int = 1) -> bool:
        return self.base <= pa and pa + length <= self.end

    def write(self, pa: int, data: bytes, what: str = "data") -> None:
        from ..errors import LoadError
        if not self.contains(pa, len(data)):
            raise LoadError(f"{what} at {pa:#x}-{pa + len(data):#x} does not fit in guest RAM "
                            f"{self.base:#x}-{self.end:#x} (use -m to enlarge RAM)")
        self._ram.write(self._slot.hpa(pa), data, what)

    def read(self, pa: int, length: int) -> bytes:
        if not self.contains(pa, length):
            raise IndexError(f"read {pa:#x}+{length} outside guest RAM")
        return self._ram.read(self._slot.hpa(pa), length)


class VM:
    """One virtual machine. `host_memory`: bytes of host RAM for guest memory
    (allocate_memory carves it); the G-stage pool comes on top."""

    def __init__(self, host_memory: int = 256 << 20):
        if host_memory <= 0 or host_memory % SUPERPAGE:
            raise VmError(f"host memory must be a positive multiple of 2 MiB, got {host_memory:#x}")
        pool = _pool_size(host_memory)
        self.ram = Ram(HOST_BASE, pool + host_memory)
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        self.uc.mem_map_ptr(self.ram.base, self.ram.size, UC_PROT_ALL, self.ram.host_addr)
        self.gstage = GStage(self.ram, HOST_BASE, pool)
        self._alloc_next = HOST_BASE + pool
        self._slots: dict[int, MemorySlot] = {}
        self._sorted: list[MemorySlot] = []          # by guest_phys_addr
        self._starts: list[int] = []
        self.vcpus = []
        self.stats = {"gstage_faults": 0, "dirty_faults": 0}
        self._io_regions: list[tuple[int, int, int]] = []   # (gpa, size, hpa)
        self._io_next = IO_WINDOW_BASE

    # ------------------------------------------------------------------ memory
    def allocate_memory(self, size: int) -> HostMemory:
        """A 2 MiB-aligned block of host RAM (so slots on it can use superpages)."""
        if size <= 0 or size % PAGE:
            raise VmError(f"memory size must be a positive multiple of 4 KiB, got {size:#x}")
        hpa = self._alloc_next
        if hpa + size > self.ram.end:
            raise VmError(f"out of host memory: {size:#x} bytes asked, "
                          f"{self.ram.end - hpa:#x} left (make the VM bigger)")
        self._alloc_next = (hpa + size + SUPERPAGE - 1) & ~(SUPERPAGE - 1)
        return HostMemory(self.ram, hpa, size)

    def set_user_memory_region(self, slot: int, guest_phys_addr: int, memory_size: int,
                               memory: HostMemory | None = None, flags: int = 0) -> None:
        """Create, move, change or (memory_size 0) delete a slot, as
        KVM_SET_USER_MEMORY_REGION."""
        if slot < 0:
            raise VmError(f"slot {slot}: slot numbers are 0 or more")
        if memory_size == 0:
            if slot not in self._slots:
                raise VmError(f"slot {slot}: no such slot to delete")
            self._remove(slot)
            self._mappings_changed()
            return
        if flags & ~KNOWN_FLAGS:
            raise VmError(f"slot {slot}: unknown flags {flags & ~KNOWN_FLAGS:#x}")
        if guest_phys_addr % PAGE or memory_size % PAGE or memory_size < 0:
            raise VmError(f"slot {slot}: address and size must be multiples of 4 KiB")
        if guest_phys_addr + memory_size > 1 << GPA_BITS:
            raise VmError(f"slot {slot}: {guest_phys_addr:#x}+{memory_size:#x} is beyond the "
                          f"{GPA_BITS}-bit guest physical space (Sv39x4)")
        if memory is None or memory.ram is not self.ram:
            raise VmError(f"slot {slot}: memory must come from this VM's allocate_memory()")
        if memory_size > memory.size:
            raise VmError(f"slot {slot}: {memory_size:#x} bytes asked of a "
                          f"{memory.size:#x}-byte memory")
        for other in self._sorted:
            if other.slot != slot and guest_phys_addr < other.end and other.guest_phys_addr < guest_phys_addr + memory_size:
                raise VmError(f"slot {slot} [{guest_phys_addr:#x}-{guest_phys_addr + memory_size:#x}) "
                              f"overlaps slot {other.slot} [{other.guest_phys_addr:#x}-{other.end:#x})")
        if slot in self._slots:
            self._remove(slot)
        new = MemorySlot(slot, guest_phys_addr, memory_size, memory, flags)
        if flags & MEM_LOG_DIRTY_PAGES:
            new.dirty = bytearray(memory_size // PAGE)
        self._slots[slot] = new
        i = bisect_right(self._starts, guest_phys_addr)
        self._starts.insert(i, guest_phys_addr)
        self._sorted.insert(i, new)
        self._mappings_changed()

    def _remove(self, slot: int) -> None:
        old = self._slots.pop(slot)
        i = self._sorted.index(old)
        del self._sorted[i], self._starts[i]

    def slots(self) -> tuple[MemorySlot, ...]:
        return tuple(self._sorted)

    def find_slot(self, gpa: int) -> MemorySlot | None:
        i = bisect_right(self._starts, gpa) - 1
        if i >= 0:
            s = self._sorted[i]
            if gpa < s.end:
                return s
        return None

    def get_dirty_log(self, slot: int) -> list[int]:
        """Page indexes (within the slot) the guest wrote since the last call; the
        log is cleared and those pages write-protected again (KVM_GET_DIRTY_LOG)."""
        s = self._slots.get(slot)
        if s is None:
            raise VmError(f"slot {slot}: no such slot")
        if s.dirty is None:
            raise VmError(f"slot {slot}: dirty logging is off (flag MEM_LOG_DIRTY_PAGES)")
        pages = [i for i, d in enumerate(s.dirty) if d]
        for i in pages:
            s.dirty[i] = 0
            self.gstage.set_writable(s.guest_phys_addr + i * PAGE, False)
        if pages:
            self._flush_vcpus(gstage=False)
        return pages

    def guest_phys_view(self, slot: int) -> GuestPhysView:
        return GuestPhysView(self._slots[slot])

    def read_guest(self, gpa: int, length: int) -> bytes | None:
        """Guest-physical bytes from one slot, or None if not all slot memory."""
        s = self.find_slot(gpa)
        if s is None or gpa + length > s.end:
            return None
        return self.ram.read(s.hpa(gpa), length)

    def write_guest(self, gpa: int, data: bytes) -> bool:
        s = self.find_slot(gpa)
        if s is None or gpa + len(data) > s.end or s.flags & MEM_READONLY:
            return False
        self.ram.write(s.hpa(gpa), data)
        self._mark_dirty(s, gpa, len(data))
        return True

    # ------------------------------------------------------------------ in-hypervisor devices
    def register_mmio_device(self, gpa: int, size: int, device) -> None:
        """Serve guest accesses to [gpa, gpa + size) with `device` (read(offset, size),
        write(offset, size, value)) without any exit, as KVM's in-kernel devices on its
        io bus: the G-stage maps those pages to engine MMIO pages in the IO window, so
        the engine calls the device in the middle of the guest instruction. The device
        must not touch the engine (raise interrupts through Vcpu.set_guest_interrupt_async)."""
        if gpa % PAGE or size <= 0:
            raise VmError(f"MMIO device at {gpa:#x}: must start on a 4 KiB page")
        pages = (size + PAGE - 1) & ~(PAGE - 1)
        for g, sz, _ in self._io_regions:
            if gpa < g + sz and g < gpa + pages:
                raise VmError(f"MMIO device at {gpa:#x} overlaps another at {g:#x}")
        if self.find_slot(gpa) or self.find_slot(gpa + pages - 1):
            raise VmError(f"MMIO device at {gpa:#x} overlaps a memory slot")
        if self._io_next + pages > IO_WINDOW_BASE + IO_WINDOW_SIZE:
            raise VmError("the VM's IO window is full")
        hpa, self._io_next = self._io_next, self._io_next + pages
        read_cb, write_cb = _device_callbacks(device, size)
        self.uc.mmio_map(hpa, pages, read_cb, None, write_cb, None)
        self._io_regions.append((gpa, pages, hpa))

    def _io_region(self, gpa: int):
        for g, size, hpa in self._io_regions:
            if g <= gpa < g + size:
                return hpa + (gpa & ~(PAGE - 1)) - g
        return None

    # ------------------------------------------------------------------ G-stage faults
    def map_fault(self, gpa: int, store: bool) -> str:
        """Serve a guest-page fault at gpa: "mapped" (resume), or "mmio" (no slot, or a
        store to a READONLY slot: the access goes to the VMM)."""
        s = self.find_slot(gpa)
        if s is None and self._io_regions:
            hpa = self._io_region(gpa)
            if hpa is not None:
                self.gstage.map(gpa & ~(PAGE - 1), hpa, 0, True)
                return "mapped"
        if s is None or (store and s.flags & MEM_READONLY):
            return "mmio"
        self.stats["gstage_faults"] += 1
        try:
            self._map(s, gpa, store)
        except PoolExhausted:
            self.gstage.zap_all()
            self._flush_vcpus(gstage=True)
            self._map(s, gpa, store)
        return "mapped"

    def _map(self, s: MemorySlot, gpa: int, store: bool) -> None:
        writable = not s.flags & MEM_READONLY
        if s.dirty is not None:
            # dirty logging: 4 KiB pages, writable only once written (and then logged)
            page = gpa & ~(PAGE - 1)
            if store:
                s.dirty[(page - s.guest_phys_addr) // PAGE] = 1
                self.stats["dirty_faults"] += 1
            if self.gstage.lookup(page) is not None:
                self.gstage.set_writable(page, store)
                self._flush_vcpus(gstage=False)    # the engine may hold a read-only entry
            else:
                self.gstage.map(page, s.hpa(page), 0, store)
            return
        for level in (2, 1, 0):
            size = level_size(level)
            base = gpa & ~(size - 1)
            if base >= s.guest_phys_addr and base + size <= s.end and s.hpa(base) % size == 0:
                self.gstage.map(base, s.hpa(base), level, writable)
                return

    def _mark_dirty(self, s: MemorySlot, gpa: int, length: int) -> None:
        if s.dirty is not None and length:
            first = (gpa - s.guest_phys_addr) // PAGE
            last = (gpa + length - 1 - s.guest_phys_addr) // PAGE
            for i in range(first, last + 1):
                s.dirty[i] = 1

    def _mappings_changed(self) -> None:
        """A slot came, went, moved or changed flags: drop every mapping (the guest
        refaults what it uses), as KVM flushes a slot's G-stage range."""
        self.gstage.zap_all()
        self._flush_vcpus(gstage=True)

    def _flush_vcpus(self, gstage: bool) -> None:
        for vcpu in self.vcpus:
            vcpu.flush_translations(gstage)

    # ------------------------------------------------------------------ vcpus
    def create_vcpu(self, vcpu_id: int = 0, **options):
        """A vcpu of this VM (one: the engine runs one hart per VM here)."""
        from .vcpu import Vcpu
        if self.vcpus:
            raise VmError("this VM already has its vcpu (one vcpu per VM for now)")
        if vcpu_id != 0:
            raise VmError(f"vcpu id {vcpu_id}: the only vcpu is id 0")
        vcpu = Vcpu(self, vcpu_id, **options)
        self.vcpus.append(vcpu)
        return vcpu
