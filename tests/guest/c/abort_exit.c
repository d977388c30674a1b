/* atexit handlers run on exit(); abort() dies with SIGABRT after flushing nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void first(void) { printf("atexit first\n"); }
static void second(void) { printf("atexit second\n"); }

int main(int argc, char **argv) {
    atexit(first);
    atexit(second);
    printf("buffered output survives exit\n");
    if (argc > 2 && strcmp(argv[2], "abort") == 0)
        abort();
    exit(9);
}
