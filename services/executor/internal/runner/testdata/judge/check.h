// check.h: a few testlib-style helpers for Airlock's test checkers, written
// for these tests. A checker gets argv input.txt output.txt answer.txt and
// answers by its exit code: 0 accepted, 1 wrong answer, 2 presentation
// error, 3 judge error (the problem is broken), 7 partial ("points <p>" at
// the start of stderr), 8 unexpected end of the output.
#pragma once
#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

enum { OK = 0, WA = 1, PE = 2, FAIL = 3, POINTS = 7, UEOF = 8 };

[[noreturn]] inline void quit(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::exit(code);
}

[[noreturn]] inline void quitp(double points, const char *msg) {
  std::fprintf(stderr, "points %g %s\n", points, msg);
  std::exit(POINTS);
}

// Stream reads whitespace-separated tokens of one file. On the program's
// output a malformed token is a presentation error and a missing one an
// unexpected end; on the answer or the input either is the problem's fault.
struct Stream {
  FILE *f;
  bool program;
  const char *name;
  Stream(const char *path, bool program) : program(program), name(path) {
    f = std::fopen(path, "rb");
    if (!f) quit(FAIL, "cannot open %s: %s", path, std::strerror(errno));
  }
  bool eof() {
    int c;
    while ((c = std::fgetc(f)) != EOF && std::isspace(c)) {}
    if (c == EOF) return true;
    std::ungetc(c, f);
    return false;
  }
  std::string token() {
    if (eof()) quit(program ? UEOF : FAIL, "%s: unexpected end of file", name);
    std::string s;
    int c;
    while ((c = std::fgetc(f)) != EOF && !std::isspace(c)) s += char(c);
    return s;
  }
  long long integer() {
    std::string s = token();
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno) quit(program ? PE : FAIL, "%s: expected an integer, found \"%.40s\"", name, s.c_str());
    return v;
  }
};
