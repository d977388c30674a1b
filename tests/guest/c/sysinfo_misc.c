/* uname, getrandom, ids, rlimits, /proc/self/exe, /proc/self/maps, clocks and sleeps. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <libgen.h>
#include <sys/time.h>

int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("sysname=%s machine=%s\n", u.sysname, u.machine);
    unsigned char r1[32], r2[32];
    printf("getrandom=%zd %zd differ=%d\n", getrandom(r1, sizeof r1, 0), getrandom(r2, sizeof r2, 0),
           memcmp(r1, r2, sizeof r1) != 0);
    printf("pid>0=%d ppid>0=%d uid==euid=%d\n", getpid() > 0, getppid() > 0, getuid() == geteuid());
    struct rlimit rl;
    printf("getrlimit stack=%d cur>0=%d\n", getrlimit(RLIMIT_STACK, &rl), rl.rlim_cur > 0);
    char exe[4096] = {0};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    printf("exe basename matches argv0: %d\n", n > 0 && strcmp(basename(exe), basename(argv[0])) == 0);
    FILE *m = fopen("/proc/self/maps", "r");
    char line[512];
    int stack = 0, lines = 0;
    while (m && fgets(line, sizeof line, m)) {
        lines++;
        stack |= strstr(line, "[stack]") != NULL;
    }
    if (m)
        fclose(m);
    printf("maps has stack: %d, lines>2: %d\n", stack, lines > 2);
    struct timespec a, b, req = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    printf("slept>=20ms: %d\n", ms >= 20);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    printf("time sane: %d\n", tv.tv_sec > 1600000000 && time(NULL) >= tv.tv_sec);
    printf("sysconf pagesize=%ld clk_tck=%ld\n", sysconf(_SC_PAGESIZE), sysconf(_SC_CLK_TCK));
    printf("argc=%d\n", argc);
    return 17;
}
