// Finds the hidden number from 1 to 1000000 by binary search.
#include <cstdio>

int main() {
  int lo = 1, hi = 1000000;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    std::printf("? %d\n", mid);
    std::fflush(stdout);
    char r[4];
    if (std::scanf("%3s", r) != 1) return 1;
    if (r[0] == '=') { lo = hi = mid; break; }
    if (r[0] == '<') hi = mid - 1; else lo = mid + 1;
  }
  std::printf("! %d\n", lo);
  std::fflush(stdout);
}
