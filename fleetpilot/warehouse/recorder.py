"""Recording a warehouse episode: the navigation recording (animation, plots, MCAP bag,
metrics) plus the work: pick stations (blue squares) and drop stations (purple squares), a line
from each busy robot to its station, a white square on robots carrying a load, and in the bag
the open tasks (``/fleet/tasks``) and who serves what (``/fleet/assignments``) whenever they
change."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fleetpilot.sim.recorder import RunRecorder
from fleetpilot.sim.runner import Tick
from fleetpilot.warehouse.dispatch import Leg
from fleetpilot.warehouse.scenario import WarehouseInstance

PICK_COLOUR, DROP_COLOUR = "#1f77b4", "#9467bd"


class WarehouseRecorder(RunRecorder):
    """A :class:`RunRecorder` that also records the task state of a :class:`WarehouseRun`.

    Args:
        directory: the output folder (an existing bag in it is an error).
        instance: the sampled warehouse.
        animation_format: ``mp4`` or ``gif``.
    """

    def __init__(
        self, directory: str | Path, instance: WarehouseInstance, animation_format: str = "mp4"
    ) -> None:
        super().__init__(directory, instance.world, animation_format=animation_format)
        layout = instance.layout
        self.record.goals = np.zeros((0, 2))  # the stations are the goals
        self.record.landmarks = [
            (layout.pick_stations, PICK_COLOUR),
            (layout.drop_stations, DROP_COLOUR),
        ]
        self.run = None
        self._open: tuple[str, ...] | None = None
        self._serving: tuple[tuple[str, str], ...] | None = None

    def attach(self, run) -> None:
        """The run whose task state is recorded (before its first tick)."""
        self.run = run

    def __call__(self, tick: Tick) -> None:
        super().__call__(tick)
        if self.run is None:
            return
        dispatcher = self.run.dispatcher
        targets = dispatcher.goals()
        targets[dispatcher.leg == Leg.IDLE] = np.nan
        self.record.append_tasks(targets, dispatcher.leg == Leg.TO_DROPOFF)
        open_tasks = dispatcher.open_tasks(tick.time)
        if tuple(task.id for task in open_tasks) != self._open:
            self._open = tuple(task.id for task in open_tasks)
            self.bag.tasks(tick.time, open_tasks)
        pairs = zip(dispatcher.robot_ids, dispatcher.task, strict=True)
        serving = tuple((task, robot) for robot, task in pairs if task)
        if serving != self._serving:
            self._serving = serving
            self.bag.assignments(tick.time, list(serving))
