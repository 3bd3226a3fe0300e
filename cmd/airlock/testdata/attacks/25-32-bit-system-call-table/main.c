#include <stdio.h>
int main(void) {
	long r;
	__asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* i386 getpid */
	if (r > 0) printf("ALLOWED int80 getpid %ld\n", r); else printf("blocked int80 %ld\n", r);
	return 0;
}
