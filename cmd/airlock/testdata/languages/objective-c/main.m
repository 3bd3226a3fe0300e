#import <objc/Object.h>
#include <stdio.h>

@interface Greeter : Object
+ (void)greet:(const char *)word;
@end

@implementation Greeter
+ (void)greet:(const char *)word {
    printf("OK %s\n", word);
}
@end

int main(void) {
    char word[128];
    if (scanf("%127s", word) != 1) return 1;
    [Greeter greet:word];
    return 0;
}
