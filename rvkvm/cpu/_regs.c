/* Native CSR access for the hart's trap handlers (rvkvm/cpu/regs.py).
 *
 * Unicorn obeys the current privilege for CSR access, so reading an M CSR (or one the
 * current mode may not see) means: read PRIV, set PRIV=M, access, restore PRIV. From
 * Python that is four foreign calls (~1 us each) on the hottest path there is (every
 * emulated H CSR access of a hypervisor makes several); here it is one. regs.py has
 * the same in Python as the fallback. Loaded with ctypes; PyInit__regs only makes it a
 * valid extension module.
 */
#include "_native.h"

typedef int (*uc_reg_fn)(void *uc, int regid, void *value);

/* Mirrored by RegAccess in regs.py. */
struct reg_access {
    void *uc;
    uc_reg_fn reg_read;
    uc_reg_fn reg_write;
    int64_t priv_reg;          /* UC_RISCV_REG_PRIV */
};

static uint64_t enter_m(const struct reg_access *a)
{
    uint64_t priv = 0, m = 3;
    a->reg_read(a->uc, (int)a->priv_reg, &priv);
    if (priv != 3)
        a->reg_write(a->uc, (int)a->priv_reg, &m);
    return priv;
}

static void leave_m(const struct reg_access *a, uint64_t priv)
{
    if (priv != 3)
        a->reg_write(a->uc, (int)a->priv_reg, &priv);
}

RVKVM_EXPORT uint64_t rvkvm_csr_read(const struct reg_access *a, int reg)
{
    uint64_t value = 0, priv = enter_m(a);
    a->reg_read(a->uc, reg, &value);
    leave_m(a, priv);
    return value;
}

RVKVM_EXPORT void rvkvm_csr_write(const struct reg_access *a, int reg, uint64_t value)
{
    uint64_t priv = enter_m(a);
    a->reg_write(a->uc, reg, &value);
    leave_m(a, priv);
}

RVKVM_EXPORT void rvkvm_csr_read_many(const struct reg_access *a, const int *regs,
                                      uint64_t *out, int n)
{
    uint64_t priv = enter_m(a);
    for (int i = 0; i < n; i++)
        a->reg_read(a->uc, regs[i], &out[i]);
    leave_m(a, priv);
}

#define FIELD(f) offsetof(struct reg_access, f)
RVKVM_LAYOUT_FUNCTION(rvkvm_reg_access_layout,
    sizeof(struct reg_access), FIELD(uc), FIELD(reg_read), FIELD(reg_write),
    FIELD(priv_reg))

RVKVM_MODULE(_regs, "Native CSR access for rvkvm's hart; used through ctypes.")
