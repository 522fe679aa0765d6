"""The Follower network's action logits as an export-friendly module (TorchScript, ONNX).

The exported graph maps ``obs [B, 2, 2r+1, 2r+1]`` (the observation windows of
:mod:`fleetpilot.mapf.observations`) to ``logits [B, 5]`` over the grid moves; the batch (one row
per agent) is dynamic. Invalid moves are masked by the caller, as in
:meth:`~fleetpilot.mapf.follower_policy.FollowerPolicy.select_action` (greedy: argmax of the
logits with invalid moves set to -inf). The value head is training-only and left out.
"""

from __future__ import annotations

import torch
from torch import nn

from fleetpilot.export.formats import ExportSpec
from fleetpilot.mapf.follower_policy import FollowerNet

NUM_ACTIONS = 5
CHECK_BATCHES = (1, 7, 64)
"""Agent counts the exports are checked on (the trace uses 4)."""


class FollowerLogits(nn.Module):
    """``obs -> logits`` of :class:`FollowerNet`, sharing its weights."""

    def __init__(self, net: FollowerNet) -> None:
        super().__init__()
        self.body = net.body
        self.policy_head = net.policy_head

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy_head(self.body(obs))


def random_observations(net: FollowerNet, batch: int, seed: int) -> torch.Tensor:
    """Observation-like inputs with the values the env writes (see ``local_observations``).

    Channel 0: -1 blocked or off the map, 1 on the agent's path, else 0; channel 1 (and 2, where
    the net observes earlier cells): 1 where an agent stands.
    """
    side = 2 * net.config.obs_radius + 1
    generator = torch.Generator().manual_seed(seed)
    draws = torch.rand(batch, net.config.channels, side, side, generator=generator)
    grid = torch.where(draws[:, 0] < 0.25, -1.0, torch.where(draws[:, 0] > 0.9, 1.0, 0.0))
    agents = (draws[:, 1:] < 0.1).float()
    return torch.cat([grid.unsqueeze(1), agents], dim=1)


def follower_export_spec(net: FollowerNet, seed: int = 0) -> ExportSpec:
    """The Follower's logits graph, traced on 4 agents and checked on :data:`CHECK_BATCHES`."""
    side = 2 * net.config.obs_radius + 1
    return ExportSpec(
        module=FollowerLogits(net).eval(),
        stem="follower",
        input_names=["obs"],
        output_names=["logits"],
        dynamic_axes={"obs": {0: "agents"}, "logits": {0: "agents"}},
        trace_inputs=(random_observations(net, 4, seed + 1000),),
        check_inputs=[(random_observations(net, batch, seed + batch),) for batch in CHECK_BATCHES],
        reference=lambda obs: net(obs)[0],
        description={
            "type": "follower",
            "inputs": {"obs": ["agents", net.config.channels, side, side]},
            "outputs": {"logits": ["agents", NUM_ACTIONS]},
            "obs_radius": net.config.obs_radius,
        },
    )
