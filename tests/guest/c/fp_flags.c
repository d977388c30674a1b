/* Exception flags: fetestexcept after single operations (float and double) that are
 * exact, inexact, overflow, underflow (tiny after rounding), divide by zero, invalid;
 * sticky accumulation; out-of-range float-to-integer conversions. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

static void show(const char *what) {
    int f = fetestexcept(FE_ALL_EXCEPT);
    printf("%-28s %s%s%s%s%s\n", what, f & FE_INVALID ? "NV " : "", f & FE_DIVBYZERO ? "DZ " : "",
           f & FE_OVERFLOW ? "OF " : "", f & FE_UNDERFLOW ? "UF " : "", f & FE_INEXACT ? "NX" : "");
    feclearexcept(FE_ALL_EXCEPT);
}

volatile double vd, d0 = 0.0, d1 = 1.0, d3 = 3.0, dmax = DBL_MAX, dmin = DBL_MIN, dneg = -4.0;
volatile double dnan = NAN, dhuge = 1e200, dtiny = 1e-200, dinf = INFINITY, dbig = 3e10, dm = -2.5;
volatile float vf, f0 = 0.0f, f1 = 1.0f, f3 = 3.0f, fmaxv = FLT_MAX, fminv = FLT_MIN;
volatile float fbig = 5e9f, fneg = -1.0f, fhalf = 0.5f;
volatile int vi;
volatile unsigned vu;
volatile long vl;
volatile unsigned long vul;

int main(void) {
    feclearexcept(FE_ALL_EXCEPT);
    show("start");
    vd = d1 + d3; show("1+3");
    vd = d1 / d3; show("1/3");
    vd = d1 / d0; show("1/0");
    vd = d0 / d0; show("0/0");
    vd = dinf - dinf; show("inf-inf");
    vd = dinf * d0; show("inf*0");
    vd = dmax * d3; show("max*3");
    vd = dmax + dmax; show("max+max");
    vd = dhuge * dhuge; show("1e200^2");
    vd = dtiny * dtiny; show("1e-200^2");
    vd = dmin / d3; show("DBL_MIN/3");
    vd = dmin * 0.5; show("DBL_MIN/2 (exact)");
    vd = dmin * (1.0 - DBL_EPSILON / 2); show("DBL_MIN*(1-eps/2)");
    vd = sqrt(dneg); show("sqrt(-4)");
    vd = sqrt(d3); show("sqrt(3)");
    vd = sqrt(dneg + 8.0); show("sqrt(4)");
    vd = d1 + d3; vd = d1 / d3; vd = d1 / d0; show("sticky: 1+3,1/3,1/0");
    vf = f1 / f3; show("float 1/3");
    vf = f1 / f0; show("float 1/0");
    vf = fmaxv * f3; show("float max*3");
    vf = fminv * fminv; show("float min^2");
    vf = fminv / f3; show("float min/3");
    vf = (float)dmax; show("(float)DBL_MAX");
    vf = (float)dtiny; show("(float)1e-200");
    vf = (float)(d1 / d3); show("(float)(1/3)");
    vf = f1 / f3; show("float 1/3 again");
    vd = (double)vf; show("(double)float (exact)");
    vi = (int)dbig; show("(int)3e10");
    printf("  -> %d\n", vi);
    vi = (int)dm; show("(int)-2.5");
    printf("  -> %d\n", vi);
    vu = (unsigned)dm; show("(unsigned)-2.5");
    printf("  -> %u\n", vu);
    vu = (unsigned)fbig; show("(unsigned)5e9f");
    printf("  -> %u\n", vu);
    vl = (long)dnan; show("(long)nan");
    printf("  -> %ld\n", vl);
    vul = (unsigned long)fneg; show("(unsigned long)-1.0f");
    printf("  -> %lu\n", vul);
    vul = (unsigned long)fhalf; show("(unsigned long)0.5f");
    printf("  -> %lu\n", vul);
    vi = d1 < dnan; show("1 < nan");
    vi = d1 == dnan; show("1 == nan");
    vi = isless(d1, dnan); show("isless(1, nan)");
    vi = d1 <= dinf; show("1 <= inf");
    feraiseexcept(FE_OVERFLOW | FE_INEXACT); show("feraiseexcept OF|NX");
    return 0;
}
