"""fleetpilot's ROS code runs on Humble (Jetson) as well as Jazzy (CI): a static check that the
code under ``fleetpilot/ros/`` and ``nodes/`` uses no rclpy API Humble lacks, except inside a
``try`` that falls back when the import fails.

Humble ships rclpy 3.3.x. The modules below are in Jazzy's rclpy (7.1.x) and not in rclpy
3.3.9's ``rclpy/rclpy`` tree (compared in the rclpy repository's history); ``EventsExecutor``
lives in ``rclpy.experimental``. Humble's QoS event classes are in ``rclpy.qos_event``, which
Jazzy renamed ``rclpy.event_handler``; the clock types Humble has in ``rclpy.clock``
(``ClockType``), Jazzy also has in ``rclpy.clock_type``. The list is what we know, not every
difference: new uses of rclpy should be checked against Humble's source.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

JAZZY_ONLY_MODULES = frozenset(
    {
        "rclpy.experimental",  # EventsExecutor
        "rclpy.event_handler",  # Humble: rclpy.qos_event
        "rclpy.clock_type",  # Humble: rclpy.clock.ClockType
        "rclpy.service_introspection",
        "rclpy.type_hash",
        "rclpy.type_description_service",
        "rclpy.parameter_client",
        "rclpy.parameter_event_handler",
        "rclpy.wait_for_message",
        "rclpy.logging_service",
        "rclpy.destroyable",
    }
)
JAZZY_ONLY_NAMES = frozenset({"EventsExecutor"})
FALLBACK_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})


def ros_sources() -> list[Path]:
    """Every Python file of fleetpilot/ros and every executable in nodes/."""
    files = sorted((ROOT / "fleetpilot" / "ros").glob("*.py"))
    files += sorted(p for p in (ROOT / "nodes").iterdir() if p.is_file())
    return files


def dotted(node: ast.AST) -> str | None:
    """``rclpy.experimental.EventsExecutor`` for the attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def jazzy_only(name: str) -> bool:
    pieces = name.split(".")
    prefixes = {".".join(pieces[: i + 1]) for i in range(len(pieces))}
    return bool(prefixes & JAZZY_ONLY_MODULES) or pieces[-1] in JAZZY_ONLY_NAMES


def used_names(node: ast.AST) -> list[str]:
    """The rclpy names an import or attribute access uses."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    if isinstance(node, ast.Attribute) and not isinstance(
        getattr(node, "parent", None), ast.Attribute
    ):
        name = dotted(node)
        return [name] if name else []
    return []


def catches_fallback_errors(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(getattr(t, "id", None) in FALLBACK_ERRORS for t in types)


def guarded(node: ast.AST) -> bool:
    """Inside the body of a ``try`` whose handlers catch a failed import."""
    child, parent = node, getattr(node, "parent", None)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            if any(catches_fallback_errors(h) for h in parent.handlers):
                return True
        child, parent = parent, getattr(parent, "parent", None)
    return False


def unguarded_jazzy_uses(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: name`` for every Jazzy-only rclpy use outside a guarded fallback."""
    tree = ast.parse(source, filename=filename)
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            child.parent = parent
    problems = []
    for node in ast.walk(tree):
        names = [n for n in used_names(node) if n.startswith("rclpy") and jazzy_only(n)]
        if names and not guarded(node):
            problems.append(f"{filename}:{node.lineno}: {names[0]}")
    return problems


@pytest.mark.parametrize("path", ros_sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_ros_code_uses_no_jazzy_only_rclpy_api_without_a_fallback(path):
    problems = unguarded_jazzy_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not problems, (
        "Humble's rclpy lacks these (guard them with try/except ImportError):\n"
        + "\n".join(problems)
    )


def test_the_ros_code_has_the_guarded_events_executor_fallback():
    """The one Jazzy-only API we use is reached only through the guarded import."""
    source = (ROOT / "fleetpilot" / "ros" / "executors.py").read_text(encoding="utf-8")
    assert "from rclpy.experimental import EventsExecutor" in source
    assert unguarded_jazzy_uses(source) == []


@pytest.mark.parametrize(
    "snippet, flagged",
    [
        ("from rclpy.experimental import EventsExecutor", ["rclpy.experimental"]),
        ("import rclpy.event_handler", ["rclpy.event_handler"]),
        (
            "import rclpy\nrclpy.experimental.EventsExecutor()",
            ["rclpy.experimental.EventsExecutor"],
        ),
        ("from rclpy.clock_type import ClockType", ["rclpy.clock_type"]),
        (
            "try:\n    from rclpy.experimental import EventsExecutor\n"
            "except ImportError:\n    pass",
            [],
        ),
        (
            "try:\n    import rclpy.event_handler\nexcept ValueError:\n    pass",
            ["rclpy.event_handler"],
        ),
        ("from rclpy.qos_event import SubscriptionEventCallbacks", []),  # Humble's name
        ("from rclpy.executors import SingleThreadedExecutor, ExternalShutdownException", []),
    ],
)
def test_the_check_flags_unguarded_jazzy_only_uses(snippet, flagged):
    found = [problem.split(": ", 1)[1] for problem in unguarded_jazzy_uses(snippet)]
    assert found == flagged
