"""Batched multi-agent navigation environment (torch) for training and judging CBF tuners.

Exports resolve lazily, so importing ``fleetpilot.envs.eval_nav`` for the command line does not
load torch::

    from fleetpilot.envs import NavEnv, NavEnvConfig
    from fleetpilot.scenarios import load_scenario

    env = NavEnv(NavEnvConfig(scenario=load_scenario("sim/scenarios/doorway.yaml"), num_envs=64))
    obs, info = env.reset(seed=0)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "NavEnv": "fleetpilot.envs.nav_env",
    "NavEnvConfig": "fleetpilot.envs.config",
    "RewardConfig": "fleetpilot.envs.config",
    "ActionLayout": "fleetpilot.envs.actions",
    "ACTION_PARAMETERS": "fleetpilot.envs.actions",
    "EpisodeMetrics": "fleetpilot.envs.metrics",
    "summarize": "fleetpilot.envs.metrics",
    "NODE_FEATURES": "fleetpilot.envs.graph",
    "EDGE_FEATURES": "fleetpilot.envs.graph",
    "FixedTuner": "fleetpilot.envs.tuners",
    "make_tuner": "fleetpilot.envs.tuners",
    "evaluate": "fleetpilot.envs.evaluate",
    "run_episodes": "fleetpilot.envs.evaluate",
    "GridSearchConfig": "fleetpilot.envs.grid_search",
    "grid_search": "fleetpilot.envs.grid_search",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fleetpilot.envs' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
