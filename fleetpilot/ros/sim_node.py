"""``sim`` lifecycle node: a scenario's PyBullet world standing in for the robots.

For every robot ``robot_<i>`` of the scenario it subscribes ``/robot_<i>/cmd_vel`` (Twist) and
publishes ``/robot_<i>/odom`` (Odometry), ``/robot_<i>/neighbors`` (AgentStateArray, simulated
perception with the scenario's noise, dropout and latency) and, once a second,
``/robot_<i>/goal_pose`` (PoseStamped, the scenario's goal). Fleet-wide it publishes
``/fleet/robot_states``, ``/clock`` (so other nodes may run with ``use_sim_time``) and, once a
second, ``/diagnostics`` with the sim time, contact counts and robots arrived.

With ``lidar_rate_hz`` > 0 each robot also gets ``/robot_<i>/scan`` (sensor_msgs/LaserScan,
sensor-data QoS, frame ``robot_<i>/base_scan`` at the robot's centre facing forward): a
``lidar_beams``-beam simulated scan out to ``lidar_range`` (:mod:`fleetpilot.sim.lidar`).

Like a real base driver, a robot whose ``cmd_vel`` is older than ``command_timeout`` (steady
clock) or invalid is commanded to stand still. The world is built in ``on_configure`` and
steps only while active, at ``rate_hz`` x ``real_time_factor`` of wall time.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Header

from fleetpilot.agent_states import AgentStates
from fleetpilot.msg import AgentStateArray
from fleetpilot.ros.convert import (
    arrays_to_odometry,
    seconds_to_time,
    states_to_agent_state_array,
    twist_to_command,
    yaw_to_quaternion,
)
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_int, declare_value
from fleetpilot.ros.qos import COMMAND_QOS
from fleetpilot.sim.world import WorldConfig

SCENARIO_DIRECTORY = Path("sim") / "scenarios"


def resolve_scenario(name: str) -> Path:
    """A scenario file from a path, or a name in the package's ``sim/scenarios``.

    Raises:
        ValueError: naming the scenario and where it was looked for.
    """
    stem = name if name.endswith(".yaml") else f"{name}.yaml"
    candidates = [
        Path(name),
        Path(__file__).resolve().parents[2] / SCENARIO_DIRECTORY / stem,  # source checkout
    ]
    try:  # installed with colcon: <prefix>/share/fleetpilot/sim/scenarios
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("fleetpilot"))
        candidates.append(share / SCENARIO_DIRECTORY / stem)
    except (ImportError, LookupError, OSError):
        pass  # not installed through ament: the checkout is the only place
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise ValueError(f"scenario: no file for {name!r} (looked at {looked})")


def load_instance(name: str, num_agents: int, seed: int):
    """The sampled scenario instance; ``num_agents`` 0 and ``seed`` -1 keep the file's.

    A warehouse file (``kind: warehouse``) gives its world: robots at their homes among the
    shelves (the ``warehouse_tasks`` node samples the same file and seed for the tasks)."""
    from fleetpilot.scenarios import load_scenario
    from fleetpilot.warehouse.scenario import is_warehouse_file, load_warehouse

    path = resolve_scenario(name)
    if is_warehouse_file(path):
        warehouse = load_warehouse(path).sample(
            seed=None if seed < 0 else seed, num_robots=None if num_agents == 0 else num_agents
        )
        return warehouse.world
    scenario = load_scenario(path)
    return scenario.sample(
        seed=None if seed < 0 else seed, num_agents=None if num_agents == 0 else num_agents
    )


class SimNode(LifecycleNode):
    """Lifecycle node hosting one PyBullet world."""

    def __init__(self, node_name: str = "sim", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_value(self, "scenario", "circle_swap_8", "scenario file, or a name in sim/")
        declare_int(self, "num_agents", 0, 0, 1000, "team size; 0 keeps the scenario's")
        declare_int(self, "seed", -1, -1, 2**31 - 1, "layout seed; -1 keeps the scenario's")
        declare_int(self, "perception_seed", 0, 0, 2**31 - 1, "perception noise seed")
        declare_value(self, "frame_id", "map", "world frame of every published pose")
        declare_float(self, "rate_hz", 50.0, 1.0, 100.0, "control/publish rate [Hz]")
        declare_float(
            self, "physics_dt", 0.0, 0.0, 0.05, "physics step [s]; 0: the longest <= 25 ms"
        )
        declare_float(self, "real_time_factor", 1.0, 0.05, 20.0, "sim seconds per wall second")
        declare_float(self, "command_timeout", 0.5, 0.01, 10.0, "stale cmd_vel stops a robot [s]")
        declare_float(self, "lidar_rate_hz", 0.0, 0.0, 100.0, "scans per second; 0: no lidar")
        declare_int(self, "lidar_beams", 360, 1, 4096, "beams per scan (a full turn)")
        declare_float(self, "lidar_range", 4.0, 0.1, 100.0, "lidar range [m]")
        declare_float(self, "lidar_noise", 0.01, 0.0, 1.0, "lidar range noise std [m]")
        self.instance = None
        self.world = None
        self.perception = None
        self.robot_ids: tuple[str, ...] = ()
        self._outputs: dict[str, object] = {}
        self._inputs = []
        self._timer = None
        self._commands = np.zeros((0, 2))
        self._command_times = np.zeros(0)
        self._step = 0.0
        self._last_diagnostics = -np.inf
        self._lidar = None
        self._last_scan = -np.inf

    # Lifecycle transitions ------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        from fleetpilot.sim.scenario_world import build_world, robot_names

        value = self.get_parameter
        try:
            self.instance = load_instance(
                value("scenario").value, value("num_agents").value, value("seed").value
            )
            self._step = 1.0 / value("rate_hz").value
            physics_dt = value("physics_dt").value or self._step / math.ceil(
                self._step / WorldConfig.physics_dt - 1e-9
            )  # 0: the world's default step, shortened to divide the control period
            substeps = round(self._step / physics_dt)
            if substeps < 1 or abs(substeps * physics_dt - self._step) > 1e-9:
                raise ValueError(
                    f"rate_hz: 1/rate_hz must be a multiple of physics_dt={physics_dt:g} s, "
                    f"got {self._step:g} s"
                )
            self.world, self.perception = build_world(
                self.instance,
                physics_dt=physics_dt,
                perception_seed=value("perception_seed").value,
            )
        except (ValueError, OSError) as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        if value("lidar_rate_hz").value > 0:
            from fleetpilot.sim.lidar import LidarConfig, SimulatedLidar

            self._lidar = SimulatedLidar(
                LidarConfig(
                    beams=value("lidar_beams").value,
                    range_max=value("lidar_range").value,
                    noise_sigma=value("lidar_noise").value,
                    rate=value("lidar_rate_hz").value,
                ),
                seed=value("perception_seed").value,
            )
        self.robot_ids = robot_names(self.instance.num_agents)
        count = len(self.robot_ids)
        self._commands = np.zeros((count, 2))
        self._command_times = np.full(count, -np.inf)
        publisher = self.create_lifecycle_publisher
        self._outputs = {
            "clock": publisher(Clock, "/clock", COMMAND_QOS),
            "fleet": publisher(AgentStateArray, "/fleet/robot_states", COMMAND_QOS),
            "diagnostics": publisher(DiagnosticArray, "/diagnostics", COMMAND_QOS),
        }
        for robot in self.robot_ids:
            self._outputs[f"{robot}/odom"] = publisher(Odometry, f"/{robot}/odom", COMMAND_QOS)
            self._outputs[f"{robot}/neighbors"] = publisher(
                AgentStateArray, f"/{robot}/neighbors", COMMAND_QOS
            )
            self._outputs[f"{robot}/goal_pose"] = publisher(
                PoseStamped, f"/{robot}/goal_pose", COMMAND_QOS
            )
            if self._lidar is not None:
                self._outputs[f"{robot}/scan"] = publisher(
                    LaserScan, f"/{robot}/scan", qos_profile_sensor_data
                )
        self._inputs = [
            self.create_subscription(
                Twist,
                f"/{robot}/cmd_vel",
                lambda msg, index=index: self._on_command(index, msg),
                COMMAND_QOS,
            )
            for index, robot in enumerate(self.robot_ids)
        ]
        self.get_logger().info(
            f"scenario {self.instance.name}: {count} robots, {self._step * 1e3:g} ms steps"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        factor = self.get_parameter("real_time_factor").value
        self._timer = self.create_timer(self._step / factor, self._advance)
        result = super().on_activate(state)
        self._publish_state()  # robots see where they are before the first step
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._destroy_timer()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._destroy_timer()
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        for output in self._outputs.values():
            self.destroy_lifecycle_publisher(output)
        self._outputs = {}
        if self.world is not None:
            self.world.close()
            self.world = None
        self._lidar = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        return self.on_cleanup(state)

    def _destroy_timer(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    # Work -------------------------------------------------------------------------------------
    def _on_command(self, index: int, msg: Twist) -> None:
        try:
            self._commands[index] = twist_to_command(msg)
        except ValueError as error:
            self._commands[index] = 0.0
            self._command_times[index] = -np.inf
            self.get_logger().warning(
                f"/{self.robot_ids[index]}/cmd_vel rejected: {error}", throttle_duration_sec=1.0
            )
            return
        self._command_times[index] = time.monotonic()

    def _advance(self) -> None:
        if not self.context.ok():  # shutting down
            return
        timeout = self.get_parameter("command_timeout").value
        fresh = time.monotonic() - self._command_times <= timeout
        self.world.command(np.where(fresh[:, None], self._commands, 0.0))
        self.world.advance(self._step)
        self._publish_state()

    def _publish_state(self) -> None:
        world, frame = self.world, self.get_parameter("frame_id").value
        now = world.time
        poses = world.poses()
        velocities, yaw_rates = world.velocities()
        self.perception.record(now, poses, velocities)
        self._outputs["clock"].publish(Clock(clock=seconds_to_time(now)))
        fleet = AgentStates(
            self.robot_ids,
            poses[:, :2],
            poses[:, 2],
            velocities,
            self.instance.radii,
            np.full(len(poses), now),
        )
        self._outputs["fleet"].publish(states_to_agent_state_array(fleet, frame, now))
        for index, robot in enumerate(self.robot_ids):
            self._outputs[f"{robot}/odom"].publish(
                arrays_to_odometry(
                    poses[index],
                    velocities[index],
                    float(yaw_rates[index]),
                    frame,
                    f"{robot}/base_link",
                    now,
                )
            )
            neighbours = self.perception.observe(index, poses[index, :2])
            self._outputs[f"{robot}/neighbors"].publish(
                states_to_agent_state_array(neighbours, frame, now)
            )
        if self._lidar is not None and now - self._last_scan >= 1.0 / self._lidar.config.rate:
            self._last_scan = now
            self._publish_scans(now)
        if now - self._last_diagnostics >= 1.0:
            self._last_diagnostics = now
            self._publish_goals(frame, now)
            self._publish_diagnostics(poses, now)

    def _publish_scans(self, now: float) -> None:
        config = self._lidar.config
        geometry = config.geometry
        for robot, ranges in zip(self.robot_ids, self._lidar.scan(self.world), strict=True):
            scan = LaserScan(
                header=Header(frame_id=f"{robot}/base_scan", stamp=seconds_to_time(now)),
                angle_min=geometry.angle_min,
                angle_max=geometry.angle_min + geometry.angle_increment * (config.beams - 1),
                angle_increment=geometry.angle_increment,
                scan_time=1.0 / config.rate,
                range_min=config.range_min,
                range_max=config.range_max,
            )
            scan.ranges = ranges.astype(np.float32).tolist()
            self._outputs[f"{robot}/scan"].publish(scan)

    def _publish_goals(self, frame: str, now: float) -> None:
        for index, robot in enumerate(self.robot_ids):
            goal = PoseStamped(header=Header(frame_id=frame, stamp=seconds_to_time(now)))
            goal.pose.position.x, goal.pose.position.y = (
                float(v) for v in self.instance.goals[index]
            )
            goal.pose.orientation = yaw_to_quaternion(0.0)
            self._outputs[f"{robot}/goal_pose"].publish(goal)

    def arrived(self, poses: np.ndarray) -> np.ndarray:
        """(N,) bool: robots within the scenario's goal tolerance of their goals."""
        gaps = np.linalg.norm(poses[:, :2] - self.instance.goals, axis=1)
        return gaps <= self.instance.goal_tolerance

    def _publish_diagnostics(self, poses: np.ndarray, now: float) -> None:
        kinds = [contact.other_kind for contact in self.world.contacts]
        values = {
            "sim_time": f"{now:.3f}",
            "robots": str(len(self.robot_ids)),
            "arrived": str(int(self.arrived(poses).sum())),
            "robot_contacts": str(kinds.count("robot")),
            "obstacle_contacts": str(kinds.count("obstacle")),
            "wall_contacts": str(kinds.count("wall")),
        }
        contacts = sum(int(values[k]) for k in values if k.endswith("_contacts"))
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if contacts else DiagnosticStatus.OK,
            name=f"{self.get_fully_qualified_name()}: {self.instance.name}",
            message=f"{contacts} contacts" if contacts else "no contacts",
            hardware_id="pybullet",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        self._outputs["diagnostics"].publish(
            DiagnosticArray(header=Header(stamp=seconds_to_time(now)), status=[status])
        )


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(SimNode, args)
