/* Page protections: loads and stores that the guest's mappings refuse fault with
 * SIGSEGV (SEGV_ACCERR on a mapped page, SEGV_MAPERR elsewhere), precisely: a handler
 * that grants the access and returns makes the instruction run again. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int faults;
static char *fix_page;  /* when set, the handler makes this page read-write and returns */
static uintptr_t last_addr;
static int last_code;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    faults++;
    last_addr = (uintptr_t)si->si_addr;
    last_code = si->si_code;
    if (fix_page) {
        mprotect(fix_page, 4096, PROT_READ | PROT_WRITE);
        return;  /* the faulting instruction runs again */
    }
    siglongjmp(jb, 1);
}

#define TRY(label, expr) do { \
    if (!sigsetjmp(jb, 1)) { expr; printf("%-28s ok\n", label); } \
    else printf("%-28s SIGSEGV code %d\n", label, last_code); } while (0)

const char rodata[64] = "constant";
__attribute__((noinline)) void store8(volatile char *p, char v) { *p = v; }
__attribute__((noinline)) long load64(volatile long *p) { return *p; }
__attribute__((noinline)) void store64(volatile long *p, long v) { *p = v; }
__attribute__((noinline)) void store32(volatile int *p, int v) { *p = v; }

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    long page = sysconf(_SC_PAGESIZE);

    char *lit = (char *)"a string literal";
    TRY("store to a string literal", store8(lit, 'A'));
    TRY("store to const data", store8((char *)rodata + 3, 'x'));
    TRY("store to code", store32((int *)(void *)main, 0));
    printf("rodata still %s, literal still %s\n", rodata, lit);

    char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 0x5a, 4 * page);
    mprotect(m, page, PROT_READ);
    TRY("load from read-only", printf("  read %d\n", m[5]));
    TRY("store to read-only", store8(m + 5, 1));
    mprotect(m + page, page, PROT_NONE);
    TRY("load from PROT_NONE", load64((long *)(m + page + 64)));
    TRY("store to PROT_NONE", store64((long *)(m + page + 64), 1));
    mprotect(m + 2 * page, page, PROT_EXEC);
    TRY("load from exec-only", printf("  read %d\n", m[2 * page + 9]));
    mprotect(m + 2 * page, page, PROT_WRITE);
    TRY("load from write-only", printf("  read %d\n", m[2 * page + 9]));
    TRY("store to write-only", store8(m + 2 * page + 9, 3));
    /* An access that starts in an accessible page and runs into one that refuses. */
    mprotect(m + 2 * page, page, PROT_READ | PROT_WRITE);
    TRY("load across into PROT_NONE", load64((long *)(m + 2 * page - 4)));
    TRY("store across into PROT_NONE", store64((long *)(m + 2 * page - 4), 1));
    mprotect(m + 3 * page, page, PROT_READ);
    TRY("load across into read-only", load64((long *)(m + 3 * page - 4)));
    TRY("store across into read-only", store64((long *)(m + 3 * page - 4), 7));
    printf("  bytes before the boundary: %d %d\n", m[3 * page - 4], m[3 * page - 1]);
    TRY("aligned store before it", store64((long *)(m + 3 * page - 8), 7));
    munmap(m + page, page);
    TRY("load from unmapped", load64((long *)(m + page + 8)));
    TRY("store to unmapped", store64((long *)(m + page + 8), 1));
    TRY("amoadd on read-only", __atomic_fetch_add((long *)m, 1, __ATOMIC_SEQ_CST));
    printf("fault address offsets ok: %d\n", last_addr == (uintptr_t)m);

    /* Precise faults: the handler grants write access and returns; the store runs
     * again and lands. Many rounds, so that the loop runs as a translated block too. */
    char *w = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fix_page = w;
    faults = 0;
    long sum = 0;
    for (int i = 0; i < 3000; i++) {
        store64((long *)(w + 8 * (i % 500)), i);
        sum += load64((long *)(w + 8 * (i % 500)));
        if (i % 3 == 0)
            mprotect(w, page, PROT_READ);
    }
    fix_page = NULL;
    printf("retried stores: %d faults, sum %ld\n", faults, sum);

    /* Without a handler, a store to read-only memory kills the process with SIGSEGV. */
    signal(SIGSEGV, SIG_DFL);
    printf("dying\n");
    fflush(stdout);
    store8(lit, 'B');
    printf("not reached\n");
    return 0;
}
