static char a[1L << 40];
int main(int argc, char **argv) { (void)argv; a[argc * 123456789L] = 1; return a[argc * 123456789L] - 1; }
