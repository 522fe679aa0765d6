"""The navigation scenario files shipped in sim/scenarios (warehouse files have their own
schema and tests in tests/warehouse)."""

from pathlib import Path

from fleetpilot.scenarios.loader import navigation_files

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
SHIPPED = navigation_files(SCENARIO_DIR)
