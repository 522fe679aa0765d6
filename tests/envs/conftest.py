"""Shared settings of the environment tests.

Torch runs on one thread: on a shared 2-core machine, two threads contend.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
