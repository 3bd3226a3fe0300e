#!/usr/bin/env bash
# verify.sh [--min-mem] [lang ...]
#
# Smoke-tests the airlock images under the real sandbox conditions (uid
# 65534, read-only root, no network, tmpfs /work and /tmp, memory and pids
# limits): for each language writes a program that reads one line from stdin
# and prints "hello <line>", compiles it where needed, runs it, and checks the
# output. Prints the toolchain version, compile and run wall time (measured
# inside the container), and the cgroup's peak memory after the compile and
# after the run (cgroup max usage: includes page cache and tmpfs files).
#
# --min-mem  also finds the smallest --memory (=--memory-swap) at which
#            compile+run still succeed, trying 256m downwards.
# Languages: python c cpp cpp-bits go java javascript bash (default: all).
# Commands mirror services/executor/internal/catalog/languages.json (javac
# additionally uses the image's CDS archive /opt/airlock/javac.jsa).
set -euo pipefail

MEM=${AIRLOCK_VERIFY_MEMORY:-512m}
sandbox() { # sandbox MEMORY IMAGE CMD...
  local m=$1; shift
  docker run --rm -i --user 65534:65534 --read-only --network none \
    --tmpfs /tmp:rw,exec,size=64m \
    --tmpfs /work:rw,exec,size=64m,uid=65534,gid=65534,mode=0700 -w /work \
    --memory "$m" --memory-swap "$m" --pids-limit 128 "$@"
}

declare -A IMAGE FILE SRC COMPILE RUN VERSION
IMAGE[python]=airlock/python; FILE[python]=main.py
SRC[python]='import sys
print("hello " + sys.stdin.readline().rstrip("\n"))
'
RUN[python]='PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 python3 main.py'
VERSION[python]='python3 --version'

IMAGE[c]=airlock/native; FILE[c]=main.c
SRC[c]='#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char line[256];
    if (!fgets(line, sizeof line, stdin)) return 1;
    line[strcspn(line, "\n")] = 0;
    volatile double x = 16.0;
    if (sqrt(x) != 4.0) return 2;
    printf("hello %s\n", line);
    return 0;
}
'
COMPILE[c]='gcc -O2 -std=c17 -pipe -o main main.c -lm'
RUN[c]='./main'
VERSION[c]='gcc --version | head -1'

IMAGE[cpp]=airlock/native; FILE[cpp]=main.cpp
SRC[cpp]='#include <iostream>
#include <string>

int main() {
    std::string line;
    std::getline(std::cin, line);
    std::cout << "hello " << line << std::endl;
}
'
COMPILE[cpp]='g++ -O2 -std=c++17 -pipe -o main main.cpp'
RUN[cpp]='./main'
VERSION[cpp]='g++ --version | head -1'

# Same, through the precompiled <bits/stdc++.h> (see native/Dockerfile).
IMAGE[cpp-bits]=airlock/native; FILE[cpp-bits]=main.cpp
SRC[cpp-bits]='#include <bits/stdc++.h>
using namespace std;

int main() {
    string line;
    getline(cin, line);
    cout << "hello " << line << endl;
}
'
COMPILE[cpp-bits]='g++ -O2 -std=c++17 -pipe -o main main.cpp'
RUN[cpp-bits]='./main'
VERSION[cpp-bits]='g++ --version | head -1'

IMAGE[go]=airlock/go; FILE[go]=main.go
SRC[go]='package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	line, _ := bufio.NewReader(os.Stdin).ReadString('"'\\n'"')
	fmt.Print("hello ", line)
}
'
# The image sets the first four too; passed explicitly as the engine does.
COMPILE[go]='GOCACHE=/tmp/go-cache GOPATH=/tmp/go GO111MODULE=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local go build -o main main.go'
RUN[go]='./main'
VERSION[go]='go version'

IMAGE[java]=airlock/java; FILE[java]=Main.java
SRC[java]='import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;

public class Main {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        System.out.println("hello " + in.readLine());
    }
}
'
COMPILE[java]='javac -J-XX:SharedArchiveFile=/opt/airlock/javac.jsa -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -J-Xshare:auto -encoding UTF-8 -d . Main.java'
RUN[java]='java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxRAMPercentage=75 -Xss64m -cp . Main'
VERSION[java]='java -version 2>&1 | head -2 | tail -1; javac -version'

IMAGE[javascript]=airlock/node; FILE[javascript]=main.js
SRC[javascript]='const line = require("fs").readFileSync(0, "utf8").split("\n")[0];
console.log("hello " + line);
'
RUN[javascript]='node main.js'
VERSION[javascript]='node --version'

IMAGE[bash]=airlock/base; FILE[bash]=main.sh
SRC[bash]='read -r line
echo "hello $line"
'
RUN[bash]='bash main.sh'
VERSION[bash]='bash --version | head -1'

ALL=(python c cpp cpp-bits go java javascript bash)

# Runs inside the container. $FILE, $SRC64, $COMPILE, $RUN come from -e.
# shellcheck disable=SC2016
INNER='
now() { date +%s%N; }
peak() { cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.peak 2>/dev/null || echo 0; }
printf %s "$SRC64" | base64 -d > "$FILE"
t0=$(now)
if [ -n "$COMPILE" ]; then
  if ! eval "$COMPILE" </dev/null >/tmp/compile.log 2>&1; then
    echo "RESULT compile-failed"; tail -5 /tmp/compile.log >&2; exit 0
  fi
fi
t1=$(now); m1=$(peak)
out=$(eval "$RUN") || { echo "RESULT run-failed($?)"; exit 0; }
t2=$(now); m2=$(peak)
echo "RESULT ok $(( (t1-t0)/1000000 )) $(( (t2-t1)/1000000 )) $(( m1/1048576 )) $(( m2/1048576 )) $out"
'

run_one() { # run_one LANG MEMORY -> prints the RESULT line's fields
  local l=$1 m=$2
  sandbox "$m" -e FILE="${FILE[$l]}" -e SRC64="$(printf %s "${SRC[$l]}" | base64 -w0)" \
    -e COMPILE="${COMPILE[$l]:-}" -e RUN="${RUN[$l]}" "${IMAGE[$l]}" bash -c "$INNER" \
    <<<"world" 2>/dev/null | sed -n 's/^RESULT //p'
}

minmem=0
langs=()
for a in "$@"; do
  case "$a" in
    --min-mem) minmem=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) [ -n "${IMAGE[$a]:-}" ] || { echo "verify: unknown language $a (known: ${ALL[*]})" >&2; exit 2; }
       langs+=("$a") ;;
  esac
done
[ ${#langs[@]} -gt 0 ] || langs=("${ALL[@]}")

fail=0
printf '%-10s %-6s %10s %8s %9s %9s %8s  %s\n' LANG RESULT COMPILE_MS RUN_MS PEAK_C_MB PEAK_R_MB MIN_MEM VERSION
for l in "${langs[@]}"; do
  ver=$(sandbox "$MEM" "${IMAGE[$l]}" bash -c "${VERSION[$l]}" </dev/null 2>&1 | paste -sd' ' -)
  read -r status cms rms pc pr out <<<"$(run_one "$l" "$MEM")" || true
  if [ "${status:-}" = ok ] && [ "$out" = "hello world" ]; then
    res=PASS
  else
    res=FAIL; fail=1; cms=-; rms=-; pc=-; pr=-
    echo "verify: $l: ${status:-no result} ${out:-}" >&2
  fi
  min=-
  if [ $minmem = 1 ] && [ $res = PASS ]; then
    for m in 256 192 128 96 80 64 48 40 32 24 16 12 8; do
      read -r st _ _ _ _ o <<<"$(run_one "$l" "${m}m")" || true
      if [ "${st:-}" = ok ] && [ "$o" = "hello world" ]; then min=${m}m; else break; fi
    done
  fi
  printf '%-10s %-6s %10s %8s %9s %9s %8s  %s\n' "$l" "$res" "$cms" "$rms" "$pc" "$pr" "$min" "$ver"
done
exit $fail
