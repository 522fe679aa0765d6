#!/usr/bin/env bash
# Installs everything fleetpilot needs into ./.venv and builds its ROS 2 interfaces.
# Idempotent: a second run reuses the virtualenv and only redoes what changed.
#
#   bash scripts/install.sh            # full install (library, ROS 2 wheels, interfaces)
#
# Works on a fresh Debian 12 / Ubuntu machine: missing system tools (python3-venv, headers,
# cmake, g++) are installed with apt-get (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv="$root/.venv"
python_bin=${PYTHON:-python3}

log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

ensure_system_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v g++ >/dev/null || missing+=(g++)
  command -v git >/dev/null || missing+=(git)
  command -v xvfb-run >/dev/null || missing+=(xvfb) # a virtual display for the --gui test
  "$python_bin" -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
  local include
  include=$("$python_bin" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
  [ -f "$include/Python.h" ] || missing+=(python3-dev)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing system packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

ensure_system_packages

if [ ! -x "$venv/bin/python" ]; then
  log "creating virtualenv .venv"
  "$python_bin" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip)

# Skip pip when nothing it reads has changed since the last successful install.
stamp="$venv/.fleetpilot-requirements.sha256"
digest=$(cat requirements/*.txt setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  log "installing Python packages (torch CPU, torch-geometric, ROS 2 Jazzy wheels, ...)"
  "${pip[@]}" install -q --upgrade "pip>=24" -c requirements/constraints.txt
  "${pip[@]}" install -q -c requirements/constraints.txt \
    -r requirements/core.txt -r requirements/ros.txt -r requirements/dev.txt
  # compat mode puts the source tree on sys.path through a .pth file, so the package folder
  # can be merged with the generated interfaces (see fleetpilot/__init__.py).
  "${pip[@]}" install -q --no-deps --no-build-isolation -e . \
    --config-settings editable_mode=compat
  echo "$digest" >"$stamp"
else
  log "Python packages up to date"
fi

log "building the ROS 2 interfaces (msg/) with colcon"
"$venv/bin/python" scripts/build_interfaces.py

# Optional: Foxglove's MCAP/ROS 2 readers, used by a test to check recorded bags decode in
# Foxglove. Without node/npm that test is skipped; nothing else needs them.
checker=scripts/foxglove_bag_check
if command -v npm >/dev/null && command -v node >/dev/null; then
  if [ ! -d "$checker/node_modules/@mcap/core" ]; then
    log "installing Foxglove's bag readers (npm, for the bag check)"
    npm ci --prefix "$checker" --silent --no-audit --no-fund \
      || log "warning: npm ci failed; the Foxglove bag check will be skipped"
  fi
else
  log "node/npm not found: the Foxglove bag check will be skipped"
fi
log "done: run '.venv/bin/fleetpilot doctor' to check every part"
