"""Check that every part fleetpilot needs is installed and actually works.

Each check imports the part and exercises it (a ROS 2 node and a serialised custom message, a
GCN forward pass, an OSQP solve, a PyBullet DIRECT session), then prints a version and PASS or
FAIL. The exit code is non-zero when a required part fails.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CheckResult:
    name: str
    required: bool
    ok: bool
    version: str
    detail: str


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def check_numpy_scipy() -> tuple[str, str]:
    import numpy as np
    import scipy
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0]])).query_pairs(1.0)
    assert pairs == {(0, 1)}, pairs
    return f"numpy {np.__version__}, scipy {scipy.__version__}", "KD-tree neighbour query"


def check_torch() -> tuple[str, str]:
    import torch

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "no CUDA device (CPU only)"
    value = (torch.ones(3) * 2).sum().item()
    assert value == 6.0
    return torch.__version__, f"threads={torch.get_num_threads()}, {device}"


def check_torch_geometric() -> tuple[str, str]:
    import torch
    import torch_geometric
    from torch_geometric.nn import GCNConv

    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    out = GCNConv(4, 2)(torch.randn(3, 4), edge_index)
    assert out.shape == (3, 2)
    return torch_geometric.__version__, "GCNConv forward on a 3-node graph"


def check_osqp() -> tuple[str, str]:
    import numpy as np
    import osqp
    from scipy import sparse

    solver = osqp.OSQP()
    solver.setup(
        P=sparse.csc_matrix(np.eye(2) * 2.0),
        q=np.array([-2.0, -2.0]),
        A=sparse.csc_matrix(np.array([[1.0, 1.0]])),
        l=np.array([-np.inf]),
        u=np.array([1.0]),
        verbose=False,
        eps_abs=1e-9,
        eps_rel=1e-9,
    )
    result = solver.solve()
    assert np.allclose(result.x, [0.5, 0.5], atol=1e-5), result.x
    return _version("osqp"), "2-variable QP solved"


def check_cvxpy() -> tuple[str, str]:
    import cvxpy

    x = cvxpy.Variable(2)
    problem = cvxpy.Problem(cvxpy.Minimize(cvxpy.sum_squares(x - 1)), [cvxpy.sum(x) <= 1])
    problem.solve()
    assert abs(problem.value - 0.5) < 1e-5
    return cvxpy.__version__, "reference QP solved (tests only)"


def check_numba() -> tuple[str, str]:
    import numba

    return numba.__version__, "compiler for the safety filter kernels"


def check_pybullet() -> tuple[str, str]:
    import pybullet

    client = pybullet.connect(pybullet.DIRECT)
    try:
        body = pybullet.createMultiBody(
            baseMass=1.0,
            baseCollisionShapeIndex=pybullet.createCollisionShape(
                pybullet.GEOM_SPHERE, radius=0.1, physicsClientId=client
            ),
            physicsClientId=client,
        )
        pybullet.stepSimulation(physicsClientId=client)
        assert pybullet.getNumBodies(physicsClientId=client) == 1 and body == 0
    finally:
        pybullet.disconnect(client)
    return _version("pybullet"), "DIRECT session stepped"


def check_rclpy() -> tuple[str, str]:
    import rclpy
    from rclpy.utilities import get_rmw_implementation_identifier

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("fleetpilot_doctor", context=context)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return _version("ros-rclpy"), f"ROS 2 Jazzy wheels, RMW {get_rmw_implementation_identifier()}"


def check_rclpy_lifecycle() -> tuple[str, str]:
    import lifecycle_msgs.msg  # noqa: F401
    import rclpy.lifecycle  # noqa: F401

    return _version("ros-rcl-lifecycle"), "rclpy.lifecycle and lifecycle_msgs import"


def check_standard_messages() -> tuple[str, str]:
    import diagnostic_msgs.msg  # noqa: F401
    import geometry_msgs.msg  # noqa: F401
    import nav_msgs.msg  # noqa: F401
    import sensor_msgs.msg  # noqa: F401
    import std_msgs.msg  # noqa: F401

    return _version("ros-geometry-msgs"), "std, geometry, nav, sensor, diagnostic messages"


def check_interfaces() -> tuple[str, str]:
    from rclpy.serialization import deserialize_message, serialize_message

    from fleetpilot.msg import AgentState, AgentStateArray, SafetyStatus

    message = AgentStateArray(agents=[AgentState(id="robot_0", x=1.5, radius=0.2)])
    echoed = deserialize_message(serialize_message(message), AgentStateArray)
    assert echoed.agents[0].x == 1.5
    return (
        "fleetpilot.msg",
        f"serialised through typesupport; SafetyStatus.STOPPED={SafetyStatus.STOPPED}",
    )


# (name, required, check): required parts make `doctor` fail; others are reported only.
CHECKS: tuple[tuple[str, bool, Callable[[], tuple[str, str]]], ...] = (
    ("numpy/scipy", True, check_numpy_scipy),
    ("torch", True, check_torch),
    ("torch-geometric", True, check_torch_geometric),
    ("osqp", True, check_osqp),
    ("numba", True, check_numba),
    ("pybullet", True, check_pybullet),
    ("rclpy", True, check_rclpy),
    ("rclpy lifecycle", True, check_rclpy_lifecycle),
    ("ROS messages", True, check_standard_messages),
    ("fleetpilot interfaces", True, check_interfaces),
    ("cvxpy", False, check_cvxpy),
)


def run_checks() -> list[CheckResult]:
    results = []
    for name, required, check in CHECKS:
        try:
            version, detail = check()
            results.append(CheckResult(name, required, True, version, detail))
        except Exception as error:  # a doctor reports every failure instead of stopping
            detail = f"{type(error).__name__}: {error}".splitlines()[0][:160]
            results.append(CheckResult(name, required, False, "-", detail))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def main(args: argparse.Namespace) -> int:
    results = run_checks()
    failed_required = [r.name for r in results if r.required and not r.ok]
    if args.json:
        print(json.dumps({"checks": [asdict(r) for r in results], "ok": not failed_required}))
    else:
        print(f"fleetpilot doctor — Python {platform.python_version()} on {platform.machine()}")
        for r in results:
            mark = "PASS" if r.ok else ("FAIL" if r.required else "warn")
            kind = "" if r.required else " (optional)"
            print(f"  {mark}  {r.name + kind:<32} {r.version:<26} {r.detail}")
        if failed_required:
            print(f"missing or broken: {', '.join(failed_required)}", file=sys.stderr)
        else:
            print("every required part works")
    return 1 if failed_required else 0
