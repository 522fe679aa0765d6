"""Multi-robot task allocation: optimal, greedy and auction baselines, a dynamic task
environment and the learned two-stage allocator (ROS-free; numpy in, numpy out).

Static use::

    from fleetpilot.allocation import make_allocator
    assignment = make_allocator("optimal").assign(cost)  # (R,) task per robot, -1 = none
"""

from fleetpilot.allocation.cost_matrix import UNASSIGNED, assignment_cost, check_assignment
from fleetpilot.allocation.registry import ALLOCATORS, make_allocator

__all__ = ["ALLOCATORS", "UNASSIGNED", "assignment_cost", "check_assignment", "make_allocator"]
