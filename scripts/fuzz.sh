#!/usr/bin/env bash
# Fuzz the .tflite reader with libFuzzer (clang, AddressSanitizer + UBSan) for SECONDS
# (default 60), starting from models written by Ferry's own writer.
#   bash scripts/fuzz.sh [SECONDS]
# Builds in build/fuzz; the corpus grows in build/fuzz/corpus across runs, crashing inputs
# land in build/fuzz/artifacts and the whole libFuzzer log in build/fuzz/fuzz.log. Exits
# non-zero on any crash, sanitizer report, leak, timeout or out-of-memory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${1:-60}"
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [SECONDS]" >&2
  exit 2
}
DIR=build/fuzz
command -v clang++ >/dev/null 2>&1 || {
  echo "fuzz: clang++ not found (bash scripts/setup.sh installs clang and libFuzzer)" >&2
  exit 1
}

# A tree configured with another generator cannot be reused with -G Ninja.
if [ -f "$DIR/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$DIR/CMakeCache.txt"; then
  rm -rf "$DIR"
fi
cmake -S . -B "$DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DFERRY_FUZZ=ON \
  -DFERRY_BUILD_TESTS=OFF -DFERRY_BUILD_PYTHON=OFF >/dev/null
cmake --build "$DIR" -j2 --target ferry-tflite-reader-fuzz ferry-tflite-seeds

# Seeds are written afresh each run, so they always match the current writer.
rm -rf "$DIR/seeds"
mkdir -p "$DIR/seeds" "$DIR/corpus" "$DIR/artifacts"
"$DIR/ferry-tflite-seeds" "$DIR/seeds"
echo "fuzz: $(ls "$DIR/seeds" | wc -l) seed models, $(ls "$DIR/corpus" | wc -l) inputs kept" \
  "from earlier runs; fuzzing for ${DURATION} s"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
LOG="$DIR/fuzz.log"
# One worker. New inputs go to the first directory. Progress lines (libFuzzer prints one at
# every power of two of executions) are shown as they come; the full log stays in $LOG.
set +e
"$DIR/ferry-tflite-reader-fuzz" "$DIR/corpus" "$DIR/seeds" \
  -max_total_time="$DURATION" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict=tests/cpp/fuzz/tflite.dict -artifact_prefix="$DIR/artifacts/" 2>&1 |
  tee "$LOG" | grep --line-buffered -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)'
rc=${PIPESTATUS[0]}
set -e

if [ "$rc" -ne 0 ]; then
  echo
  echo "fuzz: FAILED (libFuzzer exit code $rc); the end of $LOG:" >&2
  tail -n 80 "$LOG" >&2
  exit "$rc"
fi
grep -E '^(stat::|Done )' "$LOG" || true
echo "fuzz: no crash in ${DURATION} s; corpus: $(ls "$DIR/corpus" | wc -l) inputs"
