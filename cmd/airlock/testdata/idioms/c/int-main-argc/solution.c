#include <stdio.h>
#include <stdlib.h>

int main(int argc, char *argv[])
{
    int n, i;
    long sum = 0, x;
    scanf("%d", &n);
    for (i = 0; i < n; ++i) {
        scanf("%ld", &x);
        sum += x;
    }
    printf("%ld\n", sum);
    return EXIT_SUCCESS;
}
