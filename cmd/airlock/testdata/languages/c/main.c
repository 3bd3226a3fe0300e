#include <stdio.h>

int main(void) {
    char word[128];
    if (scanf("%127s", word) != 1) return 1;
    printf("OK %s\n", word);
    return 0;
}
