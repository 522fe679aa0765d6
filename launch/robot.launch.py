"""One real robot: its ``cbf_safety`` and ``goal_follower`` nodes in the robot's namespace.

    ros2 launch fleetpilot robot.launch.py robot:=robot_3 \
        odom_topic:=/robot_3/odometry/filtered cmd_vel_topic:=/robot_3/diff_drive/cmd_vel

Topics are remappable to plug into an existing base driver and Nav2: ``odom_topic`` (the
driver's or EKF's nav_msgs/Odometry), ``neighbors_topic`` (perception, or
``/fleet/robot_states`` from the ``fleet_state`` node), ``cmd_vel_topic`` (what the base
driver subscribes), ``nominal_topic`` (the nominal command; point it at Nav2's controller
output to make Nav2's command safe, and leave ``goal_follower`` out with
``follower:=false``). Parameters come from ``config/robot.yaml``.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "fleetpilot"
PARAMS_FILE = "robot.yaml"


def generate_launch_description() -> LaunchDescription:
    config = Path(get_package_share_directory(PACKAGE)) / "config"
    robot = LaunchConfiguration("robot")
    params = LaunchConfiguration("params_file")
    odom = LaunchConfiguration("odom_topic")
    nominal = LaunchConfiguration("nominal_topic")
    return LaunchDescription(
        [
            DeclareLaunchArgument("robot", default_value="robot_0"),
            DeclareLaunchArgument("params_file", default_value=str(config / PARAMS_FILE)),
            DeclareLaunchArgument("odom_topic", default_value="odom"),
            DeclareLaunchArgument("neighbors_topic", default_value="neighbors"),
            DeclareLaunchArgument("cmd_vel_topic", default_value="cmd_vel"),
            DeclareLaunchArgument("nominal_topic", default_value="cmd_vel_nominal"),
            DeclareLaunchArgument("follower", default_value="true"),
            Node(
                package=PACKAGE,
                executable="cbf_safety",
                name="cbf_safety",
                namespace=robot,
                output="screen",
                parameters=[params, {"robot_id": robot, "autostart": True}],
                remappings=[
                    ("odom", odom),
                    ("neighbors", LaunchConfiguration("neighbors_topic")),
                    ("cmd_vel", LaunchConfiguration("cmd_vel_topic")),
                    ("cmd_vel_nominal", nominal),
                ],
            ),
            Node(
                package=PACKAGE,
                executable="goal_follower",
                name="goal_follower",
                namespace=robot,
                output="screen",
                condition=IfCondition(LaunchConfiguration("follower")),
                parameters=[params, {"autostart": True}],
                remappings=[("odom", odom), ("cmd_vel_nominal", nominal)],
            ),
        ]
    )
