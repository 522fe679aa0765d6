#!/usr/bin/env bash
# Installs everything (idempotent) and runs the main demo. Extra arguments go to `fleetpilot demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/fleetpilot demo "$@"
