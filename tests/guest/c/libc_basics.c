/* libc basics: formatted output, heap churn, qsort/bsearch, setjmp/longjmp, strings. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

static jmp_buf env;

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void deep(int n) {
    if (n == 0)
        longjmp(env, 42);
    deep(n - 1);
}

int main(void) {
    printf("ints: %d %i %u %x %X %o %ld %lld\n", -17, 42, 3000000000u, 0xbeef, 0xcafe, 0755, -1234567890123L, 9000000000000000000LL);
    printf("pad: [%5d] [%-5d] [%05d] [%+d] [%.3s] [%10.4f] [%-8s]\n", 42, 42, 42, 7, "abcdef", 3.14159265, "hi");
    printf("floats: %f %e %g %.10g %a\n", 1.5, 12345.678, 0.0001, 1.0 / 3.0, 1.0);
    printf("chars: %c%c%c %%\n", 'o', 'k', '!');

    /* heap churn: many sizes, realloc growth, free in a scrambled order */
    enum { N = 300 };
    char *blocks[N];
    unsigned long sum = 0;
    for (int i = 0; i < N; i++) {
        size_t sz = (size_t)(i * 37 % 500) + 1;
        blocks[i] = malloc(sz);
        memset(blocks[i], i & 0xff, sz);
    }
    for (int i = 0; i < N; i += 3) {
        blocks[i] = realloc(blocks[i], 2000 + i);
        blocks[i][1999 + i] = 1;
    }
    for (int i = 0; i < N; i++) {
        int j = (i * 7919) % N;
        sum += (unsigned char)blocks[j][0];
        free(blocks[j]);
        blocks[j] = NULL;
    }
    char *big = calloc(1 << 20, 1);
    printf("heap: sum=%lu big0=%d\n", sum, big[12345]);
    free(big);

    int arr[64];
    for (int i = 0; i < 64; i++)
        arr[i] = (i * 7331 + 17) % 101 - 50;
    qsort(arr, 64, sizeof arr[0], cmp_int);
    printf("sorted:");
    for (int i = 0; i < 64; i += 8)
        printf(" %d", arr[i]);
    int key = arr[20];
    int *found = bsearch(&key, arr, 64, sizeof arr[0], cmp_int);
    printf(" | found=%d\n", found != NULL && *found == key);

    int r = setjmp(env);
    if (r == 0) {
        deep(20);
        printf("not reached\n");
    }
    printf("longjmp returned %d\n", r);

    char buf[128];
    snprintf(buf, sizeof buf, "%s-%d", "Mixed Case", 99);
    for (char *c = buf; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    char *tok, *save;
    printf("upper=%s len=%zu tokens:", buf, strlen(buf));
    for (tok = strtok_r(buf, " -", &save); tok; tok = strtok_r(NULL, " -", &save))
        printf(" <%s>", tok);
    printf("\n");
    printf("strtol=%ld strtod=%.2f atoi=%d\n", strtol("-0x1f", NULL, 16), strtod("2.5e3", NULL), atoi("  77x"));
    fflush(stdout);
    fprintf(stderr, "done on stderr\n");
    return 5;
}
