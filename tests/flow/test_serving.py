"""The action server's deadline logic: never an action older than the deadline."""

import numpy as np
import pytest
import torch

from fleetpilot.flow.registry import make_config, make_policy
from fleetpilot.flow.serving import ActionServer, ServeStatus, ServingConfig


class SteppedClock:
    """A clock that only moves when told to: the test decides what time it is."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def chunked_policy():
    torch.manual_seed(0)
    config = make_config(
        "flow", obs_dim=2, action_dim=2, horizon=4, n_action_steps=3, hidden_dims=(16,)
    )
    return make_policy("flow", config)


def test_no_observation_gives_zero_and_a_reason():
    server = ActionServer(chunked_policy(), ServingConfig(), clock=SteppedClock())
    served = server.next_action()
    assert served.status is ServeStatus.NO_OBSERVATION
    assert np.array_equal(served.action, np.zeros(2, dtype=np.float32))


def test_stale_observation_is_refused_without_running_inference():
    clock = SteppedClock()
    server = ActionServer(chunked_policy(), ServingConfig(deadline_s=0.05), clock=clock)
    server.observe(np.ones(2), stamp=clock.now - 0.2)
    served = server.next_action()
    assert served.status is ServeStatus.STALE_OBSERVATION
    assert "200.0 ms old" in served.reason
    assert not served.action.any()
    assert server.latency.count == 0


def test_queued_actions_are_served_in_order_until_they_expire():
    clock = SteppedClock()
    policy = chunked_policy()
    config = ServingConfig(control_period_s=0.1, deadline_s=0.05)
    server = ActionServer(policy, config, clock=clock)
    obs = np.array([0.3, -0.2], dtype=np.float32)
    server.observe(obs, stamp=clock.now)
    first = server.next_action()
    assert first.status is ServeStatus.OK and first.inferred
    assert server.latency.count == 1 and server.latency.summary()["last_ms"] == 0.0

    clock.now += 0.1  # on time for the chunk's second action
    second = server.next_action()
    assert second.status is ServeStatus.OK and not second.inferred
    assert second.age_s == pytest.approx(0.0, abs=1e-9)
    assert not np.array_equal(first.action, second.action)

    clock.now += 0.3  # the third action was due 0.2 s ago: dropped, and the obs is stale too
    late = server.next_action()
    assert late.status is ServeStatus.STALE_OBSERVATION
    assert server.dropped_actions == 1

    server.observe(obs, stamp=clock.now)  # a fresh observation restores service
    assert server.next_action().status is ServeStatus.OK
    assert server.latency.count == 2


class TickingClock(SteppedClock):
    """Every reading advances time by ``tick`` seconds, so inference "takes" one tick."""

    def __init__(self, tick: float) -> None:
        super().__init__()
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_slow_inference_never_yields_a_late_action():
    clock = TickingClock(tick=0.01)
    # Actions 1 ms apart, 15 ms deadline: by the time the 10 ms inference returns, every
    # action of the chunk is already older than the deadline, so the server answers zero.
    server = ActionServer(chunked_policy(), ServingConfig(0.001, deadline_s=0.015), clock)
    server.observe(np.zeros(2), stamp=clock.now)
    served = server.next_action()
    assert served.status is ServeStatus.LATE_INFERENCE and served.inferred
    assert "inference took 10.0 ms" in served.reason
    assert not served.action.any()
    assert server.dropped_actions == 3


def test_latency_is_measured_with_the_real_clock():
    import time

    server = ActionServer(chunked_policy(), ServingConfig(deadline_s=10.0))
    server.observe(np.zeros(2), stamp=time.monotonic())
    assert server.next_action().status is ServeStatus.OK
    summary = server.latency.summary()
    assert summary["count"] == 1 and 0.0 < summary["last_ms"] < 10_000.0


def test_served_actions_equal_the_policy_chunk():
    clock = SteppedClock()
    policy = chunked_policy()
    server = ActionServer(policy, ServingConfig(control_period_s=0.1, deadline_s=0.05), clock)
    obs = np.array([1.0, 2.0], dtype=np.float32)
    torch.manual_seed(7)
    server.observe(obs, stamp=clock.now)
    served = [server.next_action().action]
    for _ in range(2):
        clock.now += 0.1
        served.append(server.next_action().action)
    torch.manual_seed(7)
    with torch.no_grad():
        chunk = policy.predict_action_chunk(torch.as_tensor(obs)[None])[0, :3].numpy()
    np.testing.assert_array_equal(np.stack(served), chunk)


@pytest.mark.parametrize(
    ("field", "value"), [("control_period_s", 0.0), ("deadline_s", -1.0), ("latency_window", 0)]
)
def test_serving_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"ServingConfig.{field} must be"):
        ServingConfig(**{field: value})
