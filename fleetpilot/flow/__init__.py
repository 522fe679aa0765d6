"""Expressive policies (flow matching, diffusion) next to a Gaussian baseline, one contract.

Every policy is a ``PreTrainedPolicy`` (LeRobot-like): ``reset()``, ``select_action(obs)``,
``predict_action_chunk(obs)``, ``forward(batch) -> (loss, info)``, ``save_pretrained(dir)`` and
``from_pretrained(dir)``. Build one by name with ``make_policy("flow", config)`` and load any
saved one with ``load_policy(dir)`` (``fleetpilot.flow.registry``).
"""
