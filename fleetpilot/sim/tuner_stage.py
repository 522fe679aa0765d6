"""One robot fleet's CBF parameters for this tick, from any tuner, outside the training env.

The learned tuner reads the neighbour-graph observation the training environment builds; this
builds the same observation from a simulator's state (float32, the training dtype) and unpacks
the tuner's action into named per-robot arrays. The GNN tuner's observation and network run in
one compiled pass (:mod:`fleetpilot.safety.tuner_kernel`; torch's per-operator overhead made
them a third of a 16-robot warehouse tick); other learned tuners get the torch observation. A
fixed tuner ignores its observation, so its parameters are computed once.
"""

from __future__ import annotations

import numpy as np
import torch

from fleetpilot.envs.actions import ActionLayout
from fleetpilot.envs.graph import Geometry, NeighbourGraphBuilder, compute_geometry
from fleetpilot.envs.tuners import FixedTuner, Tuner, observation_scan
from fleetpilot.safety.tuner import GnnTuner
from fleetpilot.safety.tuner_kernel import TunerKernel

PADDING_OBSTACLE = (1.0e4, 1.0e4, 1.0e-3)
"""[x, y, r] of the one padding row of obstacle-free worlds (far away and tiny, as in NavEnv)."""


def obstacle_tensors(obstacles: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, 3) discs -> (1, M', 3) float64 tensor and (1, M') mask, padded when M = 0."""
    padded = obstacles if len(obstacles) else np.array([PADDING_OBSTACLE])
    mask = torch.tensor([[len(obstacles) > 0] * len(padded)])
    return torch.tensor(padded, dtype=torch.float64).unsqueeze(0), mask


class TunerStage:
    """``params = stage(...)``: a dict of (N,) arrays (``alpha``, ``gain``, ``tangential``, ...)
    and ``responsibility``, an (N, N) share matrix or None.

    Args:
        tuner: a tuner from ``fleetpilot.envs.tuners.make_tuner``.
        num_robots: N.
        sensing_radius: of the observation graph [m].
        obstacles: (M, 3) static discs [x, y, r] the observation includes.
        noise_seed: seed of a sampling policy's noise for this episode; None: the tuner's
            current seed (a fresh tuner's is its config's ``noise_seed``).
        compiled: run a GNN tuner's observation and network compiled (False: in torch, as
            training does; the tests compare both).
    """

    def __init__(
        self,
        tuner: Tuner,
        num_robots: int,
        sensing_radius: float,
        obstacles: np.ndarray,
        noise_seed: int | None = None,
        compiled: bool = True,
    ) -> None:
        self.tuner = tuner
        if callable(getattr(tuner, "reset", None)):
            # Policies with state (e.g. a noise stream) start each episode afresh.
            tuner.reset(noise_seed)
        self.layout = ActionLayout(tuple(tuner.action_parameters))
        self.obstacles, self.obstacle_mask = obstacle_tensors(obstacles)
        self._graph = NeighbourGraphBuilder(
            1, num_robots, sensing_radius, torch.device("cpu"), **observation_scan(tuner)
        )
        self._obstacle_array = np.asarray(obstacles, dtype=np.float64).reshape(-1, 3)
        self._kernel = None
        if compiled and isinstance(tuner, GnnTuner):
            self._kernel = TunerKernel(tuner.net, sensing_radius)
        self._fixed = None
        if isinstance(tuner, FixedTuner):
            action = self.layout.pack(dict(tuner.values), 1, num_robots, torch.float64)
            self._fixed = {k: v[0].numpy() for k, v in self.layout.unpack(action).items()}
            self._fixed["responsibility"] = None

    @property
    def fixed(self) -> bool:
        """Whether the parameters never change (a fixed tuner)."""
        return self._fixed is not None

    def geometry(self, positions: torch.Tensor) -> Geometry:
        """Pairwise and obstacle geometry of (1, N, 2) float64 positions."""
        return compute_geometry(positions, self.obstacles, self.obstacle_mask)

    def __call__(
        self,
        positions: torch.Tensor,
        velocities: np.ndarray,
        headings: np.ndarray,
        goals: torch.Tensor,
        arrived: torch.Tensor,
        geometry: Geometry | None = None,
    ) -> dict[str, np.ndarray | None]:
        """Parameters for this tick.

        Args:
            positions: (1, N, 2) float64 [m].
            velocities: (N, 2) world-frame velocities [m/s].
            headings: (N,) yaw [rad].
            goals: (1, N, 2) float64 where each robot is driving to [m].
            arrived: (1, N) bool, robots at rest at their goal.
            geometry: ``self.geometry(positions)`` if already computed.
        """
        if self._fixed is not None:
            return self._fixed
        if self._kernel is not None:
            node_mean, edge_mean, edge_index = self._kernel(
                positions[0].numpy(),
                velocities,
                headings,
                goals[0].numpy(),
                arrived[0].numpy(),
                self._obstacle_array,
            )
            output = self.tuner.act_on_means(node_mean, edge_mean, edge_index, 1, len(headings))
            return self._named(output)
        exact = geometry if geometry is not None else self.geometry(positions)
        observation = self._graph(
            Geometry(
                exact.distances.float(),
                exact.obstacle_offsets.float(),
                exact.obstacle_gaps.float(),
            ),
            positions.float(),
            torch.tensor(velocities, dtype=torch.float32).unsqueeze(0),
            torch.tensor(headings, dtype=torch.float32).unsqueeze(0),
            goals.float(),
            arrived,
        )
        with torch.inference_mode():
            output = self.tuner(observation)
        return self._named(output)

    def _named(self, output) -> dict[str, np.ndarray | None]:
        """The tuner's output as named (N,) float64 arrays and the responsibility matrix."""
        # Tuners with per-neighbour outputs return (action, (1, N, N) responsibility shares).
        action, responsibility = output if isinstance(output, tuple) else (output, None)
        values = self.layout.unpack(torch.as_tensor(action, dtype=torch.float64))
        params: dict[str, np.ndarray | None] = {k: v[0].numpy() for k, v in values.items()}
        params["responsibility"] = (
            None if responsibility is None else responsibility[0].double().numpy()
        )
        return params
