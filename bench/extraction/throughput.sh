#!/usr/bin/env bash
# Extraction throughput of `newswire extract` on the 990-page benchmark, one process per page,
# one page at a time (-j 1 equivalent). Prints wall-clock pages/s, CPU per page (user + sys of
# the newswire processes), the CPU of start-up alone (the same command on a tiny page), and
# their difference: the CPU per page of reading, charset decoding, extraction and cleaning.
#
#   bench/extraction/throughput.sh [/work/target-extract/release/newswire] [corpus dir]
set -euo pipefail
BIN=${1:-/work/target-extract/release/newswire}
CORPUS=${2:-$(dirname "$0")/../../../shared/corpora/trafilatura-eval}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/pages"
for f in "$CORPUS"/pages/*.gz; do
  b=$(basename "$f" .gz)
  gzip -dc "$f" > "$TMP/pages/${b%.html}.html"
done
N=$(ls "$TMP/pages" | wc -l)
printf '<html><body><p>x</p></body></html>' > "$TMP/tiny.html"

cpu() { # user+sys seconds of the finished children of shell $1 (/proc/<pid>/stat cutime, cstime)
  awk -v hz="$(getconf CLK_TCK)" '{print ($16 + $17) / hz}' "/proc/$1/stat"
}

run_all() {
  local t0 t1 me=$BASHPID
  t0=$(date +%s.%N)
  for f in "$TMP"/pages/*.html; do "$BIN" extract --format plain "$f" > /dev/null 2>&1 || true; done
  t1=$(date +%s.%N)
  echo "$t0 $t1 $(cpu "$me")"
}
run_tiny() {
  local me=$BASHPID
  for _ in $(seq "$N"); do "$BIN" extract --format plain "$TMP/tiny.html" > /dev/null 2>&1 || true; done
  cpu "$me"
}

read -r T0 T1 CPU_ALL < <(run_all)
read -r CPU_TINY < <(run_tiny)
awk -v n="$N" -v t0="$T0" -v t1="$T1" -v all="$CPU_ALL" -v tiny="$CPU_TINY" 'BEGIN {
  wall = t1 - t0
  printf "pages: %d\n", n
  printf "wall: %.2f s, %.1f pages/s (one process per page, sequential)\n", wall, n / wall
  printf "CPU per page, whole command: %.2f ms (%.1f pages/s per core)\n", 1000 * all / n, n / all
  printf "CPU per page, start-up only (tiny page): %.2f ms\n", 1000 * tiny / n
  d = (all - tiny) / n
  printf "CPU per page, without start-up (read, decode, extract, clean): %.2f ms (%.0f pages/s per core)\n", 1000 * d, 1 / d
}'
