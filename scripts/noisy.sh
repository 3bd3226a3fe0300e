#!/usr/bin/env bash
# noisy.sh COMMAND [ARG...] runs COMMAND while NOISE (default 2) busy-looping
# processes compete with it for the CPU, one per core of a 2-core machine:
# how a shared, loaded or slower machine behaves. The loops run at the same
# priority as COMMAND and end with it. Exits with COMMAND's status.
set -u
pids=()
stop() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null; }
trap stop EXIT
for _ in $(seq 1 "${NOISE:-2}"); do
  bash -c 'while :; do :; done' &
  pids+=("$!")
done
echo "noisy: ${#pids[@]} busy loops (pids ${pids[*]}) compete for $(nproc) cores"
"$@"
