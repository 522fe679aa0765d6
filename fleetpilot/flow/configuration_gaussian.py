"""Configuration of the Gaussian MLP baseline policy."""

from __future__ import annotations

from dataclasses import dataclass

from fleetpilot.flow.configuration_common import PolicyConfig


@dataclass(frozen=True)
class GaussianPolicyConfig(PolicyConfig):
    """A diagonal Gaussian over the action chunk with a state-independent log-std.

    Attributes:
        init_log_std: initial log standard deviation of every action dimension.
        sample_at_inference: ``select_action`` samples when true, returns the mean when false.
    """

    init_log_std: float = -0.5
    sample_at_inference: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not -10.0 <= self.init_log_std <= 2.0:
            raise ValueError(
                f"GaussianPolicyConfig.init_log_std must be in [-10, 2], got {self.init_log_std}"
            )
