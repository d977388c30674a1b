/* Raw getdents64 over a directory, and the mmap family: anonymous, file-backed private
 * and shared mappings, mprotect, mremap, munmap holes, MAP_FIXED, brk via sbrk. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(int argc, char **argv) {
    if (argc > 1)
        chdir(argv[1]);
    mkdir("d", 0755);
    const char *names[] = {"zeta", "alpha", "mid", "beta.txt"};
    for (int i = 0; i < 4; i++) {
        char p[64];
        snprintf(p, sizeof p, "d/%s", names[i]);
        close(open(p, O_CREAT | O_WRONLY, 0644));
    }
    mkdir("d/subdir", 0755);
    int fd = open("d", O_RDONLY | O_DIRECTORY);
    char buf[4096];
    char *found[16];
    int nf = 0;
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
                char *s = malloc(300);
                snprintf(s, 300, "%s:%s", d->d_name, d->d_type == DT_DIR ? "dir" : d->d_type == DT_REG ? "file" : "?");
                found[nf++] = s;
            }
            off += d->d_reclen;
        }
    }
    close(fd);
    qsort(found, nf, sizeof found[0], cmp);
    for (int i = 0; i < nf; i++)
        printf("entry %s\n", found[i]);

    long pg = sysconf(_SC_PAGESIZE);
    char *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("anon zero: %d\n", a[0] == 0 && a[4 * pg - 1] == 0);
    memset(a, 'q', 4 * pg);
    printf("munmap middle: %d\n", munmap(a + pg, pg));
    char *fixed = mmap(a + pg, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed at hole: %d zero: %d neighbours: %c%c\n", fixed == a + pg, fixed[0] == 0, a[0], a[2 * pg]);
    printf("mprotect: %d\n", mprotect(a, pg, PROT_READ));
    munmap(a, 4 * pg);
    char *g0 = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(g0, 'r', 4 * pg);
    char *g = mremap(g0, 4 * pg, 64 * pg, MREMAP_MAYMOVE);
    printf("mremap ok: %d kept: %c tail zero: %d\n", g != MAP_FAILED, g[3 * pg], g[63 * pg] == 0);
    munmap(g, 64 * pg);

    int f = open("data.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
    for (int i = 0; i < 3000; i++)
        write(f, "0123456789", 10);
    char *m = mmap(NULL, 30000, PROT_READ, MAP_PRIVATE, f, 0);
    printf("file map: %.10s ... %.5s\n", m, m + 29995);
    munmap(m, 30000);
    char *s = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, f, pg);
    memcpy(s, "SHARED", 6);
    msync(s, 2 * pg, MS_SYNC);
    munmap(s, 2 * pg);
    char back[7] = {0};
    pread(f, back, 6, pg);
    printf("shared write-back: %s\n", back);
    close(f);

    void *b0 = sbrk(0);
    void *b1 = sbrk(100000);
    memset(b1, 1, 100000);
    printf("sbrk grew: %d\n", (char *)sbrk(0) - (char *)b0 == 100000);
    return 0;
}
