"""A lifecycle node that works on a timer while active and owns what it creates.

Fleet-level nodes (``fleet_state``, ``task_allocator``, ``mapf_planner``) and the per-robot
``policy`` node share one shape: build subscriptions and publishers in ``on_configure``, run a
timer at a rate parameter while active, and destroy everything in ``on_cleanup``. Subclasses
implement :meth:`configure` (return False to fail the transition) and :meth:`tick`, and create
their entities through :meth:`subscribe` and :meth:`publisher` so cleanup finds them.
"""

from __future__ import annotations

from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn


class PeriodicLifecycleNode(LifecycleNode):
    """Lifecycle node with a timer at ``self.get_parameter(rate_parameter)`` Hz while active.

    Args:
        node_name: the node's name.
        rate_parameter: name of a float parameter [Hz] the subclass declares.
        **kwargs: passed to rclpy's lifecycle ``Node``.
    """

    def __init__(self, node_name: str, rate_parameter: str, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._rate_parameter = rate_parameter
        self._timer = None
        self._owned_subscriptions = []
        self._owned_publishers = []

    # For subclasses ---------------------------------------------------------------------------
    def configure(self) -> bool:
        """Reads parameters and creates entities; False fails the configure transition."""
        return True

    def tick(self) -> None:
        """One period of work while active."""

    def forget(self) -> None:
        """Drops state kept between ticks (on cleanup)."""

    def subscribe(self, *args, **kwargs):
        subscription = self.create_subscription(*args, **kwargs)
        self._owned_subscriptions.append(subscription)
        return subscription

    def publisher(self, *args, **kwargs):
        """A lifecycle publisher; created while active, it is enabled at once."""
        publisher = self.create_lifecycle_publisher(*args, **kwargs)
        self._owned_publishers.append(publisher)
        if self._timer is not None:
            publisher.on_activate(None)
        return publisher

    # Lifecycle transitions ------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        if not self.configure():
            self.on_cleanup(state)
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        period = 1.0 / self.get_parameter(self._rate_parameter).value
        self._timer = self.create_timer(period, self.tick)
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._destroy_timer()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._destroy_timer()
        for subscription in self._owned_subscriptions:
            self.destroy_subscription(subscription)
        for publisher in self._owned_publishers:
            self.destroy_lifecycle_publisher(publisher)
        self._owned_subscriptions.clear()
        self._owned_publishers.clear()
        self.forget()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        return self.on_cleanup(state)

    def _destroy_timer(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
