"""The custom interfaces: generated, importable, documented, and consistent with the library."""

import re
from pathlib import Path

import pytest

from fleetpilot.safety.status import SafetyMode

MSG_DIR = Path(__file__).resolve().parents[1] / "msg"
REQUIRED = {
    "AgentState", "AgentStateArray", "CbfParams", "SafetyStatus",
    "Task", "TaskArray", "Assignment", "AssignmentArray",
}  # fmt: skip
FIELD_LINE = re.compile(
    r"^\s*([A-Za-z0-9_/\[\]<=]+)\s+([A-Za-z][A-Za-z0-9_]*)(\s*=\s*\S+)?\s*(#.*)?$"
)


def test_every_required_interface_exists():
    assert REQUIRED <= {path.stem for path in MSG_DIR.glob("*.msg")}


@pytest.mark.parametrize("path", sorted(MSG_DIR.glob("*.msg")), ids=lambda p: p.stem)
def test_every_field_is_documented(path):
    """Each field or constant has a comment on its line, unless it is a header or a nested
    message array whose own definition documents it."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = FIELD_LINE.match(line)
        assert match, f"{path.name}:{number}: not a field line: {line!r}"
        field_type, _, _, comment = match.groups()
        self_documenting = field_type == "std_msgs/Header" or field_type[0].isupper()
        assert comment or self_documenting, f"{path.name}:{number}: undocumented field {line!r}"


def test_safety_modes_match_the_message_constants():
    from fleetpilot.msg import SafetyStatus

    for mode in SafetyMode:
        assert getattr(SafetyStatus, mode.name) == mode.value
    declared = re.findall(
        r"^uint8 ([A-Z_]+)=(\d+)", (MSG_DIR / "SafetyStatus.msg").read_text(), re.M
    )
    assert {(mode.name, mode.value) for mode in SafetyMode} == {(n, int(v)) for n, v in declared}
