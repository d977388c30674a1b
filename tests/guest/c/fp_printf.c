/* FP formatting: printf/strtod round trips of floats and doubles in every conversion
 * (%f %e %g %a, precision and width), special values, subnormals and extremes. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long dbits(double x) { unsigned long long u; memcpy(&u, &x, 8); return u; }
static unsigned fbits(float x) { unsigned u; memcpy(&u, &x, 4); return u; }

int main(void) {
    volatile double d[] = {0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3.0, 2.0 / 3.0, 123456789.125,
                           1e-300, 1e300, DBL_MIN, DBL_MAX, DBL_TRUE_MIN, DBL_EPSILON,
                           5e-324, 2.2250738585072009e-308, 9007199254740993.0,
                           0.5, 2.5, -2.5, 1e23, 4.35, 1e-7, 299792458.0};
    volatile float f[] = {0.0f, -0.0f, 1.0f, 0.1f, 1.0f / 3.0f, FLT_MIN, FLT_MAX,
                          FLT_TRUE_MIN, FLT_EPSILON, 16777217.0f, 3.14159265f, -2.71828f,
                          1e-38f, 1e38f, 0.3f};
    for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++) {
        double x = d[i];
        printf("d%-2u %016llx | %f | %.17e | %g | %.3g | %a | %24.10f | %-12.4e|\n", i, dbits(x),
               x, x, x, x, x, x, x);
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", x);
        double back = strtod(buf, NULL);
        printf("    roundtrip %s %s\n", buf, dbits(back) == dbits(x) ? "exact" : "MISMATCH");
    }
    for (unsigned i = 0; i < sizeof f / sizeof f[0]; i++) {
        float x = f[i];
        printf("f%-2u %08x | %f | %.9e | %g | %a\n", i, fbits(x), x, x, x, x);
        char buf[64];
        snprintf(buf, sizeof buf, "%.9g", x);
        float back = strtof(buf, NULL);
        printf("    roundtrip %s %s\n", buf, fbits(back) == fbits(x) ? "exact" : "MISMATCH");
    }
    volatile double zero = 0.0, one = 1.0;
    double inf = one / zero, nan = zero / zero;
    printf("inf %f %e %g %a %F\n", inf, -inf, inf, -inf, inf);
    printf("nan %f %e %g %F sign=%d\n", nan, nan, nan, nan, signbit(nan) != 0);
    /* Accumulated sums: each step is one rounding of fadd. */
    double acc = 0.0;
    float facc = 0.0f;
    for (int i = 1; i <= 1000; i++) {
        acc += 1.0 / i;
        facc += 1.0f / (float)i;
    }
    printf("harmonic(1000) %.17g %.9g %a %a\n", acc, facc, acc, facc);
    printf("strtod %a %a %a %a\n", strtod("0x1.fffffffffffffp-1022", NULL),
           strtod("2.4703282292062328e-324", NULL), strtod("1e-400", NULL),
           strtod("1.7976931348623159e308", NULL));
    return 0;
}
