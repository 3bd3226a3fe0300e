// check.h: a small checker library in the manner of testlib, written for
// Airlock's tests. A checker is run as `check input.txt output.txt
// answer.txt`; its exit code is the verdict (0 accepted, 1 wrong answer,
// 2 presentation error, 3 the problem is broken) and its stderr the message.
#pragma once
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

enum Verdict { OK = 0, WA = 1, PE = 2, FAIL = 3 };

[[noreturn]] inline void quit(Verdict v, const char *format, ...) {
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::exit(v);
}

// Stream reads whitespace-separated tokens of one file; a malformed or
// missing token is `bad` (presentation error for the output, a broken
// problem for the input and the answer).
struct Stream {
  std::ifstream in;
  Verdict bad;
  const char *what;
  Stream(const char *path, Verdict bad, const char *what) : in(path), bad(bad), what(what) {
    if (!in) quit(FAIL, "cannot open %s", path);
  }
  long long integer() {
    std::string t;
    if (!(in >> t)) quit(bad, "%s: expected an integer, found the end", what);
    char *end = nullptr;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0') quit(bad, "%s: expected an integer, found \"%.20s\"", what, t.c_str());
    return v;
  }
  void eof() {
    std::string t;
    if (in >> t) quit(bad, "%s: extra output \"%.20s\"", what, t.c_str());
  }
};

struct Files {
  Stream inf, ouf, ans;
  Files(int argc, char **argv)
      : inf(argc > 1 ? argv[1] : "input.txt", FAIL, "input"),
        ouf(argc > 2 ? argv[2] : "output.txt", PE, "output"),
        ans(argc > 3 ? argv[3] : "answer.txt", FAIL, "answer") {}
};
