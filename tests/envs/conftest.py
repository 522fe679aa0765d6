"""Shared settings of the environment tests.

Torch runs on one thread: on a shared 2-core machine, two threads contend. Tests that step the
environment need the batched safety filter (``fleetpilot.safety``, its own issue); until its
``filter_batch`` exists they are skipped with that reason rather than failing on import.
"""

import pytest
import torch


def safety_filter_available() -> bool:
    try:
        from fleetpilot.safety import SingleIntegratorCBF, UnicycleCBF
    except ImportError:
        return False
    return hasattr(SingleIntegratorCBF, "filter_batch") and hasattr(UnicycleCBF, "filter_batch")


requires_safety_filter = pytest.mark.skipif(
    not safety_filter_available(),
    reason="fleetpilot.safety has no SingleIntegratorCBF/UnicycleCBF.filter_batch yet",
)


@pytest.fixture(autouse=True)
def single_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
