/* Rounding modes: every fesetround mode applied to +, -, *, /, sqrt, float and double,
 * conversions between them and from integers, rint/nearbyint/lrint. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static unsigned long long dbits(double x) { unsigned long long u; memcpy(&u, &x, 8); return u; }
static unsigned fbits(float x) { unsigned u; memcpy(&u, &x, 4); return u; }

static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
static const char *names[] = {"nearest", "towardzero", "downward", "upward"};

int main(void) {
    volatile double da[] = {1.0, -1.0, 0.1, -0.1, 1e308, -1e-310, 3.0, 2.5, DBL_MAX, 7.0};
    volatile double db[] = {3.0, 3.0, 0.2, 7.0, 10.0, 3.0, 1e-300, -0.5, DBL_MAX, 1e-17};
    volatile float fa[] = {1.0f, -1.0f, 0.1f, 16777216.0f, 3e38f, 1e-38f, 2.5f, FLT_MAX};
    volatile float fb[] = {3.0f, 3.0f, 0.2f, 1.0f, 10.0f, 3.0f, -0.5f, FLT_MAX};
    volatile long long ints[] = {9007199254740993LL, -9007199254740993LL, 16777217LL,
                                 0x7fffffffffffffffLL, -0x7fffffffffffffffLL - 1, 123456789LL};
    volatile double halves[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999999999999996, 1e16 + 1};
    for (int m = 0; m < 4; m++) {
        if (fesetround(modes[m]) != 0) {
            printf("fesetround failed\n");
            return 1;
        }
        printf("== %s (fegetround ok=%d)\n", names[m], fegetround() == modes[m]);
        for (unsigned i = 0; i < sizeof da / sizeof da[0]; i++) {
            volatile double s = da[i] + db[i], d = da[i] - db[i], p = da[i] * db[i], q = da[i] / db[i];
            volatile double r = sqrt(fabs(da[i]));
            printf("d %016llx %016llx %016llx %016llx %016llx\n", dbits(s), dbits(d), dbits(p),
                   dbits(q), dbits(r));
        }
        for (unsigned i = 0; i < sizeof fa / sizeof fa[0]; i++) {
            volatile float s = fa[i] + fb[i], d = fa[i] - fb[i], p = fa[i] * fb[i], q = fa[i] / fb[i];
            volatile float r = sqrtf(fabsf(fa[i]));
            volatile float n = (float)da[i];
            printf("f %08x %08x %08x %08x %08x narrow %08x\n", fbits(s), fbits(d), fbits(p),
                   fbits(q), fbits(r), fbits(n));
        }
        for (unsigned i = 0; i < sizeof ints / sizeof ints[0]; i++) {
            volatile double cd = (double)ints[i];
            volatile float cf = (float)ints[i];
            volatile float cu = (float)(unsigned long long)ints[i];
            volatile float cw = (float)(int)ints[i];
            printf("i2f %016llx %08x %08x %08x\n", dbits(cd), fbits(cf), fbits(cu), fbits(cw));
        }
        for (unsigned i = 0; i < sizeof halves / sizeof halves[0]; i++) {
            printf("round %.17g rint=%.17g nearbyint=%.17g lrint=%ld llrint=%lld rintf=%.9g\n",
                   halves[i], rint(halves[i]), nearbyint(halves[i]), lrint(halves[i]),
                   llrint(halves[i]), (double)rintf((float)halves[i]));
        }
        printf("printf %.3f %.0f %.20f\n", 2.0 / 3.0, 2.5, 0.1);
    }
    fesetround(FE_TONEAREST);
    return 0;
}
