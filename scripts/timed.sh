#!/usr/bin/env bash
# timed.sh NAME COMMAND [ARG...] runs COMMAND and then prints how long the
# suite NAME took and how it ended ("suite NAME: 123 s, exit 0"), so a test
# run shows where its time goes. It exits with COMMAND's status.
set -u
name=$1
shift
start=$(date +%s)
"$@"
rc=$?
printf 'suite %s: %d s, exit %d\n' "$name" "$(( $(date +%s) - start ))" "$rc"
exit "$rc"
