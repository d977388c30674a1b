/* Fused multiply-add (fma/fmaf, all four sign forms) in every rounding mode, where
 * fusing is visible; saturating float-to-integer conversions of every width around
 * their limits; lrint/llrint and integer-to-float rounding under each mode. */
#include <fenv.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t dbits(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static uint32_t fbits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }

static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};

int main(void) {
    volatile double a[] = {0.1, 1.0 + DBL_EPSILON, DBL_MAX, 1e-160, 3.0, -0.0, 1e308, 0.0};
    volatile double b[] = {10.0, 1.0 - DBL_EPSILON, 2.0, 1e-160, 1.0 / 3.0, 5.0, 10.0, INFINITY};
    volatile double c[] = {-1.0, -1.0, -DBL_MAX, 0.0, -1.0, 0.0, -INFINITY, NAN};
    volatile float fa[] = {0.1f, 1.0f + FLT_EPSILON, FLT_MAX, 1e-20f, 3.0f};
    volatile float fb[] = {10.0f, 1.0f - FLT_EPSILON, 2.0f, 1e-20f, 1.0f / 3.0f};
    volatile float fc[] = {-1.0f, -1.0f, -FLT_MAX, 0.0f, -1.0f};
    for (int m = 0; m < 4; m++) {
        fesetround(modes[m]);
        printf("== mode %d\n", m);
        for (unsigned i = 0; i < sizeof a / sizeof a[0]; i++) {
            feclearexcept(FE_ALL_EXCEPT);
            volatile double r1 = fma(a[i], b[i], c[i]), r2 = fma(-a[i], b[i], c[i]);
            volatile double r3 = fma(a[i], b[i], -c[i]), r4 = fma(-a[i], b[i], -c[i]);
            volatile double un = a[i] * b[i] + c[i];
            printf("fma %016llx %016llx %016llx %016llx unfused %016llx flags %02x\n",
                   (unsigned long long)dbits(r1), (unsigned long long)dbits(r2),
                   (unsigned long long)dbits(r3), (unsigned long long)dbits(r4),
                   (unsigned long long)dbits(un), fetestexcept(FE_ALL_EXCEPT));
        }
        for (unsigned i = 0; i < sizeof fa / sizeof fa[0]; i++) {
            feclearexcept(FE_ALL_EXCEPT);
            volatile float r1 = fmaf(fa[i], fb[i], fc[i]), r2 = fmaf(-fa[i], fb[i], -fc[i]);
            printf("fmaf %08x %08x flags %02x\n", fbits(r1), fbits(r2), fetestexcept(FE_ALL_EXCEPT));
        }
        volatile double lim[] = {2147483647.4, 2147483647.5, 2147483648.0, -2147483648.5,
                                 -2147483649.0, 4294967295.5, 4294967296.0, -0.5, -1.0,
                                 9223372036854774784.0, 9223372036854775808.0,
                                 -9223372036854775808.0, -9223372036854777856.0,
                                 18446744073709549568.0, 18446744073709551616.0, NAN, -INFINITY};
        for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
            double x = lim[i];
            feclearexcept(FE_ALL_EXCEPT);
            volatile int w = (int)x;
            volatile unsigned wu = (unsigned)x;
            volatile long l = (long)x;
            volatile unsigned long lu = (unsigned long)x;
            volatile long lr = lrint(x);
            volatile float xf = (float)x;
            volatile int wf = (int)xf;
            volatile unsigned long luf = (unsigned long)xf;
            printf("cvt %.17g: %d %u %ld %lu lrint=%ld f:%d %lu flags %02x\n", x, w, wu, l, lu, lr,
                   wf, luf, fetestexcept(FE_ALL_EXCEPT));
        }
        volatile uint64_t big[] = {UINT64_MAX, (1ull << 63) + 1025, (1ull << 53) + 1,
                                   (1ull << 24) + 1, 0x7fffffffffffffffull};
        for (unsigned i = 0; i < sizeof big / sizeof big[0]; i++) {
            feclearexcept(FE_ALL_EXCEPT);
            volatile double d = (double)big[i], sd = (double)(int64_t)big[i];
            volatile float f = (float)big[i], sf = (float)(int64_t)big[i];
            volatile float w = (float)(uint32_t)big[i];
            printf("i2f %016llx %016llx %08x %08x %08x flags %02x\n", (unsigned long long)dbits(d),
                   (unsigned long long)dbits(sd), fbits(f), fbits(sf), fbits(w),
                   fetestexcept(FE_ALL_EXCEPT));
        }
    }
    fesetround(FE_TONEAREST);
    return 0;
}
