static char a[1L << 34] = {1};
int main(int argc, char **argv) { (void)argv; return a[argc * 12345]; }
