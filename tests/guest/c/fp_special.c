/* NaNs, infinities and signed zeros: canonical NaN results, NaN payloads through
 * moves and sign operations, fmin/fmax with NaN and -0/+0, comparisons, classification,
 * float<->double conversions of specials, and NaN-boxing of singles. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t dbits(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static uint32_t fbits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static double dfrom(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }
static float ffrom(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static const char *cls(double x) {
    switch (fpclassify(x)) {
    case FP_NAN: return "nan";
    case FP_INFINITE: return "inf";
    case FP_ZERO: return "zero";
    case FP_SUBNORMAL: return "subnormal";
    default: return "normal";
    }
}

static unsigned long fclass_d(double x) {
    unsigned long r;
    __asm__("fclass.d %0, %1" : "=r"(r) : "f"(x));
    return r;
}

int main(void) {
    volatile double vals[8];
    vals[0] = dfrom(0x7ff8000000000000ull);      /* canonical qNaN */
    vals[1] = dfrom(0xfff8000000000123ull);      /* negative qNaN with payload */
    vals[2] = dfrom(0x7ff0000000000001ull);      /* sNaN */
    vals[3] = INFINITY;
    vals[4] = -0.0;
    vals[5] = 0.0;
    vals[6] = 4.9406564584124654e-324;
    vals[7] = -1.5;
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 8; j++) {
            double a = vals[i], b = vals[j];
            printf("%d%d add=%016llx mul=%016llx min=%016llx max=%016llx lt=%d le=%d eq=%d un=%d\n",
                   i, j, (unsigned long long)dbits(a + b), (unsigned long long)dbits(a * b),
                   (unsigned long long)dbits(fmin(a, b)), (unsigned long long)dbits(fmax(a, b)),
                   a < b, a <= b, a == b, isunordered(a, b));
        }
        double a = vals[i];
        float f = (float)a;
        printf("%d class=%s fclass=%#lx neg=%016llx abs=%016llx copysign=%016llx tofloat=%08x back=%016llx\n",
               i, cls(a), fclass_d(a), (unsigned long long)dbits(-a),
               (unsigned long long)dbits(fabs(a)), (unsigned long long)dbits(copysign(2.0, a)),
               fbits(f), (unsigned long long)dbits((double)f));
    }
    volatile float fv[4];
    fv[0] = ffrom(0x7fa00000u);  /* float sNaN */
    fv[1] = ffrom(0xffc00001u);
    fv[2] = -INFINITY;
    fv[3] = 1e-45f;
    for (int i = 0; i < 4; i++) {
        float a = fv[i];
        printf("f%d add=%08x min=%08x sqrt=%08x todouble=%016llx isnan=%d isinf=%d\n", i,
               fbits(a + 1.0f), fbits(fminf(a, 2.0f)), fbits(sqrtf(a)),
               (unsigned long long)dbits((double)a), isnan(a) != 0, isinf(a) != 0);
    }
    /* A double pattern used as a single: not NaN-boxed, so it reads as the canonical NaN. */
    uint64_t unboxed = 0x000000003f800000ull, boxed = 0xffffffff3f800000ull, out;
    __asm__("fmv.d.x ft0, %1\n\tfadd.s ft1, ft0, ft0\n\tfmv.x.d %0, ft1" : "=r"(out) : "r"(unboxed) : "ft0", "ft1");
    printf("unboxed fadd.s -> %016llx\n", (unsigned long long)out);
    __asm__("fmv.d.x ft0, %1\n\tfadd.s ft1, ft0, ft0\n\tfmv.x.d %0, ft1" : "=r"(out) : "r"(boxed) : "ft0", "ft1");
    printf("boxed fadd.s -> %016llx\n", (unsigned long long)out);
    __asm__("fmv.d.x ft0, %1\n\tfmv.x.w %0, ft0" : "=r"(out) : "r"(0x12345678f0000000ull) : "ft0");
    printf("fmv.x.w -> %016llx\n", (unsigned long long)out);
    __asm__("fmv.d.x ft0, %1\n\tfsgnjn.s ft1, ft0, ft0\n\tfmv.x.d %0, ft1" : "=r"(out) : "r"(unboxed) : "ft0", "ft1");
    printf("unboxed fneg.s -> %016llx\n", (unsigned long long)out);
    __asm__("fmv.d.x ft0, %1\n\tfclass.s %0, ft0" : "=r"(out) : "r"(unboxed) : "ft0");
    printf("unboxed fclass.s -> %#llx\n", (unsigned long long)out);
    __asm__("fmv.d.x ft0, %1\n\tfcvt.d.s ft1, ft0\n\tfmv.x.d %0, ft1" : "=r"(out) : "r"(unboxed) : "ft0", "ft1");
    printf("unboxed fcvt.d.s -> %016llx\n", (unsigned long long)out);
    printf("nan() %016llx nanf() %08x inf-inf %016llx\n", (unsigned long long)dbits(nan("")),
           fbits(nanf("")), (unsigned long long)dbits(vals[3] - vals[3]));
    return 0;
}
