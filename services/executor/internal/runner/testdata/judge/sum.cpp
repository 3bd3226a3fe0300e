// Many valid answers: the input holds n; any two positive integers a and b
// with a + b = n are accepted. The answer file is not read.
#include "check.h"

int main(int argc, char **argv) {
  Stream in(argv[1], false), out(argv[2], true);
  long long n = in.integer();
  long long a = out.integer(), b = out.integer();
  if (!out.eof()) quit(PE, "more than two numbers");
  if (a <= 0 || b <= 0) quit(WA, "%lld and %lld are not both positive", a, b);
  if (a + b != n) quit(WA, "%lld + %lld = %lld, not %lld", a, b, a + b, n);
  quit(OK, "%lld + %lld = %lld", a, b, n);
}
