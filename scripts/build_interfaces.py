"""Builds fleetpilot's ROS 2 interfaces (msg/) with colcon against the PyPI ROS 2 wheels.

Run with the virtualenv's Python (scripts/install.sh does). Steps:

1. The wheels' exported CMake files hard-code the include directories of the container the
   wheels were built in (Python headers, numpy); CMake refuses imported targets with missing
   include paths, so they are rewritten to this interpreter's own (idempotent).
2. ``colcon build`` of the interface sources only (the library is pip-installed in editable
   mode), staged in build/ros/src: CMake refuses to export include dirs that lie inside the
   source tree, and the venv's numpy headers lie inside this repository.
3. The generated libraries are linked into ``.venv/lib`` (which the wheels' start-up hook puts on
   LD_LIBRARY_PATH) and a ``.pth`` file puts the generated Python package on sys.path, so every
   Python of the venv can publish fleetpilot messages without sourcing a setup script.

The build is skipped when the interface sources are unchanged since the last successful build.

``--workspace WS`` instead builds a whole ROS 2 workspace (``WS/src/...``) the way a robot
does, library and executables included, against the same wheels (used by the tests).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy

ROOT = Path(__file__).resolve().parents[1]
BUILD_ROOT = ROOT / "build" / "ros"
INSTALL = BUILD_ROOT / "install" / "fleetpilot"
STAGED_SOURCE = BUILD_ROOT / "src" / "fleetpilot"
INTERFACE_SOURCES = ("package.xml", "CMakeLists.txt", "msg")
VENV = Path(sys.prefix)
PY_VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
PTH_FILE = SITE_PACKAGES / "zz_fleetpilot_interfaces.pth"
STAMP = BUILD_ROOT / "sources.sha256"

# An include path of the wheel build container: .../include/pythonX.Y or numpy's include dir.
FOREIGN_PYTHON_INCLUDE = re.compile(r"[^;\"]*/include/python3\.\d+")
FOREIGN_NUMPY_INCLUDE = re.compile(r"[^;\"]*/site-packages/numpy/(?:_core|core)/include")


def fix_exported_include_dirs() -> int:
    """Points the wheels' exported include dirs at this interpreter's. Returns files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in (VENV / "share").glob("*/cmake/export_*__rosidl_generator_pyExport.cmake"):
        text = path.read_text()
        fixed = FOREIGN_PYTHON_INCLUDE.sub(python_include, text)
        fixed = FOREIGN_NUMPY_INCLUDE.sub(numpy_include, fixed)
        if fixed != text:
            path.write_text(fixed)
            changed += 1
    return changed


def sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("msg/*.msg"), ROOT / "CMakeLists.txt", ROOT / "package.xml"]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(sys.prefix.encode())
    return digest.hexdigest()


def stage_sources() -> None:
    if STAGED_SOURCE.exists():
        shutil.rmtree(STAGED_SOURCE)
    STAGED_SOURCE.mkdir(parents=True)
    for name in INTERFACE_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, STAGED_SOURCE / name)
        else:
            shutil.copy2(source, STAGED_SOURCE / name)


def colcon_environment() -> dict[str, str]:
    """The environment a sourced ROS 2 install would give, with the wheels as the underlay."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["CMAKE_PREFIX_PATH"] = str(VENV)
    env["AMENT_PREFIX_PATH"] = str(VENV)
    return env


def run_colcon(source: Path, build_root: Path, interfaces_only: bool) -> None:
    build_root.mkdir(parents=True, exist_ok=True)
    command = [
        str(VENV / "bin" / "colcon"),
        "--log-base", str(build_root / "log"),
        "build",
        "--base-paths", str(source),
        "--build-base", str(build_root / "build"),
        "--install-base", str(build_root / "install"),
        "--event-handlers", "console_direct-",
        "--cmake-args",
        f"-DFLEETPILOT_INTERFACES_ONLY={'ON' if interfaces_only else 'OFF'}",
        f"-DPython3_EXECUTABLE={sys.executable}",
        "-DBUILD_TESTING=OFF",
    ]  # fmt: skip
    result = subprocess.run(
        command, env=colcon_environment(), cwd=build_root, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-8000:] + result.stderr[-8000:])
        raise SystemExit(
            f"colcon build failed (exit {result.returncode}); log in {build_root}/log"
        )


def link_into_venv() -> None:
    """Makes the generated interfaces usable from every Python of the virtualenv."""
    for library in (INSTALL / "lib").glob("*.so"):
        link = VENV / "lib" / library.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(library)
    generated_site = INSTALL / "lib" / PY_VERSION / "site-packages"
    PTH_FILE.write_text(f"{generated_site}\n")


def main(argv: list[str]) -> int:
    changed = fix_exported_include_dirs()
    if changed:
        print(f"rewrote include dirs in {changed} exported CMake files")
    if argv[:1] == ["--workspace"] and len(argv) == 2:
        workspace = Path(argv[1]).resolve()
        run_colcon(workspace / "src", workspace, interfaces_only=False)
        print(f"built workspace {workspace}")
        return 0
    digest = sources_digest()
    if STAMP.exists() and STAMP.read_text() == digest and (INSTALL / "lib").is_dir():
        print("interfaces up to date")
    else:
        stage_sources()
        run_colcon(STAGED_SOURCE, BUILD_ROOT, interfaces_only=True)
        STAMP.write_text(digest)
        print(f"built interfaces into {INSTALL.relative_to(ROOT)}")
    link_into_venv()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
