"""A plain multilayer perceptron builder shared by policies, critics and Q-functions."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}


def build_mlp(
    in_dim: int,
    hidden_dims: Sequence[int],
    out_dim: int,
    activation: str = "silu",
    output_gain: float | None = None,
) -> nn.Sequential:
    """An MLP ``in_dim -> hidden_dims... -> out_dim`` with the activation between layers.

    Args:
        in_dim: input features.
        hidden_dims: widths of the hidden layers (may be empty: a linear map).
        out_dim: output features.
        activation: one of ``ACTIVATIONS``.
        output_gain: if given, the last layer is orthogonally initialised with this gain and
            zero bias (small gains make a policy start near its prior, as in CleanRL's PPO).

    Returns:
        The network; it maps ``[..., in_dim]`` to ``[..., out_dim]``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    width = in_dim
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    last = nn.Linear(width, out_dim)
    if output_gain is not None:
        nn.init.orthogonal_(last.weight, gain=output_gain)
        nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)
