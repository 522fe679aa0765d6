"""``mapf_planner`` lifecycle node: every robot's next grid waypoint, from fleet-wide state.

Subscribes ``/fleet/robot_states`` (``AgentStateArray``), ``/fleet/tasks`` and
``/fleet/assignments``; a robot's goal is the pickup of the task assigned to it (robots
without an assignment hold their cell). At ``rate_hz`` the configured lifelong planner
(``astar``, ``pibt``, ``follower``, ... from ``fleetpilot.mapf.planners``) moves every fresh
robot by at most one cell on the occupancy grid loaded from ``map_file`` (MovingAI ``.map`` or
POGEMA string map) placed in the world by ``origin_x``, ``origin_y`` and ``resolution`` (or a
warehouse scenario file: its floor grid, placed where the sim puts it; the three parameters are
then ignored), and publishes each robot's waypoint as ``/<robot>/goal``
(``geometry_msgs/PoseStamped``, frame ``frame_id``), which a ``goal_follower`` turns into a
nominal command. Publishes only while active; stale robot states publish nothing.
"""

from __future__ import annotations

import time

from geometry_msgs.msg import PoseStamped
from std_msgs.msg import Header

from fleetpilot.mapf.map_source import load_map_file
from fleetpilot.mapf.waypoints import GridFrame, WaypointPlanner
from fleetpilot.msg import AgentStateArray, AssignmentArray, TaskArray
from fleetpilot.ros.convert import agent_state_array_to_states, seconds_to_time
from fleetpilot.ros.lifecycle import run_lifecycle_node
from fleetpilot.ros.params import declare_float, declare_value
from fleetpilot.ros.periodic_node import PeriodicLifecycleNode
from fleetpilot.ros.task_allocator_node import tasks_from_message


class MapfPlannerNode(PeriodicLifecycleNode):
    """Lifecycle node publishing one grid waypoint per robot at a fixed rate."""

    def __init__(self, node_name: str = "mapf_planner", **kwargs) -> None:
        super().__init__(node_name, "rate_hz", **kwargs)
        declare_value(
            self, "map_file", "", "occupancy grid (.map, POGEMA string map, warehouse scenario)"
        )
        declare_value(self, "planner", "pibt", "registered MAPF planner name")
        declare_value(self, "frame_id", "map", "world frame of the waypoints")
        declare_float(self, "origin_x", 0.0, -1e6, 1e6, "x of the grid's lower-left corner [m]")
        declare_float(self, "origin_y", 0.0, -1e6, 1e6, "y of the grid's lower-left corner [m]")
        declare_float(self, "resolution", 1.0, 0.01, 100.0, "cell side [m]")
        declare_float(self, "rate_hz", 2.0, 0.01, 50.0, "planning steps per second [Hz]")
        declare_float(self, "stale_timeout", 2.0, 0.01, 60.0, "robot states older are ignored [s]")
        self.forget()

    def configure(self) -> bool:
        from fleetpilot.warehouse.scenario import is_warehouse_file, load_warehouse

        path = self.get_parameter("map_file").value
        try:
            if is_warehouse_file(path):
                layout = load_warehouse(path).layout
                grid, frame = layout.grid, layout.frame
            else:
                grid = load_map_file(path)
                frame = GridFrame(
                    self.get_parameter("origin_x").value,
                    self.get_parameter("origin_y").value,
                    self.get_parameter("resolution").value,
                    grid.height,
                )
            self._planner = WaypointPlanner(grid, frame, self.get_parameter("planner").value)
        except (ValueError, OSError) as error:
            self.get_logger().error(f"map_file / planner: cannot plan on {path!r}: {error}")
            return False
        self.subscribe(AgentStateArray, "/fleet/robot_states", self._on_states, 10)
        self.subscribe(TaskArray, "/fleet/tasks", self._on_tasks, 10)
        self.subscribe(AssignmentArray, "/fleet/assignments", self._on_assigned, 10)
        return True

    def forget(self) -> None:
        self._planner: WaypointPlanner | None = None
        self._goal_publishers: dict[str, object] = {}
        self._states = None
        self._states_received = -float("inf")
        self._pickups: dict[str, tuple[float, float]] = {}
        self._assigned: dict[str, str] = {}

    def _on_states(self, msg: AgentStateArray) -> None:
        try:
            self._states = agent_state_array_to_states(msg)
        except ValueError as error:
            self.get_logger().warning(f"/fleet/robot_states rejected: {error}")
            return
        self._states_received = time.monotonic()

    def _on_tasks(self, msg: TaskArray) -> None:
        tasks, rejected = tasks_from_message(msg)
        for reason in rejected:
            self.get_logger().warning(f"/fleet/tasks: dropped {reason}")
        self._pickups = {task.id: tuple(task.pickup) for task in tasks}

    def _on_assigned(self, msg: AssignmentArray) -> None:
        self._assigned = {
            robot: assignment.task_id
            for assignment in msg.assignments
            for robot in assignment.robot_ids
        }

    def _publisher_for(self, robot: str):
        if robot not in self._goal_publishers:
            self._goal_publishers[robot] = self.publisher(PoseStamped, f"/{robot}/goal", 10)
        return self._goal_publishers[robot]

    def tick(self) -> None:
        fresh = (
            time.monotonic() - self._states_received <= self.get_parameter("stale_timeout").value
        )
        if self._states is None or not fresh or not len(self._states.ids):
            return
        states = self._states
        goals = states.positions.copy()
        for index, robot in enumerate(states.ids):
            task = self._assigned.get(robot)
            if task in self._pickups:
                goals[index] = self._pickups[task]
        try:
            waypoints = self._planner.next_waypoints(states.ids, states.positions, goals)
        except ValueError as error:
            self.get_logger().error(f"planning failed: {error}")
            return
        header = Header(
            frame_id=self.get_parameter("frame_id").value,
            stamp=seconds_to_time(self.get_clock().now().nanoseconds * 1e-9),
        )
        for robot, (x, y) in zip(states.ids, waypoints, strict=True):
            goal = PoseStamped(header=header)
            goal.pose.position.x, goal.pose.position.y = float(x), float(y)
            goal.pose.orientation.w = 1.0
            self._publisher_for(robot).publish(goal)


def main(args: list[str] | None = None) -> None:
    run_lifecycle_node(MapfPlannerNode, args)
