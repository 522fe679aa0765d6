"""Scenario files: every shipped file loads, families are seeded, malformed files are named."""

from pathlib import Path

import numpy as np
import pytest

from fleetpilot.scenarios import ScenarioError, load_scenario, parse_scenario
from tests.envs.shipped import SCENARIO_DIR, SHIPPED


def test_the_required_scenarios_are_shipped():
    names = {path.stem for path in SHIPPED}
    assert {f"circle_swap_{n}" for n in (8, 16, 32, 64)} <= names
    assert {"crossing_groups", "doorway", "corridor", "random_field"} <= names
    families = {
        load_scenario(path).generator.family for path in SHIPPED if load_scenario(path).generator
    }
    assert families == {"circle_swap", "crossing_groups", "doorway", "corridor", "random_field"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_samples_valid_repeatable_layouts(path):
    scenario = load_scenario(path)
    first, again = scenario.sample(seed=5), scenario.sample(seed=5)
    np.testing.assert_array_equal(first.starts, again.starts)
    np.testing.assert_array_equal(first.goals, again.goals)
    np.testing.assert_array_equal(first.obstacles, again.obstacles)
    assert first.num_agents == scenario.num_agents
    assert first.start_poses.shape == (scenario.num_agents, 3)
    # Starts and goals keep the safety distance and stay clear of obstacles (checked on
    # construction; here re-checked independently).
    distance = first.safety_distance
    for points in (first.starts, first.goals):
        gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
        assert gaps[np.triu_indices(len(points), 1)].min() >= distance
        if len(first.obstacles):
            surface = (
                np.linalg.norm(points[:, None] - first.obstacles[None, :, :2], axis=-1)
                - first.obstacles[None, :, 2]
            )
            assert surface.min() >= distance / 2
        assert not first.arena.outside(points, 0.0).any()


def test_random_families_change_with_the_seed_and_team_size():
    field = load_scenario(SCENARIO_DIR / "random_field.yaml")
    a, b = field.sample(seed=1), field.sample(seed=2)
    assert not np.allclose(a.starts, b.starts)
    assert not np.allclose(a.obstacles, b.obstacles)
    assert field.sample(seed=(1, 2, 3)).num_agents == 16
    assert field.sample(seed=1, num_agents=24).num_agents == 24


def test_circle_swap_is_antipodal_and_grows_for_large_teams():
    swap = load_scenario(SCENARIO_DIR / "circle_swap_8.yaml").sample()
    np.testing.assert_allclose(swap.goals, -swap.starts)
    np.testing.assert_allclose(np.linalg.norm(swap.starts, axis=1), 3.0)
    large = load_scenario(SCENARIO_DIR / "circle_swap_8.yaml").sample(num_agents=100)
    radius = np.linalg.norm(large.starts, axis=1)
    np.testing.assert_allclose(radius, 100 * 0.8 / (2 * np.pi))  # min_spacing 0.8 m of arc
    assert large.arena.x_max == pytest.approx(radius[0] + 1.0)  # fitted with a 1 m margin


def test_doorway_paths_all_run_through_the_door():
    doorway = load_scenario(SCENARIO_DIR / "doorway.yaml")
    layout = doorway.sample(seed=3)
    np.testing.assert_allclose((layout.starts + layout.goals) / 2, 0.0, atol=1e-12)
    assert (layout.starts[:, 0] <= -1.0).all() and (layout.goals[:, 0] >= 1.0).all()
    wall = layout.obstacles
    assert np.allclose(wall[:, 0], 0.0)
    # The door: no wall disc surface within 0.5 m of the door centre, discs everywhere else.
    assert (np.abs(wall[:, 1]) - wall[:, 2]).min() == pytest.approx(0.5)
    assert np.diff(np.sort(wall[:, 1])).max() == pytest.approx(1.0 + 2 * 0.2)


def test_corridor_traffic_runs_both_ways_inside_the_walls():
    layout = load_scenario(SCENARIO_DIR / "corridor.yaml").sample(seed=4)
    rightward = layout.goals[:, 0] > layout.starts[:, 0]
    assert rightward.sum() == 6 and (~rightward).sum() == 6
    assert np.abs(np.concatenate([layout.starts, layout.goals])[:, 1]).max() < 1.0 - 0.2


def test_explicit_scenario_keeps_its_agents_and_robot_overrides():
    pair = load_scenario(SCENARIO_DIR / "head_on_pair.yaml")
    layout = pair.sample(seed=123)
    np.testing.assert_array_equal(layout.starts, [[-3.0, 0.0], [3.0, 0.05]])
    assert layout.start_headings[0] == 0.0 and layout.start_headings[1] == 3.14159
    assert [robot.radius for robot in layout.robots] == [0.2, 0.22]
    assert layout.safety_distance == 0.45 and layout.perception.latency == 0.1
    assert layout.max_steps == 200
    with pytest.raises(ValueError, match="only generator families can change the team size"):
        pair.sample(num_agents=3)


VALID = """
name: test
dt: 0.1
horizon: 10
sensing_radius: 2.0
arena: {x_min: -5, y_min: -5, x_max: 5, y_max: 5}
agents:
  - {start: [-2, 0], goal: [2, 0]}
  - {start: [2, 0], goal: [-2, 0]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_parses(tmp_path):
    scenario = load_scenario(write(tmp_path, VALID))
    assert scenario.num_agents == 2 and scenario.resolved_safety_distance == 0.4


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "goal: [-2, 0]",
            "goal: abc",
            "agents[1].goal: expected a list of 2 finite numbers, got 'abc'",
        ),
        ("goal: [-2, 0]", "goal: [1, 2, 3]", "agents[1].goal: expected a list of 2 finite"),
        ("start: [2, 0]", "strat: [2, 0]", "agents[1].strat: unknown key"),
        ("dt: 0.1", "dt: -0.1", "dt: expected a positive number, got -0.1"),
        ("dt: 0.1", "dt: fast", "dt: expected a number, got 'fast'"),
        ("horizon: 10", "horizon: 0.01", "horizon: expected at least dt"),
        ("name: test\n", "", "name: missing required key"),
        ("x_max: 5", "x_max: -6", "arena.x_max: expected > x_min (-5.0), got -6.0"),
        (
            "{start: [-2, 0], goal: [2, 0]}",
            "{start: [1.9, 0], goal: [2, 0]}",
            "agents[1].start: expected at least the safety distance 0.4 m from agents[0]",
        ),
        (
            "{start: [-2, 0], goal: [2, 0]}",
            "{start: [-2, 0], goal: [2, 0], radius: -1}",
            "agents[0].radius: expected a positive number, got -1.0",
        ),
        (
            "{start: [-2, 0], goal: [2, 0]}",
            "{start: [-2, 0], goal: [2, 0], dynamics: hovercraft}",
            "agents[0].dynamics: expected one of single_integrator, unicycle",
        ),
        (
            "sensing_radius: 2.0",
            "sensing_radius: 2.0\nperception: {dropout: 1.5}",
            "perception.dropout: expected a probability in [0, 1), got 1.5",
        ),
        (
            "sensing_radius: 2.0",
            "sensing_radius: 2.0\nsafety_distance: 0.3",
            "safety_distance: expected at least twice the largest body radius",
        ),
        ("sensing_radius: 2.0", "sensing_radius: 0.3", "sensing_radius: expected more than"),
        (
            "sensing_radius: 2.0",
            "sensing_radius: 2.0\nobstacles: [{center: [-2, 1.0], radius: 0.9}]",
            "agents[0].start: expected at least 0.2 m from the surface of obstacles[0]",
        ),
        (
            "goal: [2, 0]}",
            "goal: [9, 0]}",
            "agents[0].goal: expected a point at least the body radius inside the arena",
        ),
        (
            "sensing_radius: 2.0",
            "sensing_radius: 2.0\ngenerator: {family: circle_swap, num_agents: 4}",
            "agents: expected either a non-empty agents list or a generator block, got both",
        ),
        ("name: test", "name: test\nversion: 7", "version: expected 1, got 7"),
        ("name: test", "name: test\ncolour: red", "colour: unknown key"),
        (
            "agents:\n  - {start: [-2, 0], goal: [2, 0]}\n  - {start: [2, 0], goal: [-2, 0]}",
            "agents: 3",
            "agents: expected a list, got 3",
        ),
        ("name: test", "name: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_files_name_the_file_the_key_and_the_expectation(tmp_path, old, new, message):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


GENERATED = """
name: gen
dt: 0.1
horizon: 10
sensing_radius: 2.0
arena: {x_min: -4, y_min: -3, x_max: 4, y_max: 3}
generator:
  family: doorway
  num_agents: 6
  params: {door_width: 1.0}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("family: doorway", "family: maze", "generator.family: expected one of circle_swap"),
        (
            "num_agents: 6",
            "num_agents: six",
            "generator.num_agents: expected an integer, got 'six'",
        ),
        (
            "{door_width: 1.0}",
            "{door_width: -1.0}",
            "generator.params.door_width: expected a positive number, got -1.0",
        ),
        (
            "{door_width: 1.0}",
            "{door_width: 0.3}",
            "generator.params.door_width: expected at least the safety distance 0.4 m",
        ),
        ("{door_width: 1.0}", "{door_wdith: 1.0}", "generator.params.door_wdith: unknown key"),
        (
            "{door_width: 1.0}",
            "{wall_obstacle_spacing: 0.5}",
            "generator.params.wall_obstacle_spacing: expected at most twice",
        ),
        ("num_agents: 6", "num_agents: 200", "generator: could place only"),
        (
            "arena: {x_min: -4, y_min: -3, x_max: 4, y_max: 3}",
            "arena: {margin: 1}",
            "arena: expected explicit x_min, y_min, x_max, y_max: the doorway family",
        ),
    ],
)
def test_malformed_generator_blocks_are_named(tmp_path, old, new, message):
    assert old in GENERATED
    path = write(tmp_path, GENERATED.replace(old, new, 1))
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_team_size_overrides_are_checked():
    swap = parse_scenario(
        {
            "name": "s",
            "dt": 0.1,
            "horizon": 5,
            "sensing_radius": 2.0,
            "arena": {"margin": 1.0},
            "generator": {"family": "circle_swap", "num_agents": 4},
        },
        "inline",
    )
    with pytest.raises(
        ValueError, match="inline: num_agents: family circle_swap needs an integer >= 2"
    ):
        swap.sample(num_agents=1)
