"""Motion models, the go-to-goal controller and the action layout on hand-computed cases."""

import math

import pytest
import torch

from fleetpilot.envs.actions import ACTION_PARAMETERS, ActionLayout
from fleetpilot.envs.dynamics import (
    integrate_single_integrator,
    integrate_unicycle,
    velocity_to_unicycle,
)
from fleetpilot.envs.nominal import go_to_goal


def batch(*rows):
    return torch.tensor([rows], dtype=torch.float64)


def test_single_integrator_moves_dt_times_the_clipped_velocity():
    positions = batch([1.0, 2.0], [0.0, 0.0])
    headings = torch.tensor([[0.3, 0.3]], dtype=torch.float64)
    velocities = batch([3.0, 4.0], [0.0, 0.0])  # 5 m/s -> clipped to 1 m/s along (0.6, 0.8)
    new_positions, new_headings = integrate_single_integrator(
        positions, headings, velocities, dt=0.5, max_speed=1.0
    )
    torch.testing.assert_close(new_positions, batch([1.3, 2.4], [0.0, 0.0]))
    assert new_headings[0, 0] == pytest.approx(math.atan2(4, 3))
    assert new_headings[0, 1] == pytest.approx(0.3)  # standing still keeps the heading


def test_unicycle_straight_line_turn_in_place_and_quarter_circle():
    positions = batch([0.0, 0.0], [1.0, 1.0], [0.0, 0.0])
    headings = torch.tensor([[math.pi / 2, 0.0, 0.0]], dtype=torch.float64)
    commands = batch([0.5, 0.0], [0.0, 1.0], [1.0, math.pi / 2])
    new_positions, new_headings = integrate_unicycle(
        positions, headings, commands, dt=1.0, max_speed=2.0, max_turn_rate=2.0
    )
    # 0.5 m straight up; a pure turn stays put; a quarter circle of radius v / w = 2 / pi
    # from the origin heading +x ends at (2/pi, 2/pi) heading +y.
    radius = 2 / math.pi
    torch.testing.assert_close(new_positions, batch([0.0, 0.5], [1.0, 1.0], [radius, radius]))
    torch.testing.assert_close(
        new_headings, torch.tensor([[math.pi / 2, 1.0, math.pi / 2]], dtype=torch.float64)
    )


def test_unicycle_clips_commands_and_wraps_headings():
    positions = batch([0.0, 0.0])
    headings = torch.tensor([[3.0]], dtype=torch.float64)
    new_positions, new_headings = integrate_unicycle(
        positions, headings, batch([-5.0, 5.0]), dt=0.1, max_speed=1.0, max_turn_rate=2.0
    )
    # Clipped to v = -1, w = 2: a 0.1 m arc of radius 0.5 m turning 0.2 rad has a chord of
    # 2 * 0.5 * sin(0.1).
    assert torch.linalg.vector_norm(new_positions).item() == pytest.approx(math.sin(0.1))
    assert new_headings.item() == pytest.approx(3.2 - 2 * math.pi)


def test_unicycle_projection_moves_the_projected_point_as_commanded():
    headings = torch.tensor([[0.0, math.pi / 2]], dtype=torch.float64)
    velocities = batch([1.0, 0.5], [1.0, 0.5])
    commands = velocity_to_unicycle(velocities, headings, projection_distance=0.1)
    torch.testing.assert_close(commands, batch([1.0, 5.0], [0.5, -10.0]))
    # Over a tiny step the point 0.1 m ahead moves with the commanded velocity.
    positions = batch([0.0, 0.0], [0.0, 0.0])
    dt = 1e-5
    new_positions, new_headings = integrate_unicycle(
        positions, headings, commands, dt, max_speed=10.0, max_turn_rate=100.0
    )

    def ahead(p, h):
        return p + 0.1 * torch.stack([torch.cos(h), torch.sin(h)], dim=-1)

    moved = (ahead(new_positions, new_headings) - ahead(positions, headings)) / dt
    torch.testing.assert_close(moved, velocities, atol=1e-3, rtol=0)


def test_go_to_goal_is_proportional_saturated_and_biased_sideways():
    positions = batch([0.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    goals = batch([0.3, 0.4], [30.0, 40.0], [0.3, 0.4])
    gain = torch.tensor([[2.0, 2.0, 2.0]], dtype=torch.float64)
    velocity = go_to_goal(positions, goals, gain, max_speed=1.5)
    torch.testing.assert_close(velocity, batch([0.6, 0.8], [0.9, 1.2], [0.6, 0.8]))
    bias = torch.tensor([[0.0, 0.0, 0.5]], dtype=torch.float64)
    biased = go_to_goal(positions, goals, gain, max_speed=1.5, tangential=bias)
    # (0.6, 0.8) + 0.5 * (-0.8, 0.6) = (0.2, 1.1): left of the goal direction, within 1.5 m/s.
    torch.testing.assert_close(biased[0, 2], torch.tensor([0.2, 1.1], dtype=torch.float64))
    at_goal = go_to_goal(goals, goals, gain, max_speed=1.5, tangential=bias)
    assert torch.count_nonzero(at_goal) == 0


def test_action_layout_unpacks_clips_and_fills_defaults():
    layout = ActionLayout(("gain", "alpha"))
    action = torch.tensor([[[0.5, 100.0], [9.0, 2.0]]])
    values = layout.unpack(action)
    torch.testing.assert_close(
        values["gain"], torch.tensor([[0.5, ACTION_PARAMETERS["gain"].high]])
    )
    torch.testing.assert_close(
        values["alpha"], torch.tensor([[ACTION_PARAMETERS["alpha"].high, 2.0]])
    )
    assert torch.all(values["tangential"] == ACTION_PARAMETERS["tangential"].default)
    packed = layout.pack({"alpha": 3.0}, num_envs=2, num_agents=4)
    assert packed.shape == (2, 4, 2)
    assert torch.all(packed[..., 0] == ACTION_PARAMETERS["gain"].default)
    assert torch.all(packed[..., 1] == 3.0)


def test_action_layout_rejects_bad_names_and_shapes():
    with pytest.raises(ValueError, match=r"names\[1\]: expected one of alpha, gain"):
        ActionLayout(("alpha", "beta"))
    with pytest.raises(ValueError, match="expected unique parameter names"):
        ActionLayout(("alpha", "alpha"))
    with pytest.raises(ValueError, match=r"expected shape \(B, N, 2\)"):
        ActionLayout().unpack(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="expected finite values"):
        ActionLayout().unpack(torch.full((1, 1, 2), float("nan")))
