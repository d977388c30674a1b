/* stdio and the file system in a scratch directory (argv[1], also the cwd). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *path, int depth) {
    DIR *d = opendir(path);
    if (!d) {
        printf("opendir %s failed\n", path);
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        char sub[512];
        struct stat st;
        snprintf(sub, sizeof sub, "%s/%s", path, names[i]);
        lstat(sub, &st);
        printf("%*s%s%s size=%lld\n", depth * 2, "", names[i], S_ISDIR(st.st_mode) ? "/" : "",
               S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
        if (S_ISDIR(st.st_mode))
            list_dir(sub, depth + 1);
        free(names[i]);
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    if (chdir(dir) != 0) {
        perror("chdir");
        return 1;
    }
    FILE *f = fopen("numbers.txt", "w");
    for (int i = 0; i < 50; i++)
        fprintf(f, "line %d value %d\n", i, i * i);
    fclose(f);

    f = fopen("numbers.txt", "r");
    char line[100];
    long total = 0;
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        int a, b;
        if (sscanf(line, "line %d value %d", &a, &b) == 2) {
            total += b;
            count++;
        }
    }
    fseek(f, 0, SEEK_END);
    printf("read %d lines, total %ld, size %ld\n", count, total, ftell(f));
    fseek(f, 10, SEEK_SET);
    printf("at 10: %c\n", fgetc(f));
    fclose(f);

    f = fopen("numbers.txt", "a+");
    fputs("appended\n", f);
    rewind(f);
    fgets(line, sizeof line, f);
    printf("first after append: %s", line);
    fclose(f);

    mkdir("sub", 0755);
    mkdir("sub/deeper", 0700);
    int fd = open("sub/raw.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    printf("write=%zd\n", write(fd, bytes, sizeof bytes));
    printf("ftruncate=%d\n", ftruncate(fd, 100));
    close(fd);
    rename("sub/raw.bin", "sub/deeper/moved.bin");
    symlink("numbers.txt", "link");
    char target[64] = {0};
    printf("readlink=%zd %s\n", readlink("link", target, sizeof target - 1), target);
    printf("access: %d %d\n", access("numbers.txt", R_OK), access("missing", F_OK) == -1 && errno == ENOENT);
    struct stat st;
    stat("sub/deeper/moved.bin", &st);
    printf("moved size=%lld mode=%o\n", (long long)st.st_size, st.st_mode & 0777);
    printf("open missing: %d errno=%s\n", open("nope/x", O_RDONLY), strerror(errno));
    printf("rmdir nonempty: %d errno=%d\n", rmdir("sub"), errno);
    list_dir(".", 0);
    unlink("link");
    unlink("sub/deeper/moved.bin");
    rmdir("sub/deeper");
    rmdir("sub");
    printf("after cleanup:\n");
    list_dir(".", 0);
    char cwd[4096];
    printf("getcwd ok=%d\n", getcwd(cwd, sizeof cwd) != NULL);
    return 0;
}
