"""The map-aware nominal controller: A* waypoints through the static map lead a robot around a
wall in real PyBullet, the map never reaches the safety filter as obstacles in lidar runs (it
only tells the scan conversion which returns are walls: no motion margin on those, the full
margin on a silent robot), and bad settings are refused with the field named."""

import dataclasses

import numpy as np
import pytest
import yaml

from fleetpilot.cli import main
from fleetpilot.envs.tuners import make_tuner
from fleetpilot.safety.scan_obstacles import scan_to_obstacles
from fleetpilot.scenarios import Arena, NominalSpec, ScenarioError, parse_scenario
from fleetpilot.sim.lidar import LidarConfig
from fleetpilot.sim.nominal import WaypointNominal, make_nominal, static_map
from fleetpilot.sim.runner import ScenarioRun, SimConfig

# A wall across the middle of a 6 m x 4 m room, x = 0, y from -2 to 1: the only way from the
# west half to the east half is the 1 m gap at the north end.
WALL = [[0.0, float(round(y, 2)), 0.1] for y in np.arange(-1.95, 1.0, 0.15)]
ARENA = Arena(-3.0, -2.0, 3.0, 2.0)
WAYPOINTS = NominalSpec("waypoints")


def walled_room(nominal: dict | None = None, **overrides) -> dict:
    data = {
        "version": 1,
        "name": "walled_room",
        "dt": 0.1,
        "horizon": 20.0,
        "sensing_radius": 2.0,
        "goal_tolerance": 0.1,
        "arena": {"x_min": -3.0, "y_min": -2.0, "x_max": 3.0, "y_max": 2.0},
        "robot": {"dynamics": "unicycle", "radius": 0.2, "max_speed": 1.0},
        "agents": [{"start": [-1.5, -1.0], "goal": [1.5, -1.0], "heading": 0.0}],
        "obstacles": [{"center": c[:2], "radius": c[2]} for c in WALL],
    }
    if nominal is not None:
        data["nominal"] = nominal
    data.update(overrides)
    return data


def test_static_map_blocks_the_clearance_band_and_prices_the_edges():
    arena = Arena(-3.0, -2.0, 3.0, 2.0)
    grid, frame, cost = static_map(np.array(WALL), arena, 0.25, 0.35)
    assert (grid.height, grid.width) == (16, 24)
    centres_blocked = ~grid.is_free(frame.to_cells(np.array([[0.0, -1.0], [0.3, 0.0]])))
    assert centres_blocked.all()  # on the wall, and 0.2 m from its surface
    assert grid.is_free(frame.to_cells(np.array([[0.0, 1.5], [-1.5, -1.0]]))).all()
    assert cost.min() == 1.0 and (cost >= 1.0).all()
    # A cell in the gap, beside the wall's end, costs more than one in the open.
    gap, open_cell = frame.to_cells(np.array([[0.0, 1.5], [-1.5, 0.0]]))
    flat = lambda cell: cell[0] * grid.width + cell[1]  # noqa: E731
    assert cost[flat(gap)] > cost[flat(open_cell)]


def test_waypoints_lead_around_the_wall_not_through_it():
    planner = WaypointNominal(
        np.array(WALL), Arena(-3.0, -2.0, 3.0, 2.0), NominalSpec("waypoints")
    )
    position, goal = np.array([[-0.8, -1.0]]), np.array([[1.5, -1.0]])
    waypoint = planner.waypoints(position, goal)[0]
    assert waypoint[1] > -0.8  # north, toward the gap, not east into the wall
    assert 0.2 < np.linalg.norm(waypoint - position[0]) <= 1.0 + 1e-9
    # Close to the goal with nothing in between: the goal itself.
    near = planner.waypoints(np.array([[1.2, -1.0]]), goal)
    np.testing.assert_allclose(near[0], goal[0])
    assert make_nominal(NominalSpec(), np.array(WALL), Arena(-3.0, -2.0, 3.0, 2.0)) is None


def test_a_planner_bends_around_a_robot_it_knows_of():
    planner = WaypointNominal(
        np.zeros((0, 3)), Arena(-3.0, -2.0, 3.0, 2.0), NominalSpec("waypoints")
    )
    positions = np.array([[-1.0, 0.0], [0.0, 0.0]])  # robot 1 parked on robot 0's line
    goals = np.array([[1.5, 0.0], [0.0, 0.0]])
    blind = planner.waypoints(positions, goals)
    known = np.array([[False, True], [False, False]])
    seeing = planner.waypoints(positions, goals, known, 0.4)
    assert abs(blind[0, 1]) < 0.2  # straight at robot 1
    assert abs(seeing[0, 1]) > 0.2  # off the line, around it


def run_room(nominal: str, lidar: bool, max_steps: int | None = None) -> tuple[dict, object]:
    scenario = parse_scenario(walled_room({"type": nominal}), "walled_room")
    instance = scenario.sample()
    config = SimConfig(
        max_steps=max_steps,
        lidar=LidarConfig(range_max=3.0) if lidar else None,
        nominal=scenario.nominal,
    )
    with ScenarioRun(instance, make_tuner("fixed:alpha=1,gain=1"), config) as run:
        run.run()
        return run.contact_counts(), run.episode()


def test_waypoints_reach_a_goal_behind_a_wall_in_pybullet_with_lidar_only():
    contacts, metrics = run_room("waypoints", lidar=True)
    assert metrics.success, metrics.arrived_fraction
    assert contacts == {"robot": 0, "obstacle": 0, "wall": 0}
    assert metrics.min_obstacle_gap >= 0.2  # the body radius: the scan kept it off the wall


def test_go_to_goal_stalls_behind_the_same_wall():
    contacts, metrics = run_room("go-to-goal", lidar=False, max_steps=120)
    assert not metrics.success
    assert contacts == {"robot": 0, "obstacle": 0, "wall": 0}


def test_the_map_never_reaches_the_filter_in_lidar_runs():
    data = walled_room(
        {"type": "waypoints"},
        agents=[
            {"start": [-1.5, -1.0], "goal": [1.5, -1.0], "heading": 0.0},
            {"start": [-1.5, 1.0], "goal": [1.5, 1.0], "heading": 0.0},
        ],
    )
    instance = parse_scenario(data, "walled_room").sample()
    config = SimConfig(
        max_steps=5,
        lidar=LidarConfig(range_max=3.0),
        silent_robots=1,
        nominal=NominalSpec("waypoints"),
    )
    seen = []
    with ScenarioRun(instance, make_tuner("fixed:alpha=1,gain=1"), config) as run:
        assert run.filter.cbf.arena is None  # the arena walls are not in the filter either
        assert run.nominal is not None and run.nominal.grid.blocked.any()  # the planner has it
        inner = run.filter

        def spy(poses, commands, alpha, obstacles, responsibility=None, scans=None, **rest):
            seen.append((obstacles, scans))
            return inner(poses, commands, alpha, obstacles, responsibility, scans, **rest)

        run.filter = spy
        run.run()
        assert run._reported_neighbours()[0, 1] == False  # noqa: E712 (silent: no planner sees it)
    assert len(seen) == 5
    for obstacles, scans in seen:
        assert obstacles is None
        assert scans is not None and scans.shape == (2, 360)


def test_lidar_runs_with_the_map_charge_the_motion_margin_to_robots_not_walls():
    """Robot 0 sees the mapped wall and robot 1, a silent robot, in one real PyBullet scan:
    the wall's circles carry no motion margin, robot 1's the full one (0.1 m)."""
    data = walled_room(
        {"type": "waypoints"},
        agents=[
            {"start": [-1.0, -1.0], "goal": [1.5, -1.0], "heading": 0.0},
            {"start": [-1.0, 0.2], "goal": [1.5, 1.0], "heading": 0.0},
        ],
    )
    instance = parse_scenario(data, "walled_room").sample()
    lidar = LidarConfig(range_max=3.0)
    config = SimConfig(max_steps=1, lidar=lidar, silent_robots=1, nominal=WAYPOINTS)
    tuner = make_tuner("fixed:alpha=1,gain=1")
    with ScenarioRun(instance, tuner, config) as run:
        reduction, static_map = run.filter.scan_reduction, run.filter.static_map
        assert static_map is not None and reduction.motion_margin == pytest.approx(0.1)
        pose = run.world.poses()[0]
        circles = scan_to_obstacles(
            run.lidar.scan(run.world)[0], lidar.geometry, pose, reduction, None, static_map
        )
    spacing = np.linalg.norm(circles[:, :2] - pose[:2], axis=1) * lidar.geometry.angle_increment
    margin = circles[:, 2] - 3 * lidar.noise_sigma - spacing / 2
    on_robot = np.linalg.norm(circles[:, :2] - [-1.0, 0.2], axis=1) < 0.25
    on_wall = np.abs(circles[:, 0]) < 0.15  # the wall's discs stand on x = 0
    assert on_robot.any() and on_wall.any()
    np.testing.assert_allclose(margin[on_robot], 0.1, atol=1e-9)
    np.testing.assert_allclose(margin[on_wall], 0.0, atol=1e-9)
    # Every return charged: without the waypoint planner's map, or when switched off.
    for nominal, static in ((NominalSpec("go-to-goal"), True), (WAYPOINTS, False)):
        other = dataclasses.replace(config, nominal=nominal, static_returns=static)
        with ScenarioRun(instance, tuner, other) as run:
            assert run.filter.static_map is None


def test_bad_nominal_settings_are_refused_with_the_field_named(tmp_path, capsys):
    for nominal, field, value in (
        ({"type": "astar"}, "nominal.type", "astar"),
        ({"type": "waypoints", "resolution": 0}, "nominal.resolution", "0"),
        ({"type": "waypoints", "clearance": -0.1}, "nominal.clearance", "-0.1"),
        ({"type": "waypoints", "lookahead": 0.1}, "nominal.lookahead", "0.1"),
        ({"planner": "astar"}, "nominal.planner", "unknown key"),
    ):
        with pytest.raises(ScenarioError) as error:
            parse_scenario(walled_room(nominal), "room.yaml")
        assert field in str(error.value) and value in str(error.value)
    with pytest.raises(ValueError, match="nominal"):
        SimConfig(nominal="waypoints")
    with pytest.raises(ValueError, match="clearance"):
        WaypointNominal(np.array(WALL), Arena(-3.0, -2.0, 3.0, 2.0), NominalSpec(clearance=5.0))
    path = tmp_path / "room.yaml"
    path.write_text(yaml.safe_dump(walled_room()), encoding="utf-8")
    assert main(["sim", str(path), "--nominal", "straight", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "--nominal" in error and "'straight'" in error and "waypoints" in error


def test_sim_command_takes_the_nominal_from_the_flag(tmp_path, capsys):
    import json

    path = tmp_path / "room.yaml"
    path.write_text(yaml.safe_dump(walled_room()), encoding="utf-8")
    args = ["sim", str(path), "--nominal", "waypoints", "--max-steps", "3", "--no-progress"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["nominal"] == "waypoints"
    assert dataclasses.replace(NominalSpec(), type="waypoints").type == "waypoints"
