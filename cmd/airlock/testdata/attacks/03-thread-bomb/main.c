#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *idle(void *a) { (void)a; pause(); return 0; }
int main(void) {
	int n = 0; pthread_t t;
	while (pthread_create(&t, 0, idle, 0) == 0) n++;
	printf("threads %d\n", n);
	return 0;
}
