#!/usr/bin/env bash
# build.sh [--list] [name ...]
#
# Builds the airlock language images (airlock/<name>:latest) from the folders
# next to this script. With no names every image is built; base is always
# handled first because every other image is FROM airlock/base.
#
# An image is rebuilt only when it is missing or its content hash changed. The
# hash covers every file in the image's folder (relative path, exec bit, content)
# plus the hash of its parent: airlock/<parent> for `FROM airlock/<parent>`,
# or the local image ID for any other FROM (e.g. debian:bookworm-slim), so a
# change in base rebuilds all children. It is stored in the image label
# run.airlock.hash.
#
# Environment: AIRLOCK_FORCE=1 rebuilds regardless of the hash;
# AIRLOCK_NO_CACHE=1 also passes --no-cache to docker build.
set -euo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABEL=run.airlock.hash
REPO=airlock

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# All image names: base first, then the rest alphabetically.
all_images() {
  local d n
  [ -f "$DIR/base/Dockerfile" ] && echo base
  for d in "$DIR"/*/; do
    n=$(basename "$d")
    [ "$n" = base ] && continue
    [ -f "$d/Dockerfile" ] && echo "$n"
  done
  return 0
}

# from_of NAME: the first FROM image of NAME's Dockerfile.
from_of() {
  awk 'toupper($1)=="FROM" { for (i=2;i<=NF;i++) if ($i !~ /^--/) { print $i; exit } }' "$DIR/$1/Dockerfile"
}

# parent_of NAME: the airlock image NAME builds on, or empty.
parent_of() {
  local f
  f=$(from_of "$1")
  case "$f" in
    "$REPO"/*) f=${f#"$REPO"/}; echo "${f%%:*}" ;;
  esac
}

declare -A HASH=()
# hash_of NAME: content hash of the folder plus the parent's hash.
hash_of() {
  local n=$1 p parent_hash
  if [ -n "${HASH[$n]:-}" ]; then echo "${HASH[$n]}"; return; fi
  p=$(parent_of "$n")
  if [ -n "$p" ]; then
    [ -f "$DIR/$p/Dockerfile" ] || { echo "build: $n: parent image $p has no folder" >&2; return 1; }
    parent_hash=$(hash_of "$p")
  else
    # External parent: pin to the exact local image, so re-bootstrapping it
    # rebuilds the tree.
    parent_hash=$(docker image inspect -f '{{.Id}}' "$(from_of "$n")" 2>/dev/null || echo missing)
  fi
  HASH[$n]=$( {
      echo "parent $parent_hash"
      cd "$DIR/$n"
      find . -type f ! -name '*~' ! -name '.*.swp' -print0 | LC_ALL=C sort -z |
        while IFS= read -r -d '' f; do
          # Only the executable bit: git keeps nothing else, umasks differ.
          printf '%s %s %s\n' "$(if [ -x "$f" ]; then echo x; else echo -; fi)" "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"
        done
    } | sha256sum | cut -c1-16 )
  echo "${HASH[$n]}"
}

current_hash() {
  docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$REPO/$1:latest" 2>/dev/null || true
}

size_mb() {
  docker image inspect -f '{{.Size}}' "$REPO/$1:latest" 2>/dev/null | awk '{printf "%.0f", $1/1e6}' || true
}

# ---- arguments ----------------------------------------------------------
want=()
for a in "$@"; do
  case "$a" in
    --list) all_images; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "build: unknown option $a" >&2; usage >&2; exit 2 ;;
    *) want+=("$a") ;;
  esac
done
mapfile -t known < <(all_images)
if [ ${#want[@]} -eq 0 ]; then
  want=("${known[@]}")
fi
for n in "${want[@]}"; do
  if [ ! -f "$DIR/$n/Dockerfile" ]; then
    echo "build: unknown image '$n' (known: ${known[*]})" >&2
    exit 2
  fi
done

# Build order: ancestors before children, each image once.
order=()
declare -A queued=()
enqueue() {
  local n=$1 p
  [ -n "${queued[$n]:-}" ] && return 0
  p=$(parent_of "$n")
  if [ -n "$p" ]; then enqueue "$p"; fi
  queued[$n]=1
  order+=("$n")
}
for n in "${want[@]}"; do enqueue "$n"; done

# One build at a time per host (re-runs from CI and humans may overlap).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/airlock-images.lock"
  if ! flock -n 9; then
    echo "build: another build.sh is running; waiting" >&2
    flock 9
  fi
fi

"$DIR/bootstrap-base.sh"

if docker buildx version >/dev/null 2>&1; then
  build_env=(env DOCKER_BUILDKIT=1)
  build_flags=(--progress=plain)
else
  build_env=(env DOCKER_BUILDKIT=0)
  build_flags=()
fi
[ "${AIRLOCK_NO_CACHE:-}" = 1 ] && build_flags+=(--no-cache)

# prefix NAME: tag each build output line with [NAME]; drop colour codes,
# carriage-return progress and the legacy builder's deprecation banner.
prefix() {
  sed -u -e 's/\x1b\[[0-9;]*m//g' -e 's/\r/\n/g' |
    sed -u -e '/^DEPRECATED: The legacy builder/,/environment-variable\.$/d' -e "s/^/[$1] /"
}

declare -A STATUS=() SECS=()
failed=0
for n in "${order[@]}"; do
  p=$(parent_of "$n")
  if [ -n "$p" ] && [ "${STATUS[$p]}" = FAILED ]; then
    echo "[$n] skipped: parent $p failed" >&2
    STATUS[$n]=FAILED; SECS[$n]=0; failed=1
    continue
  fi
  h=$(hash_of "$n")
  if [ "${AIRLOCK_FORCE:-}" != 1 ] && [ "$(current_hash "$n")" = "$h" ]; then
    echo "[$n] up-to-date ($LABEL=$h)"
    STATUS[$n]=up-to-date; SECS[$n]=0
    continue
  fi
  echo "[$n] building $REPO/$n:latest ($LABEL=$h)"
  start=$SECONDS
  if "${build_env[@]}" docker build "${build_flags[@]}" --force-rm \
       --label "$LABEL=$h" -t "$REPO/$n:latest" "$DIR/$n" </dev/null 2>&1 |
       prefix "$n"; then
    STATUS[$n]=built
  else
    STATUS[$n]=FAILED; failed=1
  fi
  SECS[$n]=$((SECONDS - start))
done

# Drop the untagged leftovers of our own rebuilt images (only dangling ones
# carrying our label; nothing else is touched).
docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true

echo
printf '%-10s %-11s %8s %8s\n' IMAGE STATUS SECONDS SIZE_MB
for n in "${order[@]}"; do
  printf '%-10s %-11s %8s %8s\n' "$n" "${STATUS[$n]}" "${SECS[$n]}" "$(size_mb "$n")"
done
exit "$failed"
