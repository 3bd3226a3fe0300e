// Split n into two positive integers: any a, b > 0 with a + b = n is right
// (the answer file holds one such pair, which the checker only checks).
#include "check.h"

int main(int argc, char **argv) {
  Files f(argc, argv);
  long long n = f.inf.integer();
  long long x = f.ans.integer(), y = f.ans.integer();
  if (x <= 0 || y <= 0 || x + y != n) quit(FAIL, "the answer %lld %lld does not split %lld", x, y, n);
  long long a = f.ouf.integer(), b = f.ouf.integer();
  f.ouf.eof();
  if (a <= 0 || b <= 0) quit(WA, "%lld and %lld are not both positive", a, b);
  if (a + b != n) quit(WA, "%lld + %lld != %lld", a, b, n);
  quit(OK, "%lld = %lld + %lld", n, a, b);
}
