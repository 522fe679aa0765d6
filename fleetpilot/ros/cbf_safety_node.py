"""``cbf_safety`` lifecycle node: one robot's last word before the wheels.

Runs in the robot's namespace. Subscribes ``odom`` (nav_msgs/Odometry), ``neighbors``
(fleetpilot/AgentStateArray, from perception or ``/fleet/robot_states``), ``cmd_vel_nominal``
(geometry_msgs/Twist) and, for learned tuners, ``goal_pose`` (geometry_msgs/PoseStamped).
Publishes ``cmd_vel`` (Twist), ``safety_status`` (SafetyStatus) and ``cbf_params`` (CbfParams)
once per tick, only while active. The tuner is loaded in ``on_configure``; parameters are read
there too (a change takes effect at the next configure) and validated whenever they are set.

With ``use_scan`` the node also subscribes ``scan`` (sensor_msgs/LaserScan, sensor-data QoS,
from a lidar at the robot's centre facing forward): each scan becomes at most
``scan_max_obstacles`` obstacle discs (:mod:`fleetpilot.safety.scan_obstacles`), with known
neighbours masked out, and a missing or stale scan stops the robot like any other input. A
robot with only a lidar and odometry is then kept off walls and off robots nobody reports, and
a learned tuner's obstacle scan sees those discs too. While the filter holds discs that may be
such robots (returns off the map, lost tracks) it spends half its barrier rate
(:func:`fleetpilot.safety.scan_obstacles.unlisted_rate`): the other robot may spend its half.

Ticks come from a timer at ``control_rate_hz`` (``trigger: timer``), or from each odometry
message (``trigger: odometry``, lowest latency) with the timer still publishing a stop when
inputs go missing. See :mod:`fleetpilot.ros.robot_safety` for what a tick does.
"""

from __future__ import annotations

import time
from collections import Counter, deque

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Header

from fleetpilot.msg import AgentStateArray, CbfParams, SafetyStatus
from fleetpilot.ros.convert import (
    agent_state_array_to_states,
    command_to_twist,
    odometry_to_arrays,
    twist_to_command,
)
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_int, declare_value
from fleetpilot.ros.qos import COMMAND_QOS, SENSOR_QOS
from fleetpilot.ros.robot_safety import (
    NEIGHBOURS,
    NOMINAL,
    ODOMETRY,
    SCAN,
    RobotSafetyConfig,
    RobotSafetyLoop,
    SafetyDecision,
    arena_from_flat,
    obstacles_from_flat,
)
from fleetpilot.ros.tuning import make_tuner_adapter, robot_noise_seed
from fleetpilot.safety import SafetyMode
from fleetpilot.safety.cbf import DEFAULT_REACTION_TIME
from fleetpilot.safety.scan_obstacles import ScanGeometry, ScanReduction

TRIGGERS = ("timer", "odometry")
DEVICES = ("cpu", "cuda", "auto")
LATENCY_WINDOW = 100_000


class CbfSafetyNode(LifecycleNode):
    """Lifecycle node wrapping :class:`~fleetpilot.ros.robot_safety.RobotSafetyLoop`."""

    def __init__(self, node_name: str = "cbf_safety", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_value(self, "robot_id", "", "this robot's id; empty: the node's namespace")
        declare_value(self, "tuner", "fixed:alpha=1", "tuner spec: fixed:name=value,... or a dir")
        declare_value(self, "device", "cpu", "where a learned tuner runs: cpu, cuda[:N], auto")
        declare_int(
            self, "torch_threads", 1, 1, 64, "CPU threads for a learned tuner (process-wide)"
        )
        declare_int(
            self,
            "tuner_noise_seed",
            -1,
            -1,
            2**31 - 1,
            "seed of a sampling tuner's noise; -1: derived from the robot id (robots differ)",
        )
        declare_value(self, "trigger", "timer", "tick on the timer or on each odometry message")
        declare_value(self, "frame_id", "map", "world frame of odometry and neighbours")
        declare_float(self, "control_rate_hz", 20.0, 1.0, 500.0, "control rate [Hz]")
        declare_float(self, "safety_distance", 0.5, 0.05, 10.0, "min centre distance [m]")
        declare_float(self, "sensing_radius", 2.0, 0.1, 100.0, "neighbour range [m]")
        declare_float(self, "max_speed", 1.0, 0.01, 10.0, "speed limit [m/s]")
        declare_float(self, "max_turn_rate", 3.0, 0.01, 20.0, "yaw-rate limit [rad/s]")
        declare_float(self, "projection_distance", 0.1, 0.01, 1.0, "filtered point offset [m]")
        declare_float(self, "odometry_timeout", 0.5, 0.01, 10.0, "stale odometry stops [s]")
        declare_float(self, "neighbors_timeout", 0.5, 0.01, 10.0, "stale neighbours stop [s]")
        declare_float(self, "nominal_timeout", 0.5, 0.01, 10.0, "stale nominal stops [s]")
        declare_float(
            self, "track_hold_time", 0.5, 0.01, 10.0, "vanished neighbours kept, grown [s]"
        )
        declare_float(self, "neighbor_max_speed", 1.0, 0.01, 10.0, "neighbours' top speed [m/s]")
        declare_float(
            self,
            "reaction_time",
            DEFAULT_REACTION_TIME,
            0.0,
            2.0,
            "the base keeps its measured velocity this long after a command [s]",
        )
        declare_value(self, "use_scan", False, "also keep clear of what the lidar (scan) sees")
        declare_float(self, "scan_timeout", 0.5, 0.01, 10.0, "stale scan stops [s]")
        declare_int(self, "scan_max_obstacles", 16, 1, 360, "discs kept per scan (sectors)")
        declare_float(self, "scan_range_sigma", 0.01, 0.0, 1.0, "lidar range noise std [m]")
        declare_float(self, "body_radius", 0.2, 0.0, 5.0, "scan returns inside are the robot [m]")
        declare_float(
            self,
            "scan_static_tolerance",
            0.0,
            0.0,
            1.0,
            "scan returns this close to the obstacles/arena map are static (no motion margin) "
            "unless an unmapped return lies within safety_distance; 0 = off [m]",
        )
        self.declare_parameter(
            "obstacles",
            [],
            ParameterDescriptor(
                description="static discs as a flat list x0, y0, r0, x1, ... [m]",
                dynamic_typing=True,
            ),
        )
        self.declare_parameter(
            "arena",
            [],
            ParameterDescriptor(
                description="walls: [] for none or [x_min, y_min, x_max, y_max] [m]",
                dynamic_typing=True,
            ),
        )
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.loop: RobotSafetyLoop | None = None
        self._outputs = {}
        self._inputs = []
        self._timer = None
        self._trigger = "timer"
        self._frame_id = "map"
        self._last_odometry_receipt = None
        self.loop_latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        """Steady-clock seconds from odometry receipt to the cmd_vel publish it led to."""
        self.publish_times: deque[float] = deque(maxlen=LATENCY_WINDOW)
        """Steady-clock times of cmd_vel publishes (achieved control rate)."""
        self.odometry_count = 0
        """Odometry messages received while configured (input rate)."""
        self.stop_causes: Counter[str] = Counter()
        """STOPPED ticks by cause (the reason up to its first colon), for diagnosis."""

    # Parameters --------------------------------------------------------------------------------
    def _validate_parameters(self, parameters) -> SetParametersResult:
        """Rejects values the numeric ranges cannot express (rclpy checks those itself)."""
        for parameter in parameters:
            value = parameter.value
            reason = None
            if parameter.name == "trigger" and value not in TRIGGERS:
                reason = f"expected one of {TRIGGERS}, got {value!r}"
            elif parameter.name == "device" and not (
                value in DEVICES or (isinstance(value, str) and value.startswith("cuda:"))
            ):
                reason = f"expected one of {DEVICES} or cuda:N, got {value!r}"
            elif parameter.name in ("tuner", "frame_id") and not (
                isinstance(value, str) and value
            ):
                reason = f"expected a non-empty string, got {value!r}"
            elif parameter.name in ("obstacles", "arena"):
                parse = obstacles_from_flat if parameter.name == "obstacles" else arena_from_flat
                try:
                    parse(list(value or []))
                except (TypeError, ValueError) as error:
                    reason = str(error)
            if reason is not None:
                return SetParametersResult(successful=False, reason=f"{parameter.name}: {reason}")
        return SetParametersResult(successful=True)

    def robot_id(self) -> str:
        given = self.get_parameter("robot_id").value
        return given or self.get_namespace().strip("/").replace("/", "_") or "robot_0"

    def _config(self) -> RobotSafetyConfig:
        value = self.get_parameter
        return RobotSafetyConfig(
            robot_id=self.robot_id(),
            safety_distance=value("safety_distance").value,
            sensing_radius=value("sensing_radius").value,
            max_speed=value("max_speed").value,
            max_turn_rate=value("max_turn_rate").value,
            projection_distance=value("projection_distance").value,
            control_period=1.0 / value("control_rate_hz").value,
            odometry_timeout=value("odometry_timeout").value,
            neighbours_timeout=value("neighbors_timeout").value,
            nominal_timeout=value("nominal_timeout").value,
            obstacles=obstacles_from_flat(list(value("obstacles").value or [])),
            arena=arena_from_flat(list(value("arena").value or [])),
            scan=ScanReduction(
                max_range=value("sensing_radius").value,
                max_obstacles=value("scan_max_obstacles").value,
                body_radius=value("body_radius").value,
                range_sigma=value("scan_range_sigma").value,
                # An unreported robot may come this much closer before the next tick.
                motion_margin=value("neighbor_max_speed").value / value("control_rate_hz").value,
                static_tolerance=value("scan_static_tolerance").value,
                # Any return of an unreported robot lies within its diameter (< D) of the rest.
                static_window=value("safety_distance").value,
            )
            if value("use_scan").value
            else None,
            scan_timeout=value("scan_timeout").value,
            track_hold_time=value("track_hold_time").value,
            neighbour_max_speed=value("neighbor_max_speed").value,
            reaction_time=value("reaction_time").value,
        )

    # Lifecycle transitions ------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        value = self.get_parameter
        try:
            config = self._config()
            # A learned tuner imports torch_geometric here, only when one is configured.
            seed = value("tuner_noise_seed").value
            tuner = make_tuner_adapter(
                value("tuner").value,
                value("device").value,
                value("torch_threads").value,
                robot_noise_seed(config.robot_id) if seed < 0 else seed,
            )
        except (ValueError, OSError) as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        self.loop = RobotSafetyLoop(config, tuner)
        self.loop.warm_up()
        self._trigger = self.get_parameter("trigger").value
        self._frame_id = self.get_parameter("frame_id").value
        for name, kind in (("cmd_vel", Twist), ("safety_status", SafetyStatus)):
            self._outputs[name] = self.create_lifecycle_publisher(kind, name, COMMAND_QOS)
        self._outputs["cbf_params"] = self.create_lifecycle_publisher(
            CbfParams, "cbf_params", COMMAND_QOS
        )
        self._inputs = [
            self.create_subscription(Odometry, "odom", self._on_odometry, SENSOR_QOS),
            self.create_subscription(
                AgentStateArray, "neighbors", self._on_neighbours, SENSOR_QOS
            ),
            self.create_subscription(Twist, "cmd_vel_nominal", self._on_nominal, COMMAND_QOS),
            self.create_subscription(PoseStamped, "goal_pose", self._on_goal, COMMAND_QOS),
        ]
        if config.scan is not None:
            self._inputs.append(
                self.create_subscription(LaserScan, "scan", self._on_scan, SENSOR_QOS)
            )
        self.get_logger().info(
            f"configured robot {config.robot_id}: tuner {tuner.spec}, "
            f"{1.0 / config.control_period:g} Hz, trigger {self._trigger}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self.loop.reset()  # inputs from before activation do not count
        period = self.loop.config.control_period
        self._timer = self.create_timer(period, self._on_timer)
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._destroy_timer()
        # The base must not keep driving on the last command: one stop goes out while active.
        self._publish(SafetyDecision(np.zeros(2), SafetyMode.STOPPED, "deactivated"))
        self.loop.reset()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._destroy_timer()
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        self.loop = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        return self.on_cleanup(state)

    def _destroy_timer(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    # Inputs ------------------------------------------------------------------------------------
    def _reject(self, name: str, error: ValueError) -> None:
        self.loop.reject(name, str(error))
        self.get_logger().warning(
            f"{name} rejected: {error}", throttle_duration_sec=1.0, skip_first=False
        )

    def _check_frame(self, frame_id: str) -> None:
        """Poses in another world frame would be compared as if they were in ours."""
        if frame_id and frame_id != self._frame_id:
            raise ValueError(
                f"header.frame_id: expected {self._frame_id!r} (parameter frame_id), "
                f"got {frame_id!r}"
            )

    def _on_odometry(self, msg: Odometry) -> None:
        if self.loop is None:
            return
        now = time.monotonic()
        self.odometry_count += 1
        try:
            self._check_frame(msg.header.frame_id)
            pose, velocity, _ = odometry_to_arrays(msg)
        except ValueError as error:
            self._reject(ODOMETRY, error)
        else:
            self.loop.set_odometry(now, pose, velocity)
            self._last_odometry_receipt = now
        if self._trigger == "odometry" and self._timer is not None:
            self._tick()

    def _on_neighbours(self, msg: AgentStateArray) -> None:
        if self.loop is None:
            return
        try:
            self._check_frame(msg.header.frame_id)
            states = agent_state_array_to_states(msg)
        except ValueError as error:
            self._reject(NEIGHBOURS, error)
            return
        self.loop.set_neighbours(time.monotonic(), states)

    def _on_nominal(self, msg: Twist) -> None:
        if self.loop is None:
            return
        try:
            command = twist_to_command(msg)
        except ValueError as error:
            self._reject(NOMINAL, error)
            return
        self.loop.set_nominal(time.monotonic(), command)

    def _on_scan(self, msg: LaserScan) -> None:
        if self.loop is None:
            return
        try:
            geometry = ScanGeometry(
                msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max
            )
        except ValueError as error:
            self._reject(SCAN, error)
            return
        self.loop.set_scan(time.monotonic(), np.asarray(msg.ranges, dtype=float), geometry)

    def _on_goal(self, msg: PoseStamped) -> None:
        if self.loop is None:
            return
        goal = np.array([msg.pose.position.x, msg.pose.position.y])
        self.loop.set_goal(goal if np.all(np.isfinite(goal)) else None)

    # Ticks -------------------------------------------------------------------------------------
    def _on_timer(self) -> None:
        if self._trigger == "timer" or self.loop.input_problem(time.monotonic()) is not None:
            self._tick()

    def _tick(self) -> None:
        self._publish(self.loop.tick(time.monotonic()))

    def _publish(self, decision: SafetyDecision) -> None:
        if not self._outputs or not self.context.ok():  # shutting down: nothing to send
            return
        self._outputs["cmd_vel"].publish(command_to_twist(decision.command))
        published = time.monotonic()
        self.publish_times.append(published)
        if decision.mode == SafetyMode.STOPPED:
            self.stop_causes[decision.reason.partition(":")[0]] += 1
        elif self._last_odometry_receipt is not None:
            self.loop_latencies.append(published - self._last_odometry_receipt)
        header = Header(
            stamp=self.get_clock().now().to_msg(), frame_id=self.get_parameter("frame_id").value
        )
        robot = self.loop.config.robot_id if self.loop is not None else self.robot_id()
        self._outputs["safety_status"].publish(
            SafetyStatus(
                header=header,
                agent_id=robot,
                mode=int(decision.mode),
                min_barrier=float(decision.min_barrier),
                slack=float(decision.slack),
                solve_time=float(decision.solve_time),
                num_constraints=int(decision.num_constraints),
                reason=decision.reason,
            )
        )
        if decision.parameters is not None:
            self._outputs["cbf_params"].publish(
                CbfParams(
                    header=header,
                    agent_id=robot,
                    alpha=decision.parameters.alpha,
                    nominal_gain=decision.parameters.gain,
                    safety_distance=self.loop.config.safety_distance,
                    tangential_gain=decision.parameters.tangential,
                    neighbor_ids=list(decision.neighbour_ids),
                    neighbor_gains=_neighbour_shares(decision),
                )
            )


def _neighbour_shares(decision: SafetyDecision) -> list[float]:
    """This robot's share of each in-range neighbour pair (row 0), or [] for uniform shares."""
    shares = decision.parameters.responsibility
    if shares is None:
        return []
    return [float(shares[0, 1 + index]) for index in decision.neighbour_indices]


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(CbfSafetyNode, args)
