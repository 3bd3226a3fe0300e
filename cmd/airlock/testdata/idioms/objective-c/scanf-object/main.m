#import <objc/Object.h>
#include <stdio.h>

@interface Summer : Object
+ (long)sumOf:(const long *)values count:(int)n;
@end

@implementation Summer
+ (long)sumOf:(const long *)values count:(int)n {
    long total = 0;
    for (int i = 0; i < n; i++) total += values[i];
    return total;
}
@end

int main(int argc, const char *argv[]) {
    int n;
    long values[1000];
    if (scanf("%d", &n) != 1 || n > 1000) return 1;
    for (int i = 0; i < n; i++) scanf("%ld", &values[i]);
    printf("%ld\n", [Summer sumOf:values count:n]);
    return 0;
}
