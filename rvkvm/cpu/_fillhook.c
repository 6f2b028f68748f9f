/* Native translation walker and UC_HOOK_TLB_FILL callback for Unicorn 2.1.4 (RV64).
 *
 * The same walk as rvkvm/cpu/walk.py (the reference; read its docstring for the
 * rules and the choices made where the spec leaves room), in C because the engine
 * calls it for every TLB fill: ~0.1 us here against ~2 us for a Python callback.
 * tests/test_walk.py runs both on random tables and compares every result and the
 * memory after A/D updates.
 *
 * Under UC_TLB_VIRTUAL the engine asks rvkvm_tlb_fill() for every TLB miss. The hook
 * learns PRIV from the engine; at PRIV=S it reads satp and sstatus too and caches them,
 * at PRIV=U it uses that cache (the engine returns garbage for them at U, and U code
 * cannot change them; the host calls refresh after changing them itself). V, hgatp and
 * the HS-level MXR are not visible in the engine (no RVH): the host sets them here.
 * A refused fill records the fault and returns false: the engine then ends emu_start
 * with UC_ERR_EXCEPTION at the faulting instruction, and the hart delivers the trap.
 *
 * Loaded with ctypes (rvkvm/cpu/fillhook.py); PyInit__fillhook only makes it a valid
 * extension module so setuptools builds and installs it.
 */
#include "_native.h"
#include <stdbool.h>
#include <string.h>

enum { LOAD = 0, STORE = 1, FETCH = 2 };                      /* walk.py's access kinds */
enum { PROT_R = 1, PROT_W = 2, PROT_X = 4, PROT_RWX = 7 };    /* UC_PROT_* */
enum { UC_MEM_READ = 16, UC_MEM_WRITE = 17, UC_MEM_FETCH = 18 };

#define PTE_V 1ull
#define PTE_R 2ull
#define PTE_W 4ull
#define PTE_X 8ull
#define PTE_U 16ull
#define PTE_A 64ull
#define PTE_D 128ull
#define PTE_RESERVED (0x3ffull << 54)          /* N, PBMT, reserved: none implemented */
#define PPN_MASK ((1ull << 44) - 1)
#define STATUS_SUM (1ull << 18)
#define STATUS_MXR (1ull << 19)
#define G_ROOT_EXTRA_BITS 2
#define MAX_RANGES 16
#define GCACHE_BITS 12
#define GCACHE_SIZE (1u << GCACHE_BITS)
#define MAX_RESTARTS 64                         /* A/D races with another hart */

static const uint8_t needed[3] = {PROT_R, PROT_W, PROT_X};
static const uint8_t access_fault[3] = {5, 7, 1};
static const uint8_t page_fault[3] = {13, 15, 12};
static const uint8_t guest_page_fault[3] = {21, 23, 20};

typedef int (*uc_reg_read_fn)(void *uc, int regid, void *value);

/* The engine's uc_tlb_entry. */
struct uc_tlb_entry {
    uint64_t paddr;
    uint32_t perms;
};

/* walk.py's WalkConfig. All fields 64-bit: no padding to mirror. */
struct walk_cfg {
    uint64_t satp, hgatp, virt, priv, sum, mxr, hs_mxr, hlvx;
};

/* walk.py's Walk. */
struct walk_out {
    uint64_t ok, pa, perms, cause, gpa, implicit, implicit_write;
};

struct phys_range {
    uint64_t base, size;
};

/* Where the G-stage leaf for a GPA page was found: the walk down to it is cached,
 * the leaf itself is read again on every hit, so its permissions and A/D bits (and
 * their updates) are exactly those of a full walk. Only non-leaf changes need a flush,
 * and the guest hypervisor must HFENCE.GVMA after those anyway. */
struct gcache_entry {
    uint64_t tag;           /* gpn + 1; 0: empty */
    uint64_t hgatp;
    uint64_t *leaf;         /* host pointer of the leaf PTE */
    uint64_t level;
};

#define MAX_PROBES 8

/* Mirrored by FillState in fillhook.py; rvkvm_fill_layout lets Python check it. */
struct fill_state {
    /* set by the host */
    uint8_t *ram;                     /* host pointer of guest RAM: PTEs are read here */
    uint64_t ram_base, ram_size;
    uint64_t nranges;                 /* final physical pages must touch one of these */
    struct phys_range ranges[MAX_RANGES];
    uint64_t virt, hgatp, hs_mxr;
    uint64_t satp, status;            /* cached at S fills (status: sstatus, SUM/MXR) */
    uint64_t pin_satp;                /* nonzero: S fills keep satp above (TVM set) */
    uint64_t mprv;                    /* nonzero: fetches bare, data under mprv_cfg */
    struct walk_cfg mprv_cfg;
    uint64_t use_gcache;
    uc_reg_read_fn reg_read;
    uint64_t reg_priv, reg_satp, reg_sstatus;   /* UC_RISCV_REG_* ids */
    /* pages the engine probes to drop code translated at its exits (emu_start's stop
     * address, gdb's breakpoints: the byte before each); never a guest access */
    uint64_t nprobes;
    uint64_t probe_pages[MAX_PROBES];
    /* the last refused fill */
    uint64_t fault_pending, fault_cause, fault_va, fault_gpa, fault_implicit,
             fault_implicit_write, fault_access;
    /* counters */
    uint64_t fills, faults, gcache_hits, gcache_misses;
    struct gcache_entry gcache[GCACHE_SIZE];
};

/* What a walk step returns besides the cause. */
enum { WALK_OK = 0, WALK_RESTART = 1000 };

static inline uint64_t *ram_word(struct fill_state *s, uint64_t pa)
{
    uint64_t off = pa - s->ram_base;
    if (LIKELY(off < s->ram_size - 7))
        return (uint64_t *)(s->ram + off);
    return NULL;
}

static inline int levels_of(uint64_t mode)
{
    return mode == 8 ? 3 : mode == 9 ? 4 : mode == 10 ? 5 : 0;
}

static inline uint64_t fault_g(struct walk_out *out, int access, uint64_t gpa, int implicit,
                               int implicit_write)
{
    out->cause = guest_page_fault[access];
    out->gpa = gpa;
    out->implicit = implicit;
    out->implicit_write = implicit_write;
    return out->cause;
}

static inline uint64_t fault(struct walk_out *out, uint64_t cause)
{
    out->cause = cause;
    return cause;
}

/* Page-fault reasons common to both stages (walk.py _pte_problem): nonzero ends the walk. */
static inline int pte_problem(uint64_t pte, int level)
{
    if (pte & PTE_RESERVED || !(pte & PTE_V) || ((pte & PTE_W) && !(pte & PTE_R)))
        return 1;
    if (!(pte & (PTE_R | PTE_X)))
        return level == 0 || (pte & (PTE_A | PTE_D | PTE_U));
    return (((pte >> 10) & PPN_MASK) & ((1ull << (9 * level)) - 1)) != 0;
}

static inline uint64_t leaf_perms(uint64_t pte, int x_readable, int hlvx)
{
    int readable = hlvx ? (pte & PTE_X) != 0 : (pte & PTE_R) || (x_readable && (pte & PTE_X));
    return (readable ? PROT_R : 0) | (pte & PTE_W ? PROT_W : 0) | (pte & PTE_X ? PROT_X : 0);
}

static inline uint64_t leaf_address(uint64_t pte, int level, uint64_t addr)
{
    uint64_t span = (1ull << (12 + 9 * level)) - 1;
    return ((((pte >> 10) & PPN_MASK) << 12) & ~span) | (addr & span);
}

/* Set A (and D for a store) in *p, which held pte. 0, or WALK_RESTART when another
 * hart changed the PTE meanwhile (the walk must start again). */
static inline int set_ad(uint64_t *p, uint64_t *pte, int kind)
{
    uint64_t ad = PTE_A | (kind == STORE ? PTE_D : 0);
    uint64_t expected = *pte;
    if ((expected & ad) == ad)
        return 0;
    if (!__atomic_compare_exchange_n(p, &expected, expected | ad, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST))
        return WALK_RESTART;
    *pte = expected | ad;
    return 0;
}

/* G-stage (walk.py _g_stage): gpa -> *spa. kind: the access checked; access: the
 * original one (for the cause); implicit: -1 for the final GPA, else 0 read / 1 write. */
static uint64_t g_stage(struct fill_state *s, const struct walk_cfg *c, uint64_t gpa, int kind,
                        int access, int implicit, uint64_t *spa, uint64_t *perms, int *dirty,
                        struct walk_out *out)
{
    int levels = levels_of(c->hgatp >> 60);
    int is_implicit = implicit >= 0;
    int x_readable = c->hs_mxr && !is_implicit, hlvx = c->hlvx && !is_implicit;
    if ((c->hgatp >> 60) == 0) {
        *spa = gpa;
        *perms = PROT_RWX;
        *dirty = 1;
        return WALK_OK;
    }
    if (!levels || (gpa >> (12 + 9 * levels + G_ROOT_EXTRA_BITS)))
        return fault_g(out, access, gpa, is_implicit, implicit == 1);

    uint64_t gpn = gpa >> 12, pte = 0, *p = NULL;
    int level = -1;
    struct gcache_entry *e = NULL;
    if (s->use_gcache) {
        e = &s->gcache[gpn & (GCACHE_SIZE - 1)];
        if (e->tag == gpn + 1 && e->hgatp == c->hgatp) {
            p = e->leaf;
            level = (int)e->level;
            pte = __atomic_load_n(p, __ATOMIC_RELAXED);
            if (pte_problem(pte, level) || !(pte & (PTE_R | PTE_X)))
                level = -1;                     /* changed under us: walk it again */
        }
        if (level >= 0)
            s->gcache_hits++;
        else
            s->gcache_misses++;
    }
    if (level < 0) {
        uint64_t table = (c->hgatp & PPN_MASK & ~3ull) << 12;
        for (level = levels - 1; level >= 0; level--) {
            int bits = 9 + (level == levels - 1 ? G_ROOT_EXTRA_BITS : 0);
            p = ram_word(s, table + ((gpa >> (12 + 9 * level)) & ((1ull << bits) - 1)) * 8);
            if (!p)
                return fault(out, access_fault[access]);
            pte = __atomic_load_n(p, __ATOMIC_RELAXED);
            if (pte_problem(pte, level))
                return fault_g(out, access, gpa, is_implicit, implicit == 1);
            if (pte & (PTE_R | PTE_X))
                break;
            table = ((pte >> 10) & PPN_MASK) << 12;
        }
        if (e) {
            e->tag = gpn + 1;
            e->hgatp = c->hgatp;
            e->leaf = p;
            e->level = (uint64_t)level;
        }
    }
    uint64_t pr = leaf_perms(pte, x_readable, hlvx);
    if (!(pte & PTE_U) || !(pr & needed[kind]))
        return fault_g(out, access, gpa, is_implicit, implicit == 1);
    if (set_ad(p, &pte, kind))
        return WALK_RESTART;
    *spa = leaf_address(pte, level, gpa);
    *perms = pr;
    *dirty = (pte & PTE_D) != 0;
    return WALK_OK;
}

/* First stage (walk.py _first_stage): va -> *gpa, the VS-stage when virt. */
static uint64_t first_stage(struct fill_state *s, const struct walk_cfg *c, uint64_t va,
                            int access, uint64_t *gpa, uint64_t *perms, int *dirty,
                            struct walk_out *out)
{
    int levels = levels_of(c->satp >> 60);
    if (!levels)
        return fault(out, page_fault[access]);
    int va_bits = 12 + 9 * levels;
    int64_t top = (int64_t)va >> (va_bits - 1);
    if (top != 0 && top != -1)
        return fault(out, page_fault[access]);

    uint64_t table = (c->satp & PPN_MASK) << 12, pte = 0, pte_gpa = 0, *p = NULL;
    uint64_t r, spa, gperms;
    int level, gdirty;
    for (level = levels - 1; level >= 0; level--) {
        pte_gpa = table + ((va >> (12 + 9 * level)) & 0x1ff) * 8;
        spa = pte_gpa;
        if (c->virt && (r = g_stage(s, c, pte_gpa, LOAD, access, 0, &spa, &gperms, &gdirty, out)))
            return r;
        p = ram_word(s, spa);
        if (!p)
            return fault(out, access_fault[access]);
        pte = __atomic_load_n(p, __ATOMIC_RELAXED);
        if (pte_problem(pte, level))
            return fault(out, page_fault[access]);
        if (pte & (PTE_R | PTE_X))
            break;
        table = ((pte >> 10) & PPN_MASK) << 12;
    }
    uint64_t pr = leaf_perms(pte, c->mxr || (c->virt && c->hs_mxr), (int)c->hlvx);
    if (c->priv == 0) {
        if (!(pte & PTE_U))
            return fault(out, page_fault[access]);
    } else if (pte & PTE_U) {
        pr &= c->sum ? (PROT_R | PROT_W) : 0;           /* S never executes U pages */
    }
    if (!(pr & needed[access]))
        return fault(out, page_fault[access]);
    uint64_t ad = PTE_A | (access == STORE ? PTE_D : 0);
    if ((pte & ad) != ad) {
        /* the A/D write is an implicit store for the G-stage */
        if (c->virt && (r = g_stage(s, c, pte_gpa, STORE, access, 1, &spa, &gperms, &gdirty, out)))
            return r;
        if (set_ad(p, &pte, access))
            return WALK_RESTART;
    }
    *gpa = leaf_address(pte, level, va);
    *perms = pr;
    *dirty = (pte & PTE_D) != 0;
    return WALK_OK;
}

static uint64_t walk_once(struct fill_state *s, const struct walk_cfg *c, uint64_t va,
                          int access, struct walk_out *out)
{
    uint64_t gpa = va, vperms = PROT_RWX, pa, gperms = PROT_RWX, r;
    int vdirty = 1, gdirty = 1;
    if (c->priv != 3 && (c->satp >> 60) != 0 &&
        (r = first_stage(s, c, va, access, &gpa, &vperms, &vdirty, out)))
        return r;
    if (!c->virt)
        pa = gpa;
    else if ((r = g_stage(s, c, gpa, access, access, -1, &pa, &gperms, &gdirty, out)))
        return r;
    out->ok = 1;
    out->pa = pa;
    out->gpa = gpa;
    out->perms = vperms & gperms & ((vdirty && gdirty) ? PROT_RWX : (PROT_R | PROT_X));
    return WALK_OK;
}

static void walk(struct fill_state *s, const struct walk_cfg *c, uint64_t va, int access,
                 struct walk_out *out)
{
    for (int tries = 0;; tries++) {
        memset(out, 0, sizeof *out);
        uint64_t r = walk_once(s, c, va, access, out);
        if (LIKELY(r != WALK_RESTART))
            return;
        if (tries == MAX_RESTARTS) {            /* the guest retries the access */
            memset(out, 0, sizeof *out);
            out->cause = page_fault[access];
            return;
        }
    }
}

/* The pure walk, for tests and Python-side walks: virt, hgatp, hs_mxr come from s. */
RVKVM_EXPORT int rvkvm_walk(struct fill_state *s, uint64_t va, int access, int priv,
                            uint64_t satp, int sum, int mxr, int hlvx, struct walk_out *out)
{
    struct walk_cfg c = {satp, s->hgatp, s->virt != 0, (uint64_t)priv, sum != 0, mxr != 0,
                         s->hs_mxr != 0, hlvx != 0};
    if (access < LOAD || access > FETCH) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    walk(s, &c, va, access, out);
    return (int)out->ok;
}

static inline int phys_allowed(const struct fill_state *s, uint64_t pa)
{
    uint64_t page = pa & ~0xfffull;
    for (uint64_t i = 0; i < s->nranges; i++) {
        const struct phys_range *r = &s->ranges[i];
        if (page < r->base + r->size && r->base < page + 0x1000)
            return 1;
    }
    return 0;
}

static inline int is_probe(const struct fill_state *s, uint64_t vaddr)
{
    for (uint64_t i = 0; i < s->nprobes; i++)
        if ((vaddr & ~0xfffull) == s->probe_pages[i])
            return 1;
    return 0;
}

RVKVM_EXPORT bool rvkvm_tlb_fill(void *uc, uint64_t vaddr, int type, struct uc_tlb_entry *result,
                                 void *user_data)
{
    struct fill_state *s = (struct fill_state *)user_data;
    int access = type == UC_MEM_WRITE ? STORE : type == UC_MEM_FETCH ? FETCH : LOAD;
    struct walk_cfg c;
    struct walk_out out;
    s->fills++;
    if (UNLIKELY(s->mprv)) {
        if (access == FETCH)
            memset(&c, 0, sizeof c), c.priv = 3;        /* M-mode fetches are bare */
        else
            c = s->mprv_cfg;
    } else {
        uint64_t priv = 0;
        s->reg_read(uc, (int)s->reg_priv, &priv);
        priv &= 3;
        if (priv == 1) {          /* at U these read as garbage: keep them for U fills */
            if (!s->pin_satp)
                s->reg_read(uc, (int)s->reg_satp, &s->satp);
            s->reg_read(uc, (int)s->reg_sstatus, &s->status);
        }
        c.satp = s->satp;
        c.hgatp = s->hgatp;
        c.virt = s->virt;
        c.priv = priv <= 1 ? priv : 3;
        c.sum = (s->status & STATUS_SUM) != 0;
        c.mxr = (s->status & STATUS_MXR) != 0;
        c.hs_mxr = s->hs_mxr;
        c.hlvx = 0;
    }
    walk(s, &c, vaddr, access, &out);
    if (out.ok && UNLIKELY(!phys_allowed(s, out.pa))) {
        memset(&out, 0, sizeof out);
        out.cause = access_fault[access];
    }
    if (UNLIKELY(!out.ok) && is_probe(s, vaddr)) {
        /* the engine probes the byte before an exit (to drop code translated there): it
         * must translate, or the run ends; physical 0 holds nothing, so nothing is
         * dropped. Only a page that does not translate gets this answer. */
        result->paddr = 0;
        result->perms = PROT_X;
        return true;
    }
    if (UNLIKELY(!out.ok)) {
        s->faults++;
        /* the first refusal is the access that faulted: after a refused fetch the engine
         * also probes emu_start's stop address, which must not overwrite it */
        if (s->fault_pending)
            return false;
        s->fault_pending = 1;
        s->fault_cause = out.cause;
        s->fault_va = vaddr;
        s->fault_gpa = out.gpa;
        s->fault_implicit = out.implicit;
        s->fault_implicit_write = out.implicit_write;
        s->fault_access = access;
        return false;
    }
    result->paddr = out.pa & ~0xfffull;
    result->perms = (uint32_t)out.perms;
    return true;
}

RVKVM_EXPORT void rvkvm_fill_flush_gcache(struct fill_state *s)
{
    memset(s->gcache, 0, sizeof s->gcache);
}

/* Sizes of fill_state, walk_cfg, walk_out, gcache_entry, then the offset of every
 * fill_state field in declaration order: fillhook.py compares them with its Structures. */
#define FIELD(name) offsetof(struct fill_state, name)
RVKVM_LAYOUT_FUNCTION(rvkvm_fill_layout,
    sizeof(struct fill_state), sizeof(struct walk_cfg), sizeof(struct walk_out),
    sizeof(struct gcache_entry), FIELD(ram), FIELD(ram_base), FIELD(ram_size),
    FIELD(nranges), FIELD(ranges), FIELD(virt), FIELD(hgatp), FIELD(hs_mxr), FIELD(satp),
    FIELD(status), FIELD(pin_satp), FIELD(mprv), FIELD(mprv_cfg), FIELD(use_gcache),
    FIELD(reg_read), FIELD(reg_priv), FIELD(reg_satp), FIELD(reg_sstatus), FIELD(nprobes),
    FIELD(probe_pages), FIELD(fault_pending), FIELD(fault_cause), FIELD(fault_va),
    FIELD(fault_gpa), FIELD(fault_implicit), FIELD(fault_implicit_write),
    FIELD(fault_access), FIELD(fills), FIELD(faults), FIELD(gcache_hits),
    FIELD(gcache_misses), FIELD(gcache))

RVKVM_MODULE(_fillhook,
             "Native translation walker and TLB-fill hook for rvkvm; used through ctypes.")
