"""Two processes exchange fleetpilot's custom AgentStateArray over Fast DDS."""

from pathlib import Path

from fleetpilot.msg import AgentStateArray

from tests.ros.agent_state_publisher import known_message
from tests.ros.conftest import process_log, spin_until

PUBLISHER = Path(__file__).with_name("agent_state_publisher.py")


def test_agent_state_array_crosses_processes_field_by_field(ros_context, executor, python_process):
    import rclpy

    topic = "/test_exchange/agent_states"
    received: list[AgentStateArray] = []
    node = rclpy.create_node("exchange_receiver", context=ros_context)
    node.create_subscription(AgentStateArray, topic, received.append, 10)
    executor.add_node(node)
    publisher = python_process(str(PUBLISHER), topic)

    assert spin_until(executor, lambda: bool(received), timeout=30.0), (
        "no AgentStateArray arrived from the publisher process; its log:\n"
        + process_log(publisher)
    )
    message, expected = received[0], known_message()
    assert publisher.pid != __import__("os").getpid()
    assert message.header.frame_id == expected.header.frame_id
    assert (message.header.stamp.sec, message.header.stamp.nanosec) == (42, 7)
    assert len(message.agents) == len(expected.agents) == 3
    for got, want in zip(message.agents, expected.agents, strict=True):
        for field in ("id", "x", "y", "heading", "vx", "vy", "radius"):
            assert getattr(got, field) == getattr(want, field), field
        assert (got.stamp.sec, got.stamp.nanosec) == (want.stamp.sec, want.stamp.nanosec)
    node.destroy_node()
