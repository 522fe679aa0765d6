"""PyBullet world: simulated differential-drive fleets with real physics (ROS-free)."""
