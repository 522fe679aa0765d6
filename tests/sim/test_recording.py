"""Recordings: the animation and plots are written and show what was recorded."""

import numpy as np
from PIL import Image

from fleetpilot.safety.status import SafetyMode
from fleetpilot.sim.recording import RunRecord, write_animation, write_plots


def small_record() -> RunRecord:
    record = RunRecord(
        goals=np.array([[2.0, 0.0], [-2.0, 0.0]]),
        radii=np.array([0.2, 0.2]),
        obstacles=np.array([[0.0, 1.0, 0.3]]),
        sensing_radius=1.5,
        safety_distance=0.4,
        arena=(-3.0, -2.0, 3.0, 2.0),
    )
    for tick in range(30):
        x = -2.0 + 0.1 * tick
        poses = np.array([[x, 0.0, 0.0], [-x, 0.3, np.pi]])
        modes = [SafetyMode.NOMINAL, SafetyMode.FILTERED if tick > 10 else SafetyMode.NOMINAL]
        record.append(0.1 * tick, poses, modes, np.array([1.0, 1.0 + 0.1 * tick]), abs(2 * x))
    return record


def test_animation_has_the_requested_frames(tmp_path):
    path = write_animation(small_record(), tmp_path / "run.gif", max_frames=12)
    with Image.open(path) as gif:
        assert gif.n_frames == 12
        first = np.asarray(gif.convert("RGB")).copy()
        gif.seek(11)
        last = np.asarray(gif.convert("RGB"))
    assert first.shape[0] > 100 and first.shape[1] > 100
    assert np.abs(first.astype(int) - last.astype(int)).sum() > 0  # the robots moved


def test_plots_are_written(tmp_path):
    paths = write_plots(small_record(), tmp_path)
    assert [p.name for p in paths] == ["min_distance.png", "alpha.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.size[0] > 300
