/* Loops whose registers are sign-extended 32-bit values after the first iteration
   but not before it (the Python backend peels that iteration off). */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

/* a enters as a full 64-bit value; each iteration leaves it sign-extended. */
static uint64_t rotate_w(uint64_t a, uint64_t b, uint64_t c, long n) {
  asm volatile("1: mv t0, %0\n"
               "   addw %0, %1, %2\n"   /* a = sext(b + c) */
               "   sraw %1, t0, 3\n"    /* b = sext(old a) >> 3 (needs old a's low bits) */
               "   sext.w %2, t0\n"     /* c = sext(old a): not free on the first pass */
               "   addi %3, %3, -1\n"
               "   bnez %3, 1b\n"
               : "+r"(a), "+r"(b), "+r"(c), "+r"(n) : : "t0");
  return a * 3 + b * 5 + c * 7;
}

/* A register stays 64-bit on one path and is sign-extended on the other. */
static uint64_t mixed(uint64_t a, uint64_t b, long n) {
  asm volatile("1: andi t0, %2, 3\n"
               "   beqz t0, 2f\n"
               "   addw %0, %0, %1\n"
               "   j 3f\n"
               "2: slli %0, %0, 13\n"
               "   add %0, %0, %1\n"
               "3: sext.w t1, %0\n"
               "   xor %1, %1, t1\n"
               "   addi %2, %2, -1\n"
               "   bnez %2, 1b\n"
               : "+r"(a), "+r"(b), "+r"(n) : : "t0", "t1");
  return a ^ (b << 1);
}

static uint32_t sha_like(const uint32_t *w, int n, uint32_t h) {
  uint32_t a = h, b = h * 3, c = h ^ 0x9e3779b9u, d = ~h;
  for (int i = 0; i < n; i++) {
    uint32_t t = ((a >> 7) | (a << 25)) + (b ^ c) + w[i & 63];
    d = c; c = b; b = a; a = t + d;
  }
  return a ^ b ^ c ^ d;
}

static volatile sig_atomic_t ticks;
static void on_alarm(int sig) { (void)sig; ticks++; }

static sigjmp_buf env;
static volatile uint64_t fault_regs[3];
static void on_segv(int sig, siginfo_t *si, void *ctx) {
  (void)sig; (void)si;
  ucontext_t *uc = ctx;
  fault_regs[0] = uc->uc_mcontext.__gregs[10];  /* a0 */
  fault_regs[1] = uc->uc_mcontext.__gregs[11];  /* a1 */
  fault_regs[2] = uc->uc_mcontext.__gregs[12];  /* a2 */
  siglongjmp(env, 1);
}

/* a0..a2 go through W operations; the loop loads through a table of pointers, and
   the one for iteration number "stop" is NULL. */
static uint64_t *ptrs[128];
static void fault_in_loop(uint64_t **table) {
  register uint64_t a0 asm("a0") = 0x8000000012345678ull;
  register uint64_t a1 asm("a1") = 0xfedcba9876543210ull;
  register uint64_t a2 asm("a2") = 0x0123456789abcdefull;
  register uint64_t **a3 asm("a3") = table;
  register long a4 asm("a4") = 128;
  asm volatile("1: ld t1, 0(%3)\n"
               "   ld t0, 0(t1)\n"
               "   addw %0, %0, t0\n"
               "   subw %1, %1, %0\n"
               "   sllw %2, %2, 1\n"
               "   addw %2, %2, %1\n"
               "   addi %3, %3, 8\n"
               "   addi %4, %4, -1\n"
               "   bnez %4, 1b\n"
               : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3), "+r"(a4) : : "t0", "t1", "memory");
}

int main(void) {
  static uint32_t w[64];
  for (int i = 0; i < 64; i++) w[i] = 0x9e3779b9u * (i + 1);
  printf("rotate %016llx\n", (unsigned long long)rotate_w(0x123456789abcdef0ull,
                                                             0xfedcba9876543210ull, 0x7fffffffffull, 1000));
  printf("rotate1 %016llx\n", (unsigned long long)rotate_w(0x8000000080000000ull, 5, 6, 1));
  printf("rotate2 %016llx\n", (unsigned long long)rotate_w(0x8000000080000000ull, 5, 6, 2));
  printf("mixed %016llx\n", (unsigned long long)mixed(0xdeadbeefcafebabeull, 0x1234567890ull, 999));
  printf("sha %08x\n", sha_like(w, 200000, 0x6a09e667u));

  /* A timer signal interrupting the loops many times (exit requests in both the
     first iteration and the loop proper). */
  signal(SIGALRM, on_alarm);
  struct itimerval it = {{0, 2000}, {0, 2000}};
  setitimer(ITIMER_REAL, &it, 0);
  uint32_t acc = 0;
  for (int r = 0; r < 40; r++) acc += sha_like(w, 5000 + r, 0x6a09e667u + r);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, 0);
  printf("acc %08x\n", acc);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, 0);
  static uint64_t vals[128];
  for (int i = 0; i < 128; i++) {
    vals[i] = 0x0101010101010101ull * i + 0xf0f0f0f0ull;
    ptrs[i] = &vals[i];
  }
  static const long stops[] = {40, 1, 2, 3, 17, 100, 2};
  for (int k = 0; k < 7; k++) {
    long stop = stops[k];
    fault_regs[0] = fault_regs[1] = fault_regs[2] = 0;
    ptrs[stop - 1] = 0;
    if (sigsetjmp(env, 1) == 0) fault_in_loop(ptrs);
    ptrs[stop - 1] = &vals[stop - 1];
    printf("fault stop=%ld a0=%016llx a1=%016llx a2=%016llx\n", stop,
           (unsigned long long)fault_regs[0], (unsigned long long)fault_regs[1],
           (unsigned long long)fault_regs[2]);
  }
  return 0;
}
