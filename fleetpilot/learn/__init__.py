"""Shared reinforcement-learning pieces: rollout buffers, GAE, PPO losses, seeding and logging.

Each piece is a small module with no knowledge of a particular policy or environment, so the
flow-policy trainer and other trainers can share them.
"""
