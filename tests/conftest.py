"""Test-wide settings: keep ROS 2 traffic on loopback and away from other test runs."""

import os
import random

# A random domain per pytest run (0..101 is the portable range) so parallel runs never meet;
# subprocesses started by tests inherit it.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
