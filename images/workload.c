/*
 * workload: a fixed CPU workload for comparing wall time with QEMU: sorting
 * (heapsort of pseudo-random words), table-driven CRC-32 and an integer
 * matrix multiply, repeated ROUNDS times and folded into one checksum that
 * must equal EXPECTED_CHECKSUM.
 *
 * The code is plain C99 with fixed-width arithmetic, so the checksum does
 * not depend on the machine: build it natively with
 *     cc -O2 -DHOST_CHECK -o /tmp/workload workload.c && /tmp/workload
 * to recompute EXPECTED_CHECKSUM after a change.
 */
#ifdef HOST_CHECK
#include <stdint.h>
#include <stdio.h>
#else
#include "rvtest.h"
#endif

#define ROUNDS          128
#define SORT_WORDS      16384
#define CRC_BYTES       65536
#define CRC_PASSES      8
#define MAT_N           64
#define EXPECTED_CHECKSUM 0x800042edu

static uint32_t rng_state;

static uint32_t rng_next(void)          /* xorshift32 */
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static uint32_t sort_buf[SORT_WORDS];

static void sift_down(uint32_t *a, uint32_t start, uint32_t end)
{
    uint32_t root = start;
    while (2 * root + 1 <= end) {
        uint32_t child = 2 * root + 1;
        uint32_t swap = root;
        if (a[swap] < a[child])
            swap = child;
        if (child + 1 <= end && a[swap] < a[child + 1])
            swap = child + 1;
        if (swap == root)
            return;
        uint32_t t = a[root];
        a[root] = a[swap];
        a[swap] = t;
        root = swap;
    }
}

static void heapsort_words(uint32_t *a, uint32_t n)
{
    for (uint32_t start = (n - 2) / 2 + 1; start-- > 0;)
        sift_down(a, start, n - 1);
    for (uint32_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end - 1);
    }
}

/* sort fresh random words; fail (0) if the result is not ordered */
static uint32_t sort_phase(void)
{
    for (uint32_t i = 0; i < SORT_WORDS; i++)
        sort_buf[i] = rng_next();
    heapsort_words(sort_buf, SORT_WORDS);
    uint32_t h = 0;
    for (uint32_t i = 0; i < SORT_WORDS; i++) {
        if (i > 0 && sort_buf[i - 1] > sort_buf[i])
            return 0;
        h = h * 31 + sort_buf[i];
    }
    return h;
}

static uint32_t crc_table[256];
static uint8_t crc_buf[CRC_BYTES];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, uint32_t n, uint32_t crc)
{
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t crc_phase(void)
{
    for (uint32_t i = 0; i < CRC_BYTES; i++)
        crc_buf[i] = (uint8_t)rng_next();
    uint32_t crc = 0;
    for (int pass = 0; pass < CRC_PASSES; pass++)
        crc = crc32(crc_buf, CRC_BYTES, crc);
    return crc;
}

static uint32_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];

static uint32_t matrix_phase(void)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            mat_a[i][j] = rng_next() & 0xffff;
            mat_b[i][j] = rng_next() & 0xffff;
        }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            uint32_t s = 0;
            for (int k = 0; k < MAT_N; k++)
                s += mat_a[i][k] * mat_b[k][j];
            mat_c[i][j] = s;
        }
    uint32_t h = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            h = (h ^ mat_c[i][j]) * 0x01000193u;
    return h;
}

static uint32_t workload_checksum(void)
{
    uint32_t sum = 0;
    rng_state = 0x12345678u;
    crc_init();
    for (int r = 0; r < ROUNDS; r++) {
        uint32_t s = sort_phase();
        if (s == 0)
            return 0;
        sum = (sum << 5 | sum >> 27) ^ s;
        sum = (sum << 5 | sum >> 27) ^ crc_phase();
        sum = (sum << 5 | sum >> 27) ^ matrix_phase();
    }
    return sum;
}

#ifdef HOST_CHECK
int main(void)
{
    printf("0x%08x\n", workload_checksum());
    return 0;
}
#else
const char test_name[] = "workload";

int test_main(void)
{
    uint32_t sum = workload_checksum();
    rt_puts("workload: checksum ");
    rt_puthex(sum);
    rt_puts("\n");
    if (sum != EXPECTED_CHECKSUM)
        rt_fail(10, sum, EXPECTED_CHECKSUM);
    return 0;
}
#endif
