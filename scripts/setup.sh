#!/usr/bin/env bash
# Prepare (or refresh) the development environment:
#   system packages (Debian/Ubuntu) -> .venv -> torch (CPU) -> requirements/dev.txt
#   -> torchvision (no deps) -> editable install of ferry (C++ core rebuilt on import).
# Safe to run repeatedly, from any directory. Set PYTHON to choose the interpreter used to
# create .venv (default: python3 on PATH).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CONSTRAINTS=requirements/constraints.txt
APT_PACKAGES=(
  build-essential cmake ninja-build python3-dev python3-venv
  flatbuffers-compiler libflatbuffers-dev libgtest-dev clang-format
  chromium # headless, for the tests of the HTML report
  clang libclang-rt-dev # libFuzzer and the sanitizers' runtimes, for scripts/fuzz.sh
)

START=$SECONDS
log() { printf '[setup %4ss] %s\n' "$((SECONDS - START))" "$*"; }
die() {
  printf 'setup: error: %s\n' "$*" >&2
  exit 1
}

# Exact pin (name==version) of a package from the constraints file; fails if it is not pinned.
pin() {
  local line
  line="$(grep -E "^$1==[0-9][0-9A-Za-z.]*([[:space:]]|$)" "$CONSTRAINTS" | head -n1 | awk '{print $1}')"
  [ -n "$line" ] || die "$CONSTRAINTS has no exact pin for $1"
  printf '%s\n' "$line"
}

# --- system packages ----------------------------------------------------------------------
if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing system packages: ${missing[*]}"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "not root and no sudo; install: ${missing[*]}"
      sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
else
  log "no apt here; make sure these (or equivalents) are installed: ${APT_PACKAGES[*]}"
fi

# --- virtual environment ------------------------------------------------------------------
VPY="$ROOT/.venv/bin/python"
if ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
  PYTHON="${PYTHON:-python3}"
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
  log "creating .venv with $("$PYTHON" -c 'import sys; print("Python", sys.version.split()[0])')"
  "$PYTHON" -m venv --clear .venv
fi
export PATH="$ROOT/.venv/bin:$PATH"
pip() { "$VPY" -m pip "$@"; }

log "upgrading pip"
pip install --quiet --upgrade pip

# --- torch (CPU build only) ---------------------------------------------------------------
TORCH_PIN="$(pin torch)"
if "$VPY" - "${TORCH_PIN#torch==}" >/dev/null 2>&1 <<'PY'; then
import importlib.metadata as md, sys
sys.exit(md.version("torch").split("+")[0] != sys.argv[1])
PY
  log "$TORCH_PIN already installed"
else
  # Resolve first without installing: if the resolution drags in the CUDA stack (pip cannot
  # see a CPU wheel of this torch), stop before installing gigabytes of it.
  report="$(mktemp)"
  trap 'rm -f "$report"' EXIT
  log "resolving $TORCH_PIN"
  pip install --quiet --dry-run --ignore-installed --report "$report" \
    -c "$CONSTRAINTS" "$TORCH_PIN"
  if ! "$VPY" - "$report" <<'PY'; then
import json, sys
names = [i["metadata"]["name"].lower() for i in json.load(open(sys.argv[1]))["install"]]
gpu = sorted(n for n in names if n.startswith(("nvidia-", "cuda-")) or n == "triton")
if gpu:
    print("torch resolves to a CUDA build (would pull: " + ", ".join(gpu) + ")", file=sys.stderr)
    sys.exit(1)
PY
    die "configure pip to find the CPU wheel of $TORCH_PIN (e.g. PIP_FIND_LINKS or an extra index)"
  fi
  log "installing $TORCH_PIN"
  pip install --quiet -c "$CONSTRAINTS" "$TORCH_PIN"
fi

# --- Python dependencies ------------------------------------------------------------------
log "installing requirements/dev.txt"
pip install --quiet -r requirements/dev.txt

TORCHVISION_PIN="$(pin torchvision)"
log "installing $TORCHVISION_PIN (--no-deps)"
pip install --quiet --no-deps "$TORCHVISION_PIN"

TRANSFORMERS_PIN="$(pin transformers)"
log "installing $TRANSFORMERS_PIN (--no-deps)"
pip install --quiet --no-deps "$TRANSFORMERS_PIN"

TORCHAO_PIN="$(pin torchao)"
log "installing $TORCHAO_PIN (--no-deps)"
pip install --quiet --no-deps "$TORCHAO_PIN"

# --- ferry itself (editable; the C++ core is rebuilt in build/py on import) ---------------
log "installing ferry (editable, builds the C++ core)"
pip install --quiet --no-build-isolation \
  -Ceditable.rebuild=true -Cbuild-dir=build/py -e .

log "done (activate with: source .venv/bin/activate)"
