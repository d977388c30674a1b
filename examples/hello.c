#include <stdio.h>
#include <math.h>

int main(int argc, char **argv)
{
    double s = 0;
    for (int i = 1; i <= 1000; i++)
        s += 1.0 / ((double)i * i);
    printf("hello, riscv64:");
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\npi^2/6 ~ %.9f (sqrt(6s) = %.9f)\n", s, sqrt(6 * s));
    return 0;
}
