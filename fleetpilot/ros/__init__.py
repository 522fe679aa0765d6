"""ROS 2 glue: message conversion and node classes; the only part that needs rclpy."""
