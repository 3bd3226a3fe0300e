// Partial points: the answer holds k integers; the test's points are
// shared out over the ones the output gets right. The checker reads the
// test's points from the input's first line ("points P").
#include "check.h"

int main(int argc, char **argv) {
  Stream in(argv[1], false), out(argv[2], true), ans(argv[3], false);
  if (in.token() != "points") quit(FAIL, "the input does not start with its points");
  double points = std::atof(in.token().c_str());
  int k = 0, right = 0;
  while (!ans.eof()) {
    long long want = ans.integer();
    k++;
    if (out.eof()) continue;
    if (out.integer() == want) right++;
  }
  if (k == 0) quit(FAIL, "an empty answer");
  if (right == k) quit(OK, "all %d right", k);
  char msg[64];
  std::snprintf(msg, sizeof msg, "%d of %d right", right, k);
  quitp(points * right / k, msg);
}
