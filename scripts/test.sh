#!/usr/bin/env bash
# Installs everything (idempotent) and runs the whole test suite, lint included.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/safety -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
