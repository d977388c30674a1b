/*
 * FPU oracle: runs real RISC-V F/D instructions (under qemu-riscv64) on test vectors.
 *
 * stdin: one case per line, "OP RM A B C" with A, B, C as hex 64-bit patterns.
 *   Floating operands are moved into f registers with fmv.d.x, so single-precision
 *   operands keep whatever upper 32 bits the test gives (NaN-boxing is exercised).
 *   RM (0..4) is written to frm and the instruction uses the dynamic rounding mode.
 * stdout: one line per case, "RESULT FLAGS" in hex: RESULT is the full 64-bit f
 *   register (fmv.x.d) or the x register, FLAGS is fflags after clearing it.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t (*op_fn)(uint64_t a, uint64_t b, uint64_t c, uint64_t rm, uint64_t *fl);

#define PRE "fmv.d.x ft0, %[a]\n\tfmv.d.x ft1, %[b]\n\tfmv.d.x ft2, %[c]\n\t" \
            "fsrm %[rm]\n\tcsrw fflags, zero\n\t"
#define IN [a] "r"(a), [b] "r"(b), [c] "r"(c), [rm] "r"(rm)
#define CLOBBER "ft0", "ft1", "ft2", "ft3"

/* f-register result */
#define FOP(name, insn)                                                          \
    static uint64_t name(uint64_t a, uint64_t b, uint64_t c, uint64_t rm,       \
                         uint64_t *fl)                                          \
    {                                                                           \
        uint64_t r, f;                                                          \
        __asm__ volatile(PRE insn "\n\tfrflags %[f]\n\tfmv.x.d %[r], ft3"       \
                         : [r] "=&r"(r), [f] "=&r"(f) : IN : CLOBBER);          \
        *fl = f;                                                                \
        return r;                                                               \
    }

/* x-register result: the instruction writes %[r] */
#define XOP(name, insn)                                                          \
    static uint64_t name(uint64_t a, uint64_t b, uint64_t c, uint64_t rm,       \
                         uint64_t *fl)                                          \
    {                                                                           \
        uint64_t r, f;                                                          \
        __asm__ volatile(PRE insn "\n\tfrflags %[f]"                            \
                         : [r] "=&r"(r), [f] "=&r"(f) : IN : CLOBBER);          \
        *fl = f;                                                                \
        return r;                                                               \
    }

#define ARITH(P)                                                   \
    FOP(fadd_##P, "fadd." #P " ft3, ft0, ft1")                     \
    FOP(fsub_##P, "fsub." #P " ft3, ft0, ft1")                     \
    FOP(fmul_##P, "fmul." #P " ft3, ft0, ft1")                     \
    FOP(fdiv_##P, "fdiv." #P " ft3, ft0, ft1")                     \
    FOP(fsqrt_##P, "fsqrt." #P " ft3, ft0")                        \
    FOP(fmadd_##P, "fmadd." #P " ft3, ft0, ft1, ft2")              \
    FOP(fmsub_##P, "fmsub." #P " ft3, ft0, ft1, ft2")              \
    FOP(fnmsub_##P, "fnmsub." #P " ft3, ft0, ft1, ft2")            \
    FOP(fnmadd_##P, "fnmadd." #P " ft3, ft0, ft1, ft2")            \
    FOP(fmin_##P, "fmin." #P " ft3, ft0, ft1")                     \
    FOP(fmax_##P, "fmax." #P " ft3, ft0, ft1")                     \
    FOP(fsgnj_##P, "fsgnj." #P " ft3, ft0, ft1")                   \
    FOP(fsgnjn_##P, "fsgnjn." #P " ft3, ft0, ft1")                 \
    FOP(fsgnjx_##P, "fsgnjx." #P " ft3, ft0, ft1")                 \
    XOP(feq_##P, "feq." #P " %[r], ft0, ft1")                      \
    XOP(flt_##P, "flt." #P " %[r], ft0, ft1")                      \
    XOP(fle_##P, "fle." #P " %[r], ft0, ft1")                      \
    XOP(fclass_##P, "fclass." #P " %[r], ft0")                     \
    XOP(fcvt_w_##P, "fcvt.w." #P " %[r], ft0")                     \
    XOP(fcvt_wu_##P, "fcvt.wu." #P " %[r], ft0")                   \
    XOP(fcvt_l_##P, "fcvt.l." #P " %[r], ft0")                     \
    XOP(fcvt_lu_##P, "fcvt.lu." #P " %[r], ft0")                   \
    FOP(fcvt_##P##_w, "fcvt." #P ".w ft3, %[a]")                   \
    FOP(fcvt_##P##_wu, "fcvt." #P ".wu ft3, %[a]")                 \
    FOP(fcvt_##P##_l, "fcvt." #P ".l ft3, %[a]")                   \
    FOP(fcvt_##P##_lu, "fcvt." #P ".lu ft3, %[a]")

ARITH(s)
ARITH(d)
FOP(fcvt_s_d, "fcvt.s.d ft3, ft0")
FOP(fcvt_d_s, "fcvt.d.s ft3, ft0")
XOP(fmv_x_w, "fmv.x.w %[r], ft0")
FOP(fmv_w_x, "fmv.w.x ft3, %[a]")
XOP(fmv_x_d, "fmv.x.d %[r], ft0")
FOP(fmv_d_x, "fmv.d.x ft3, %[a]")

#define E(P)                                                                  \
    {"fadd_" #P, fadd_##P}, {"fsub_" #P, fsub_##P}, {"fmul_" #P, fmul_##P},   \
    {"fdiv_" #P, fdiv_##P}, {"fsqrt_" #P, fsqrt_##P},                         \
    {"fmadd_" #P, fmadd_##P}, {"fmsub_" #P, fmsub_##P},                       \
    {"fnmsub_" #P, fnmsub_##P}, {"fnmadd_" #P, fnmadd_##P},                   \
    {"fmin_" #P, fmin_##P}, {"fmax_" #P, fmax_##P},                           \
    {"fsgnj_" #P, fsgnj_##P}, {"fsgnjn_" #P, fsgnjn_##P},                     \
    {"fsgnjx_" #P, fsgnjx_##P}, {"feq_" #P, feq_##P}, {"flt_" #P, flt_##P},   \
    {"fle_" #P, fle_##P}, {"fclass_" #P, fclass_##P},                         \
    {"fcvt_w_" #P, fcvt_w_##P}, {"fcvt_wu_" #P, fcvt_wu_##P},                 \
    {"fcvt_l_" #P, fcvt_l_##P}, {"fcvt_lu_" #P, fcvt_lu_##P},                 \
    {"fcvt_" #P "_w", fcvt_##P##_w}, {"fcvt_" #P "_wu", fcvt_##P##_wu},       \
    {"fcvt_" #P "_l", fcvt_##P##_l}, {"fcvt_" #P "_lu", fcvt_##P##_lu}

static const struct {
    const char *name;
    op_fn fn;
} ops[] = {
    E(s), E(d),
    {"fcvt_s_d", fcvt_s_d}, {"fcvt_d_s", fcvt_d_s},
    {"fmv_x_w", fmv_x_w}, {"fmv_w_x", fmv_w_x},
    {"fmv_x_d", fmv_x_d}, {"fmv_d_x", fmv_d_x},
};

int main(void)
{
    static char out[1 << 16];
    char name[32];
    unsigned rm;
    uint64_t a, b, c, fl;
    setvbuf(stdout, out, _IOFBF, sizeof out);
    while (scanf("%31s %u %lx %lx %lx", name, &rm, &a, &b, &c) == 5) {
        op_fn fn = 0;
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            if (strcmp(ops[i].name, name) == 0) {
                fn = ops[i].fn;
                break;
            }
        }
        if (!fn) {
            printf("unknown-op %s\n", name);
            continue;
        }
        uint64_t r = fn(a, b, c, rm, &fl);
        printf("%lx %lx\n", r, fl);
    }
    return 0;
}
