// Many round trips: the interactor sends 1, 2, ..., k (k from input.txt),
// one line each, and waits for each number plus one before sending the next.
#include <cstdio>

int main(int argc, char **argv) {
  FILE *in = std::fopen(argv[1], "r");
  long k = 0;
  if (!in || std::fscanf(in, "%ld", &k) != 1) { std::fprintf(stderr, "no count in input.txt\n"); return 3; }
  for (long i = 1; i <= k; i++) {
    std::printf("%ld\n", i);
    std::fflush(stdout);
    long got;
    if (std::scanf("%ld", &got) != 1) { std::fprintf(stderr, "no reply to %ld\n", i); return 1; }
    if (got != i + 1) { std::fprintf(stderr, "round %ld: expected %ld, got %ld\n", i, i + 1, got); return 1; }
  }
  FILE *out = std::fopen(argv[2], "w");
  std::fprintf(out, "%ld rounds\n", k);
  std::fclose(out);
  std::fprintf(stderr, "%ld rounds\n", k);
}
