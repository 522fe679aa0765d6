"""Safety: robot models, the batched decentralized CBF-QP filter, and input watchdogs."""

from fleetpilot.safety.cbf import FilterReport, SingleIntegratorCBF, UnicycleCBF
from fleetpilot.safety.status import SafetyMode

__all__ = ["FilterReport", "SafetyMode", "SingleIntegratorCBF", "UnicycleCBF"]
