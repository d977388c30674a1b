/* system(), popen() and posix_spawn(): the shell and tools are host programs, run natively. */
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>
#include <sys/wait.h>
extern char **environ;
int main(void) {
    fflush(stdout);
    int r = system("echo from system; exit 3");
    printf("system status=%d\n", WEXITSTATUS(r));
    FILE *p = popen("echo from popen", "r");
    char buf[64];
    fgets(buf, sizeof buf, p);
    printf("popen read: %s", buf);
    printf("pclose=%d\n", pclose(p));
    pid_t pid;
    char *args[] = {"true", NULL};
    printf("spawn=%d\n", posix_spawnp(&pid, "true", NULL, NULL, args, environ));
    int st; waitpid(pid, &st, 0);
    printf("spawned status=%d\n", WEXITSTATUS(st));
    char *bad[] = {"nonexistent-cmd", NULL};
    printf("spawn missing=%d\n", posix_spawnp(&pid, "nonexistent-cmd", NULL, NULL, bad, environ));
    return 0;
}
