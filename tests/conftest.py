"""Test-wide settings: ROS 2 traffic on loopback and away from other test runs; one torch
thread (on a shared 2-core machine, two threads only contend)."""

import os
import random

import pytest
import torch

# A random domain per pytest run (0..101 is the portable range) so parallel runs never meet;
# subprocesses started by tests inherit it.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
