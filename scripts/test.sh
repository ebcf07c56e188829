#!/usr/bin/env bash
# Full check: environment setup, C++ unit tests (CTest), a minute of fuzzing the .tflite
# reader, ruff lint + format check, pytest.
# Setup failures stop immediately; after that every check runs and the script exits non-zero
# if any of them failed. FERRY_FAST=1 skips the Python tests marked `slow`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"  # ruff, python and (if installed there) ninja/cmake

failed=()
check() {
  local name=$1
  shift
  printf '\n==> %s\n' "$name"
  "$@" || failed+=("$name")
}

# Configure, build and run the C++ suite in build dir $1 with extra CMake flags.
cpp_suite() {
  local dir=$1
  shift
  # A tree configured with another generator cannot be reused with -G Ninja.
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  cmake -S . -B "$dir" -G Ninja -DFERRY_BUILD_TESTS=ON -DFERRY_BUILD_PYTHON=OFF "$@" &&
    cmake --build "$dir" -j2 &&
    ctest --test-dir "$dir" --output-on-failure --no-tests=error
}

pytest_args=(tests/python -q)
if [ "${FERRY_FAST:-0}" = 1 ]; then
  pytest_args+=(-m "not slow")
fi

check "C++ tests" cpp_suite build/cpp
# The same suite under AddressSanitizer + UBSan: the .tflite reader must reject truncated and
# corrupted files without reading out of bounds, and the writer's streaming must not either.
check "C++ tests (AddressSanitizer + UBSan)" cpp_suite build/cpp-asan -DFERRY_SANITIZE=ON
check "fuzz the .tflite reader (60 s)" bash scripts/fuzz.sh 60
check "ruff check" ruff check python tests bench examples
check "ruff format" ruff format --check python tests bench examples
check "pytest" python -m pytest "${pytest_args[@]}"

echo
if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all checks passed"
