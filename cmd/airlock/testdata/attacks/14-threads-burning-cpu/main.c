#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>
static void *burn(void *a) { volatile unsigned long i = 0; (void)a; for (;;) i++; return 0; }
int main(void) {
	pthread_t t;
	for (int i = 0; i < 4; i++) pthread_create(&t, 0, burn, 0);
	for (;;) sleep(1); /* the main thread itself uses no CPU */
}
