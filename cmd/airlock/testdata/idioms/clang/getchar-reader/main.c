#include <ctype.h>
#include <stdio.h>

static long read_long(void)
{
    int c = getchar();
    while (c != '-' && !isdigit(c))
        c = getchar();
    int negative = c == '-';
    if (negative)
        c = getchar();
    long v = 0;
    for (; isdigit(c); c = getchar())
        v = v * 10 + (c - '0');
    return negative ? -v : v;
}

int main(void)
{
    long n = read_long(), total = 0;
    while (n-- > 0)
        total += read_long();
    printf("%ld\n", total);
    return 0;
}
