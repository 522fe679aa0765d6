"""Scenario files: the schema, its YAML loader and the randomized layout families.

ROS- and torch-free, so the training environment, the PyBullet world and the ROS launch files
all read scenarios the same way::

    scenario = load_scenario("sim/scenarios/doorway.yaml")
    layout = scenario.sample(seed=3, num_agents=12)  # starts, goals, obstacles, arena, ...
"""

from fleetpilot.scenarios.loader import ScenarioError, load_scenario, parse_scenario
from fleetpilot.scenarios.schema import (
    DYNAMICS,
    AgentSpec,
    Arena,
    FittedArena,
    GeneratorSpec,
    NominalSpec,
    Obstacle,
    PerceptionSpec,
    RobotSpec,
    Scenario,
    ScenarioInstance,
)

__all__ = [
    "DYNAMICS",
    "AgentSpec",
    "Arena",
    "FittedArena",
    "GeneratorSpec",
    "NominalSpec",
    "Obstacle",
    "PerceptionSpec",
    "RobotSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioInstance",
    "load_scenario",
    "parse_scenario",
]
