#!/usr/bin/env bash
# Set up the environment, then run the end-to-end example (arguments are passed through).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
exec .venv/bin/python examples/essentials.py "$@"
