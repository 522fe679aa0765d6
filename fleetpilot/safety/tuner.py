"""The online CBF tuner: a GNN that sets each agent's CBF and controller parameters every tick.

After Gao, Yang and Prorok (2023), "Online Control Barrier Functions for Decentralized
Multi-Agent Navigation". Each agent looks only at what it senses: its own goal offset,
velocity, nearest obstacle, and the relative positions/velocities of neighbours within the
sensing radius (the edges j -> i of the observation graph, see :mod:`fleetpilot.envs.graph`).
One round of message passing (messages built from agent i's own embedding and the sensed
relative state of j; mean and max aggregation) gives, per agent,

* node outputs (any of ``alpha``, ``gain``, ``tangential``, ``make_way``), each squashed into
  its configured bounds with a sigmoid, and constant outputs (``config.constant_outputs``);
* per sensed neighbour j, agent i's responsibility share ``rho_ij = 1/2 + 1/2 sigmoid(z_ij)``,
  in [1/2, 1] whatever the network outputs. The filter's row is
  ``2 p_ij . u_i >= -(1 - rho_ij) alpha_i h_ij``; since each of the pair's two agents takes
  at least half, the two rows together imply the full barrier condition, although each agent
  decides alone. Unsafe outputs are therefore impossible by construction.

Every feature is expressed in the agent's goal frame (x axis toward its goal): the network is
invariant to translations (and, away from the goal, rotations) of the world and equivariant to
permutations of the agents, since aggregation is symmetric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.utils import scatter

from fleetpilot.envs.actions import ACTION_PARAMETERS
from fleetpilot.envs.graph import goal_frame
from fleetpilot.safety.constraints import MIN_RESPONSIBILITY
from fleetpilot.safety.tuner_config import (
    FORMAT_VERSION,
    RESPONSIBILITY,
    TUNER_KIND,
    TunerConfig,
)

CONFIG_FILE = "tuner.yaml"
WEIGHTS_FILE = "model.safetensors"
NODE_INPUTS = 9
"""goal distance, velocity (2), heading (2), obstacle offset (2), obstacle seen, arrived; then
one free range per obstacle ray (``TunerConfig.obstacle_rays``)."""
BASE_NODE_FEATURES = 10
"""Columns of the observation's ``x`` before the obstacle rays."""
EDGE_INPUTS = 7
"""relative position (2), its unit vector (2), relative velocity (2), distance."""
LOG_STD_FLOOR = math.log(0.05)
"""The policy noise never drops below std 0.05 (pre-squash), in training and when sampling."""


def _logit(fraction: float) -> float:
    return math.log(fraction / (1.0 - fraction))


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(len(widths) - 1):
        layers.append(nn.Linear(widths[index], widths[index + 1]))
        if index < len(widths) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def _rotate_into(frame_x: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``vectors`` (K, 2) expressed in frames whose x axis is the unit vector ``frame_x``."""
    along = frame_x[:, 0] * vectors[:, 0] + frame_x[:, 1] * vectors[:, 1]
    left = frame_x[:, 0] * vectors[:, 1] - frame_x[:, 1] * vectors[:, 0]
    return torch.stack([along, left], dim=-1)


def goal_frame_features(
    x: torch.Tensor,
    edge_index: torch.Tensor,
    edge_attr: torch.Tensor,
    goal_scale: float,
    obstacle_rays: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Node (A, NODE_INPUTS + obstacle_rays) and edge (E, EDGE_INPUTS) inputs in each agent's
    goal frame (the rays are in it already).

    Args:
        x: (A, len(node_feature_names(obstacle_rays))) node features of the observation.
        edge_index: (2, E) long, [source j, target i]: agent i senses agent j.
        edge_attr: (E, len(EDGE_FEATURES)) [dx, dy, dvx, dvy, distance] of j relative to i.
        goal_scale: goal distances are clipped to this [m].
    """
    frame, distance = goal_frame(x[:, 0:2])
    heading = x[:, 4:6]
    nodes = torch.cat(
        [
            distance.clamp(max=goal_scale) / goal_scale,
            _rotate_into(frame, x[:, 2:4]),
            _rotate_into(frame, heading),
            _rotate_into(frame, x[:, 6:8]),
            x[:, 8:BASE_NODE_FEATURES],
            x[:, BASE_NODE_FEATURES : BASE_NODE_FEATURES + obstacle_rays],
        ],
        dim=-1,
    )
    target_frame = frame.index_select(0, edge_index[1])
    offset = _rotate_into(target_frame, edge_attr[:, 0:2])
    gap = edge_attr[:, 4:5]
    edges = torch.cat(
        [offset, offset / gap.clamp_min(1e-6), _rotate_into(target_frame, edge_attr[:, 2:4]), gap],
        dim=-1,
    )
    return nodes, edges


def _split_linear(
    layer: nn.Linear,
    edge_part: torch.Tensor,
    node_part: torch.Tensor,
    target: torch.Tensor,
    edge_width: int,
) -> torch.Tensor:
    """``layer(cat([edge_part, node_part[target]]))`` without building the concatenation.

    The node half of the product is computed once per agent and gathered per edge, which is
    what keeps a 64-agent tick (thousands of edges) within the latency budget.
    """
    edge_weight, node_weight = layer.weight[:, :edge_width], layer.weight[:, edge_width:]
    per_node = torch.nn.functional.linear(node_part, node_weight, layer.bias)
    return torch.addmm(per_node.index_select(0, target), edge_part, edge_weight.t())


@dataclass
class TunerOutput:
    """Pre-squash means and the value of one forward pass.

    Attributes:
        node_mean: (A, len(node_outputs)) pre-squash means of the node outputs.
        edge_mean: (E,) pre-squash means of the responsibility logits (empty without them).
        value: (A,) the critic's estimate of each agent's return.
    """

    node_mean: torch.Tensor
    edge_mean: torch.Tensor
    value: torch.Tensor


class CbfTunerNet(nn.Module):
    """Actor-critic GNN; outputs are pre-squash (see :meth:`squash_node`, :meth:`squash_edge`).

    Args:
        config: the validated configuration.
    """

    def __init__(self, config: TunerConfig) -> None:
        super().__init__()
        self.config = config
        hidden, edge_hidden = config.hidden, config.edge_hidden
        outputs = len(config.node_outputs)
        self.node_encoder = _mlp([NODE_INPUTS + config.obstacle_rays, hidden, hidden])
        self.message = _mlp([EDGE_INPUTS + hidden, edge_hidden, edge_hidden])
        self.update = _mlp([hidden + 2 * edge_hidden, hidden, hidden])
        self.node_head = nn.Linear(hidden, max(outputs, 1))
        self.value_head = _mlp([hidden, hidden, 1])
        self.edge_head = _mlp([edge_hidden + hidden, edge_hidden, 1])
        self.node_log_std = nn.Parameter(torch.full((max(outputs, 1),), config.init_log_std))
        self.edge_log_std = nn.Parameter(torch.full((1,), config.init_log_std))
        # Start near the configured prior: tiny last-layer weights, biases at the prior's
        # pre-squash value, so the untrained policy's mean is ``config.init``.
        with torch.no_grad():
            for head in (self.node_head, self.edge_head[-1]):
                head.weight.mul_(0.01)
                head.bias.zero_()
            for column, name in enumerate(config.node_outputs):
                low, high = config.bounds[name]
                self.node_head.bias[column] = _logit((config.init[name] - low) / (high - low))
            if config.per_neighbour_responsibility:
                share = (config.init[RESPONSIBILITY] - MIN_RESPONSIBILITY) / MIN_RESPONSIBILITY
                self.edge_head[-1].bias.fill_(_logit(share))
        low = [config.bounds[name][0] for name in config.node_outputs]
        high = [config.bounds[name][1] for name in config.node_outputs]
        self.register_buffer("node_low", torch.tensor(low), persistent=False)
        self.register_buffer("node_high", torch.tensor(high), persistent=False)
        constants = list(config.constant_outputs.values())
        self.register_buffer("constants", torch.tensor(constants), persistent=False)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
    ) -> TunerOutput:
        """One pass over a (possibly batched) observation graph of A agents and E edges."""
        expected = len(self.config.node_features)
        if x.shape[-1] != expected:
            raise ValueError(
                f"x: expected {expected} node features per agent (obstacle_rays "
                f"{self.config.obstacle_rays}), got {x.shape[-1]}; build the observation with "
                f"obstacle_rays={self.config.obstacle_rays}"
            )
        nodes, edges = goal_frame_features(
            x, edge_index, edge_attr, self.config.goal_scale, self.config.obstacle_rays
        )
        embedding = self.node_encoder(nodes)
        target = edge_index[1]
        messages = self.message[1:](
            _split_linear(self.message[0], edges, embedding, target, EDGE_INPUTS)
        )
        count = x.shape[0]
        pooled = torch.cat(
            [
                scatter(messages, target, dim=0, dim_size=count, reduce="mean"),
                scatter(messages, target, dim=0, dim_size=count, reduce="max"),
            ],
            dim=-1,
        )
        state = self.update(torch.cat([embedding, pooled], dim=-1))
        node_mean = self.node_head(state)[:, : len(self.config.node_outputs)]
        if self.config.per_neighbour_responsibility:
            hidden = _split_linear(
                self.edge_head[0], messages, state, target, self.config.edge_hidden
            )
            edge_mean = self.edge_head[1:](hidden).squeeze(-1)
        else:
            edge_mean = x.new_zeros((0,))
        return TunerOutput(node_mean, edge_mean, self.value_head(state).squeeze(-1))

    def squash_node(self, pre: torch.Tensor) -> torch.Tensor:
        """(A, P) pre-squash -> (A, len(config.action_parameters)) parameters: the node outputs
        within their configured bounds, then the constant outputs."""
        params = self.node_low + (self.node_high - self.node_low) * torch.sigmoid(pre)
        if not self.config.constant_outputs:
            return params
        # Broadcast on a column of ``pre`` (not len(pre)): traced exports keep A dynamic.
        constants = torch.zeros_like(pre[:, :1]) + self.constants.to(pre.dtype)
        return torch.cat([params, constants], dim=-1)

    @staticmethod
    def squash_edge(pre: torch.Tensor) -> torch.Tensor:
        """(E,) pre-squash -> responsibility shares in [1/2, 1] (safe for any input)."""
        return MIN_RESPONSIBILITY + (1.0 - MIN_RESPONSIBILITY) * torch.sigmoid(pre)


def dense_responsibility(
    shares: torch.Tensor, edge_index: torch.Tensor, num_envs: int, num_agents: int
) -> torch.Tensor:
    """(B, N, N) responsibility: ``shares[e]`` at [b, i, j] for edge j -> i, 1/2 elsewhere.

    Pairs that are not edges are out of sensing range, where the filter has no row; 1/2 there
    is only a placeholder within the filter's accepted range.
    """
    dense = shares.new_full((num_envs * num_agents * num_agents,), MIN_RESPONSIBILITY)
    source, target = edge_index[0], edge_index[1]
    dense.index_copy_(0, target * num_agents + source % num_agents, shares)
    return dense.view(num_envs, num_agents, num_agents)


class GnnTuner:
    """The tuner used for evaluation and deployment (acting with its mean or with its noise).

    Called with an observation Batch it returns ``(action, responsibility)``: the (B, N, P)
    action over :attr:`action_parameters` and the (B, N, N) shares (or None).

    Args:
        net: the trained network.
        overrides: output name -> constant that replaces the network's output (for ablations:
            e.g. ``{"tangential": 0.0, "responsibility": 0.5}``).
        sample: act with the policy's exploration noise (each agent draws its own, so this
            stays decentralized) instead of its mean; the noise is what breaks exact symmetry.
            None: as ``config.inference`` says.
        seed: seed of the noise (a run with the same seed repeats exactly); None:
            ``config.noise_seed``.
    """

    def __init__(
        self,
        net: CbfTunerNet,
        overrides: dict[str, float] | None = None,
        sample: bool | None = None,
        seed: int | None = None,
    ) -> None:
        self.net = net.eval()
        self.config = net.config
        self.sample = self.config.inference == "sample" if sample is None else sample
        self.seed = self.config.noise_seed if seed is None else seed
        self._generator = torch.Generator().manual_seed(self.seed)
        self.overrides = dict(overrides or {})
        names = self.config.output_names + tuple(self.config.constant_outputs)
        for name, value in self.overrides.items():
            if name not in names:
                raise ValueError(
                    f"overrides.{name}: expected one of the tuner's outputs {list(names)}"
                )
            if name == RESPONSIBILITY:
                low, high = MIN_RESPONSIBILITY, 1.0
            elif name in self.config.constant_outputs:
                low, high = ACTION_PARAMETERS[name].low, ACTION_PARAMETERS[name].high
            else:
                low, high = self.config.bounds[name]
            if not low <= float(value) <= high:
                raise ValueError(
                    f"overrides.{name}: expected a value in [{low}, {high}], got {value}"
                )

    @property
    def action_parameters(self) -> tuple[str, ...]:
        return self.config.action_parameters

    def to(self, device: torch.device | str) -> GnnTuner:
        """Moves the network to ``device`` (the noise is drawn on the CPU, then moved)."""
        self.net = self.net.to(device)
        return self

    def reset(self, seed: int | None = None) -> None:
        """Restarts the noise sequence, from ``seed`` if given (no other memory to clear)."""
        if seed is not None:
            self.seed = seed
        self._generator = torch.Generator().manual_seed(self.seed)

    def _noisy(self, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
        if not self.sample:
            return mean
        noise = torch.randn(mean.shape, generator=self._generator, dtype=mean.dtype)
        return mean + log_std.clamp_min(LOG_STD_FLOOR).exp() * noise.to(mean.device)

    def __call__(self, observation: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.select_action(observation)

    @torch.no_grad()
    def select_action(self, observation: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        num_envs = observation.num_graphs
        num_agents = observation.num_nodes // num_envs
        out = self.net(observation.x, observation.edge_index, observation.edge_attr)
        return self.act_on_means(
            out.node_mean, out.edge_mean, observation.edge_index, num_envs, num_agents
        )

    @torch.no_grad()
    def act_on_means(
        self,
        node_mean: torch.Tensor,
        edge_mean: torch.Tensor,
        edge_index: torch.Tensor,
        num_envs: int,
        num_agents: int,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``select_action``'s result from the network's pre-squash means (computed by the
        network or by :mod:`fleetpilot.safety.tuner_kernel`): noise, squashing, overrides."""
        params = self.net.squash_node(self._noisy(node_mean, self.net.node_log_std))
        for column, name in enumerate(self.config.action_parameters):
            if name in self.overrides:
                params[:, column] = self.overrides[name]
        action = params.view(num_envs, num_agents, -1)
        if not self.config.per_neighbour_responsibility:
            return action, None
        shares = self.net.squash_edge(self._noisy(edge_mean, self.net.edge_log_std))
        if RESPONSIBILITY in self.overrides:
            shares = torch.full_like(shares, self.overrides[RESPONSIBILITY])
        return action, dense_responsibility(shares, edge_index, num_envs, num_agents)

    def save_pretrained(self, directory: str | Path) -> None:
        save_pretrained(self.net, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> GnnTuner:
        return cls(load_net(directory))


def save_pretrained(net: CbfTunerNet, directory: str | Path) -> None:
    """Writes ``tuner.yaml`` (kind, format, config) and ``model.safetensors``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"kind": TUNER_KIND, "format_version": FORMAT_VERSION, **net.config.to_dict()}
    (directory / CONFIG_FILE).write_text(yaml.safe_dump(manifest, sort_keys=False))
    tensors = {name: value.detach().cpu().contiguous() for name, value in net.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_FILE))


def load_net(directory: str | Path) -> CbfTunerNet:
    """The network saved in ``directory``; no code is run from disk (YAML + safetensors).

    Raises:
        ValueError: naming the config field or tensor that does not match, and its value.
    """
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ValueError(
                f"{path}: missing (a tuner directory holds {CONFIG_FILE} and {WEIGHTS_FILE})"
            )
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{config_path}: expected a mapping, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop("kind", None)
    if kind != TUNER_KIND:
        raise ValueError(f"{config_path}: kind: expected {TUNER_KIND!r}, got {kind!r}")
    version = data.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{config_path}: format_version: expected {FORMAT_VERSION}, got {version!r}"
        )
    try:
        config = TunerConfig.from_dict(data, source=str(config_path))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{config_path}: {error}") from error
    net = CbfTunerNet(config)
    expected = net.state_dict()
    tensors = load_file(str(weights_path))
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{weights_path}: tensors do not match {config_path.name}: missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name in expected:  # module order: the first mismatch is the earliest layer
        tensor = tensors[name]
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(
                f"{weights_path}: tensor {name}: expected shape {tuple(expected[name].shape)} "
                f"from {config_path.name}, got {tuple(tensor.shape)}"
            )
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{weights_path}: tensor {name}: expected finite values")
    net.load_state_dict(tensors)
    return net.eval()


def load_tuner(directory: str | Path) -> GnnTuner:
    """Loader registered for ``kind: cbf_tuner_gnn`` in ``fleetpilot.envs.tuners``."""
    return GnnTuner(load_net(directory))
