"""The ROS-free per-robot safety loop behind the cbf_safety node: it stops on missing, stale or
invalid inputs and on tuner/filter failures, with a reason, and recovers on good data."""

import math

import numpy as np
import pytest
import torch

from fleetpilot.agent_states import AgentStates
from fleetpilot.ros.learned_tuning import resolve_device
from fleetpilot.ros.robot_safety import RobotSafetyConfig, RobotSafetyLoop, obstacles_from_flat
from fleetpilot.ros.tuning import make_tuner_adapter
from fleetpilot.safety import SafetyMode


def neighbours(ids, positions, headings=None) -> AgentStates:
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    count = len(positions)
    headings = np.zeros(count) if headings is None else np.asarray(headings, dtype=float)
    return AgentStates(
        tuple(ids), positions, headings, np.zeros((count, 2)), np.full(count, 0.2), np.zeros(count)
    )


def make_loop(**config) -> RobotSafetyLoop:
    config.setdefault("robot_id", "me")
    return RobotSafetyLoop(RobotSafetyConfig(**config), make_tuner_adapter("fixed:alpha=1"))


def feed(loop, now, others=None, nominal=(0.5, 0.0)):
    loop.set_odometry(now, np.zeros(3), np.zeros(2))
    loop.set_neighbours(now, others if others is not None else neighbours([], []))
    loop.set_nominal(now, np.array(nominal))


def test_stops_until_every_input_arrived():
    loop = make_loop()
    decision = loop.tick(0.0)
    assert decision.mode == SafetyMode.STOPPED and np.all(decision.command == 0)
    assert decision.reason == "odom: no message received yet"
    loop.set_odometry(0.0, np.zeros(3), np.zeros(2))
    assert loop.tick(0.0).reason == "neighbors: no message received yet"


def test_passes_a_safe_nominal_command_exactly():
    loop = make_loop()
    feed(loop, 0.0, neighbours(["far"], [[5.0, 5.0]]), nominal=(0.5, 0.2))
    decision = loop.tick(0.01)
    assert decision.mode == SafetyMode.NOMINAL and decision.reason == ""
    assert np.array_equal(decision.command, [0.5, 0.2])
    assert decision.parameters.alpha == 1.0 and decision.neighbour_ids == ()


def test_slows_towards_a_close_neighbour_and_drops_itself_from_the_list():
    loop = make_loop(safety_distance=0.5)
    feed(loop, 0.0, neighbours(["me", "ahead"], [[0.0, 0.0], [0.8, 0.0]], [0.0, math.pi]))
    decision = loop.tick(0.01)
    assert decision.mode == SafetyMode.FILTERED
    assert decision.command[0] < 0.5
    assert decision.neighbour_ids == ("ahead",) and decision.num_constraints == 1


def test_stale_neighbours_stop_the_robot_and_fresh_ones_release_it():
    loop = make_loop(neighbours_timeout=0.3)
    feed(loop, 0.0)
    assert loop.tick(0.2).mode == SafetyMode.NOMINAL
    loop.set_odometry(0.5, np.zeros(3), np.zeros(2))
    loop.set_nominal(0.5, np.array([0.5, 0.0]))
    stale = loop.tick(0.5)
    assert stale.mode == SafetyMode.STOPPED and np.all(stale.command == 0)
    assert stale.reason.startswith("neighbors: stale, last message 0.50 s ago")
    loop.set_neighbours(0.6, neighbours([], []))
    assert loop.tick(0.6).mode == SafetyMode.NOMINAL


def test_a_rejected_message_stops_until_a_valid_one_arrives():
    loop = make_loop()
    feed(loop, 0.0)
    loop.reject("odom", "pose.position.x: expected a finite number, got nan")
    decision = loop.tick(0.01)
    assert decision.mode == SafetyMode.STOPPED and np.all(decision.command == 0)
    assert decision.reason == "odom rejected: pose.position.x: expected a finite number, got nan"
    loop.set_odometry(0.02, np.zeros(3), np.zeros(2))
    assert loop.tick(0.02).mode == SafetyMode.NOMINAL


class FailingTuner:
    """A tuner whose evaluation fails (e.g. a learned model on a lost GPU)."""

    spec = "failing"

    def parameters(self, *args):
        raise RuntimeError("CUDA error: device lost")


def test_a_tuner_or_filter_failure_stops_the_robot_with_the_cause():
    loop = RobotSafetyLoop(RobotSafetyConfig(robot_id="me"), FailingTuner())
    feed(loop, 0.0)
    decision = loop.tick(0.01)
    assert decision.mode == SafetyMode.STOPPED and np.all(decision.command == 0)
    assert decision.reason == "safety filter failed: RuntimeError: CUDA error: device lost"


def test_slack_reports_the_relaxation_of_a_squeezed_robot():
    loop = make_loop(safety_distance=0.5, projection_distance=0.1)
    feed(loop, 0.0, neighbours(["ahead"], [[3.0, 0.0]]), nominal=(0.5, 0.5))
    free = loop.tick(0.01)
    assert free.mode == SafetyMode.NOMINAL and free.slack == 0.0
    feed(loop, 0.02, neighbours(["ahead", "behind"], [[0.3, 0], [-0.3, 0]]), nominal=(0.5, 0.5))
    squeezed = loop.tick(0.03)
    assert squeezed.mode == SafetyMode.RELAXED
    assert squeezed.slack == pytest.approx(0.5 * (0.7**2 - 0.3**2), rel=1e-9)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("fixed:alpha=-3", r"alpha: expected a value in \[0.05, 10\]"),
        ("fixed:alpha", "name=value"),
        ("fixed:alpha=x", "alpha: expected a number"),
        ("fixed:speed=1", "speed"),
        ("fixed:alpha=1,alpha=2", "unique"),
    ],
)
def test_bad_fixed_tuner_specs_name_the_entry(spec, message):
    with pytest.raises(ValueError, match=message):
        make_tuner_adapter(spec)


@pytest.mark.parametrize(
    "spec", ["fixed:alpha=2", "fixed:gain=0.5, alpha=0.3,tangential=-1", "fixed:alpha=11"]
)
def test_fixed_specs_parse_like_the_training_stack(spec):
    """The node parses fixed specs without torch_geometric; training and evaluation use
    fleetpilot.envs.tuners: both must accept and refuse the same specs, with the same values."""
    from fleetpilot.envs.tuners import make_tuner

    try:
        expected = dict(make_tuner(spec).values)
    except ValueError:
        with pytest.raises(ValueError):
            make_tuner_adapter(spec)
        return
    got = make_tuner_adapter(spec).parameters(
        np.zeros(3), np.zeros(2), None, neighbours([], []), RobotSafetyConfig()
    )
    for name, value in expected.items():
        assert getattr(got, name) == value, name


def test_fixed_tuner_gives_its_values_and_defaults():
    parameters = make_tuner_adapter("fixed:alpha=2,tangential=0.5").parameters(
        np.zeros(3), np.zeros(2), None, neighbours([], []), RobotSafetyConfig()
    )
    assert (parameters.alpha, parameters.gain, parameters.tangential) == (2.0, 1.0, 0.5)
    assert parameters.responsibility is None


def test_braking_sends_zero():
    loop = make_loop(safety_distance=0.5)
    # Overlapping neighbours on both sides: nothing keeps every barrier from shrinking.
    feed(
        loop,
        0.0,
        neighbours(["a", "b", "c", "d"], [[0.2, 0], [-0.2, 0], [0, 0.2], [0, -0.2]]),
        nominal=(1.0, 0.0),
    )
    decision = loop.tick(0.01)
    assert decision.mode in (SafetyMode.RELAXED, SafetyMode.BRAKING)
    if decision.mode == SafetyMode.BRAKING:
        assert np.all(decision.command == 0)
    assert decision.reason


def test_deactivation_reset_forgets_inputs():
    loop = make_loop()
    feed(loop, 0.0)
    loop.reset()
    assert loop.tick(0.01).mode == SafetyMode.STOPPED


@pytest.mark.parametrize(
    "field, value",
    [("odometry_timeout", 0.0), ("safety_distance", -1.0), ("control_period", math.nan)],
)
def test_config_rejects_bad_values_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        RobotSafetyConfig(**{field: value})


def test_obstacles_are_checked_triples():
    assert obstacles_from_flat([1.0, 2.0, 0.5]).tolist() == [[1.0, 2.0, 0.5]]
    with pytest.raises(ValueError, match="multiple of 3"):
        obstacles_from_flat([1.0, 2.0])
    with pytest.raises(ValueError, match=r"obstacles\[0\].radius"):
        obstacles_from_flat([1.0, 2.0, 0.0])


def test_devices_are_validated():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_a_neighbour_dropping_out_of_the_list_stays_a_grown_disc_until_the_hold_time():
    loop = make_loop(safety_distance=0.5, track_hold_time=0.5, neighbour_max_speed=1.0)
    feed(loop, 0.0, neighbours(["ahead"], [[1.0, 0.0]]), nominal=(1.0, 0.0))
    assert loop.tick(0.0).num_constraints == 1
    feed(loop, 0.3, neighbours([], []), nominal=(1.0, 0.0))  # "ahead" vanished from perception
    held = loop.tick(0.3)
    assert held.num_constraints == 1 and held.mode == SafetyMode.FILTERED
    # Where it can have got to in 0.3 s is closer than where it was: more caution, not less.
    assert held.command[0] < make_filtered_speed(1.0)
    feed(loop, 0.9, neighbours([], []), nominal=(1.0, 0.0))  # beyond the hold time: dropped
    assert loop.tick(0.9).num_constraints == 0


def make_filtered_speed(distance: float) -> float:
    """Forward speed the loop allows towards a listed neighbour ``distance`` ahead."""
    loop = make_loop(safety_distance=0.5)
    feed(loop, 0.0, neighbours(["ahead"], [[distance, 0.0]]), nominal=(1.0, 0.0))
    return float(loop.tick(0.0).command[0])


def drive_at_wall(loop, scan=None, wall=1.5, dt=0.05, steps=120) -> float:
    """Drives ``loop``'s robot from x = 0 at full speed towards the wall x = ``wall``, with
    ``scan(x)`` -> (ranges, geometry) as its lidar when given; checks every tick's mode and
    that the filtered point stays D/2 = 0.2 m off the wall; returns where the robot got to."""
    x = 0.0
    for step in range(steps):
        now = step * dt
        loop.set_odometry(now, np.array([x, 0.0, 0.0]), np.zeros(2))
        loop.set_neighbours(now, neighbours([], []))
        loop.set_nominal(now, np.array([1.0, 0.0]))
        if scan is not None:
            loop.set_scan(now, *scan(x))
        decision = loop.tick(now)
        assert decision.mode in (SafetyMode.NOMINAL, SafetyMode.FILTERED)
        x += dt * decision.command[0]
        assert x + 0.1 <= wall - 0.2 + 1e-6
    return x


def test_loop_keeps_off_the_arena_walls_it_is_given():
    loop = make_loop(safety_distance=0.4, arena=(-5.0, -5.0, 1.5, 5.0))
    assert drive_at_wall(loop) > 1.0  # it drove up to the wall and stopped there
    with pytest.raises(ValueError, match=r"arena: expected \[\] or \[x_min"):
        make_loop(arena=(0.0, 0.0, 1.0))


def test_odometry_velocity_toward_a_wall_behind_stops_the_reversing_in_time():
    """A robot 0.33 m from the wall behind it (D/2 = 0.25 m): at rest it may still back up
    slowly, but its odometry says it is already backing at 0.5 m/s, which would carry it past
    the margin before a new command takes hold, so the loop forbids backing further."""
    loop = make_loop(safety_distance=0.5, arena=(0.0, -5.0, 5.0, 5.0))
    pose = np.array([0.33, 0.0, 0.0])
    commands = {}
    for speed in (0.0, 0.5):
        loop.set_odometry(0.0, pose, np.array([-speed, 0.0]))
        loop.set_neighbours(0.0, neighbours([], []))
        loop.set_nominal(0.0, np.array([-1.0, 0.0]))
        commands[speed] = loop.tick(0.01).command
    assert commands[0.0][0] < -0.05
    assert commands[0.5][0] >= -1e-9
    with pytest.raises(ValueError, match="reaction_time"):
        make_loop(reaction_time=-0.1)
