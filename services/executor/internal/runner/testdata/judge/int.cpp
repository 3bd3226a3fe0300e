// An integer comparator: the output's integers must equal the answer's.
#include "check.h"

int main(int argc, char **argv) {
  if (argc < 4) quit(FAIL, "usage: int input output answer");
  Stream out(argv[2], true), ans(argv[3], false);
  int n = 0;
  while (!ans.eof()) {
    long long want = ans.integer(), got = out.integer();
    n++;
    if (got != want) quit(WA, "integer %d: expected %lld, found %lld", n, want, got);
  }
  if (!out.eof()) quit(WA, "more integers than the %d expected", n);
  quit(OK, "%d integers", n);
}
