"""The two-stage allocator network (Gong et al. 2024 style), in torch.

Stage 1 embeds robots, tasks and robot-task pairs and scores every pair by a learned
similarity; each task keeps its ``n_candidates`` best-scoring eligible robots (pre-assignment).
Stage 2 encodes each task's candidates with self-attention (so a candidate's score can depend
on who else is available) and scores them with a layer whose weights a hypernetwork produces
from the task's features; a second head gives a per-task "stop / do not serve now" logit.

The hypernetwork uses a magnitude-invariant parametrization (Ortiz et al. 2023, "Magnitude
Invariant Parametrizations Improve Hypernetwork Learning"): its input is encoded as
``[cos(pi x / 2), sin(pi x / 2)]`` of features squashed to [0, 1], so the input norm is constant,
and it predicts an additive change to learned base weights rather than the weights themselves.

Nothing here depends on the number of robots or tasks, so one set of weights serves any fleet.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from fleetpilot.allocation.coalition_choice import subset_profit
from fleetpilot.allocation.features import (
    PAIR_FEATURES,
    PAIR_USEFUL_FRACTION,
    ROBOT_EXTRA,
    TASK_EXTRA,
)

NEG_INF = -1e9  # finite "minus infinity" keeps softmax gradients NaN-free


@dataclass(frozen=True)
class TwoStageConfig:
    """Architecture of :class:`TwoStageAllocatorNet`.

    Attributes:
        n_capabilities: length of capability / requirement vectors.
        embed_dim: width of robot, task, pair and candidate embeddings.
        hidden_dim: width of hidden layers of the MLPs.
        n_candidates: robots pre-assigned to each task by stage 1.
        n_heads: attention heads in stage 2 (must divide ``embed_dim``).
        score_dim: width of the hypernetwork-generated scoring layer.
        coalition_head: stage 2 chooses whole coalitions (subsets of a task's candidates,
            scored by their members' scores plus a learned weight times their profit; see
            ``coalition_choice``) instead of picking robots one by one; stage 1 then ranks
            pairs by cost per unit of useful capability.
    """

    n_capabilities: int = 3
    embed_dim: int = 32
    hidden_dim: int = 64
    n_candidates: int = 8
    n_heads: int = 2
    score_dim: int = 16
    coalition_head: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.coalition_head, bool):
            raise ValueError(
                f"TwoStageConfig.coalition_head must be a bool, got {self.coalition_head!r}"
            )
        for name, value in asdict(self).items():
            if name == "coalition_head":
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TwoStageConfig.{name} must be a positive int, got {value!r}")
        if self.embed_dim % self.n_heads:
            raise ValueError(
                f"TwoStageConfig.n_heads ({self.n_heads}) must divide embed_dim ({self.embed_dim})"
            )


@dataclass
class StageOutputs:
    """What the network returns for B environments and K tasks.

    Attributes:
        candidates: (B, K, k) robot index of each task's candidates, -1 = padding.
        logits: (B, K, k) candidate scores (NEG_INF for padding / ineligible).
        stop_logit: (B, K) score of leaving the task for later.
        pair_score: (B, R, K) stage-1 similarity (NEG_INF where not eligible).
    """

    candidates: torch.Tensor
    logits: torch.Tensor
    stop_logit: torch.Tensor
    pair_score: torch.Tensor


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


def magnitude_invariant_encoding(features: torch.Tensor) -> torch.Tensor:
    """Maps features to ``[cos, sin]`` of their squashed value (constant norm per feature).

    Args:
        features: (..., F) any real values.

    Returns:
        (..., 2F) encoding with every (cos, sin) pair of unit norm.
    """
    unit = 0.5 * (1.0 + features / (1.0 + features.abs()))  # squash to (0, 1)
    angle = 0.5 * math.pi * unit
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)


class TwoStageAllocatorNet(nn.Module):
    """Stage-1 similarity pre-assignment plus stage-2 hypernetwork attention scoring."""

    def __init__(self, config: TwoStageConfig) -> None:
        super().__init__()
        self.config = config
        c, d, h = config.n_capabilities, config.embed_dim, config.hidden_dim
        self.robot_encoder = _mlp(c + ROBOT_EXTRA, h, d)
        self.task_encoder = _mlp(c + TASK_EXTRA, h, d)
        self.pair_encoder = _mlp(PAIR_FEATURES, h, d)
        self.pair_head = nn.Linear(d, 1)
        # Positive weight on the member cost: cheaper pairs start out more similar.
        self.cost_weight = nn.Parameter(torch.tensor(2.0))
        self.candidate_encoder = _mlp(2 * d + 1, h, d)
        self.attention = nn.MultiheadAttention(d, config.n_heads, batch_first=True)
        self.attention_norm = nn.LayerNorm(d)
        self.hypernetwork = _mlp(2 * (c + TASK_EXTRA), h, config.score_dim * (d + 1))
        # Additive output: hypernetwork predicts a change to these base weights.
        self.base_weight = nn.Parameter(torch.randn(config.score_dim, d) / math.sqrt(d))
        self.base_output = nn.Parameter(
            torch.randn(config.score_dim) / math.sqrt(config.score_dim)
        )
        with torch.no_grad():  # start from the base weights
            self.hypernetwork[-1].weight.mul_(0.1)
            self.hypernetwork[-1].bias.zero_()
        self.stop_head = _mlp(2 * d, h, 1)
        with torch.no_grad():  # start out serving tasks (stop unlikely)
            self.stop_head[-1].bias.fill_(-2.0)
        if config.coalition_head:
            # Start from "most profitable covering coalition, stop when none pays": the
            # profit term dominates, members' learned scores and the stop score start small.
            # A steep profit weight keeps sampled decisions close to the argmax ones (with 4,
            # sampling lost 85 % of the argmax reward on capability matching).
            self.profit_weight = nn.Parameter(torch.tensor(20.0))
            with torch.no_grad():
                self.base_output.mul_(0.1)
                self.stop_head[-1].bias.zero_()

    def stage_one(
        self,
        robot: torch.Tensor,
        task: torch.Tensor,
        pair: torch.Tensor,
        member_cost: torch.Tensor,
        eligible: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Learned pair similarity.

        Returns:
            (score (B, R, K) with NEG_INF where not eligible, robot embeddings (B, R, d),
            task embeddings (B, K, d), pair embeddings (B, R, K, d)).
        """
        robot_emb = self.robot_encoder(robot)
        task_emb = self.task_encoder(task)
        pair_emb = self.pair_encoder(pair)
        similarity = torch.einsum("brd,bkd->brk", robot_emb, task_emb) / math.sqrt(
            self.config.embed_dim
        )
        if self.config.coalition_head:  # cost per unit of the task's need it covers
            member_cost = member_cost / pair[..., PAIR_USEFUL_FRACTION].clamp(min=0.05)
        score = (
            similarity
            + self.pair_head(pair_emb)[..., 0]
            - nn.functional.softplus(self.cost_weight) * member_cost
        )
        return score.masked_fill(~eligible, NEG_INF), robot_emb, task_emb, pair_emb

    def forward(
        self,
        robot: torch.Tensor,
        task: torch.Tensor,
        pair: torch.Tensor,
        member_cost: torch.Tensor,
        eligible: torch.Tensor,
        candidates: torch.Tensor | None = None,
        n_candidates: int | None = None,
    ) -> StageOutputs:
        """Scores each task's candidate robots.

        Args:
            robot: (B, R, C + 2), task: (B, K, C + 3), pair: (B, R, K, 4),
                member_cost: (B, R, K), eligible: (B, R, K) bool; see ``features.ModelInputs``.
            candidates: (B, K, k) robot indices to score instead of stage 1's choice (used
                to re-evaluate recorded decisions during training); -1 = padding.
            n_candidates: override of ``config.n_candidates`` (clipped to R).

        Returns:
            :class:`StageOutputs`.
        """
        score, robot_emb, task_emb, pair_emb = self.stage_one(
            robot, task, pair, member_cost, eligible
        )
        batch, n_robots, n_tasks = score.shape
        if candidates is None:
            k = min(n_candidates or self.config.n_candidates, n_robots)
            top_score, top_index = score.detach().transpose(1, 2).topk(k, dim=-1)
            candidates = torch.where(top_score > NEG_INF / 2, top_index, -1)
        k = candidates.shape[-1]
        valid = candidates >= 0
        index = candidates.clamp(min=0)  # (B, K, k)
        batch_index = torch.arange(batch)[:, None, None]
        task_index = torch.arange(n_tasks)[None, :, None]
        cand_robot = robot_emb[batch_index, index]  # (B, K, k, d)
        cand_pair = pair_emb[batch_index, index, task_index]
        cand_score = score[batch_index, index, task_index]  # (B, K, k)
        hidden = self.candidate_encoder(
            torch.cat([cand_robot, cand_pair, cand_score[..., None]], dim=-1)
        )
        flat = hidden.reshape(batch * n_tasks, k, -1)
        padding = ~valid.reshape(batch * n_tasks, k)
        padding = padding & ~padding.all(-1, keepdim=True)  # all-padding rows: avoid NaN
        attended, _ = self.attention(
            flat, flat, flat, key_padding_mask=padding, need_weights=False
        )
        hidden = self.attention_norm(flat + attended).reshape(batch, n_tasks, k, -1)
        # Hypernetwork: per-task scoring weights from the task's own features.
        d, s = self.config.embed_dim, self.config.score_dim
        delta = self.hypernetwork(magnitude_invariant_encoding(task))
        weight = self.base_weight + delta[..., : s * d].reshape(batch, n_tasks, s, d)
        output = self.base_output + delta[..., s * d :]
        features = torch.tanh(torch.einsum("bksd,bkcd->bkcs", weight, hidden))
        logits = torch.einsum("bkcs,bks->bkc", features, output)
        if not self.config.coalition_head:  # subsets get the cost through their profit
            logits = logits + cand_score
        logits = logits.masked_fill(~valid, NEG_INF)
        weights = valid.float()[..., None]
        pooled = (hidden * weights).sum(2) / weights.sum(2).clamp(min=1.0)
        stop_logit = self.stop_head(torch.cat([task_emb, pooled], dim=-1))[..., 0]
        return StageOutputs(candidates, logits, stop_logit, score)

    def subset_scores(
        self,
        outputs: StageOutputs,
        value: torch.Tensor,
        member_cost: torch.Tensor,
        subsets: torch.Tensor,
    ) -> torch.Tensor:
        """Scores of every candidate subset plus stop (``coalition_head`` only).

        Args:
            outputs: this network's forward outputs.
            value: (B, K) task value and member_cost: (B, R, K), in the scale-free units of
                ``features.ModelInputs``.
            subsets: (S, k) float membership from ``coalition_choice.subset_table``.

        Returns:
            (B, K, S + 1): sum of the members' scores + softplus(profit_weight) * profit, and
            the stop score last.
        """
        if not self.config.coalition_head:
            raise ValueError("subset_scores needs TwoStageConfig.coalition_head = True")
        profit = subset_profit(value, member_cost, outputs.candidates, subsets)
        member = outputs.logits.masked_fill(outputs.candidates < 0, 0.0)
        scores = torch.einsum("sc,bkc->bks", subsets, member)
        scores = scores + nn.functional.softplus(self.profit_weight) * profit
        return torch.cat([scores, outputs.stop_logit[..., None]], dim=-1)
