"""Recordings: the animation and plots are written and show what was recorded."""

import av
import numpy as np
import pytest
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


def test_mp4_decodes_with_the_requested_frames(tmp_path):
    path = write_animation(small_record(), tmp_path / "run.mp4", max_frames=12)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(frames) == 12
    height, width, _ = frames[0].shape
    assert width % 2 == 0 and height % 2 == 0 and width >= 600  # 640 px wide, even sizes
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.1  # robots moved


def test_animation_format_follows_the_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"animation path: expected a \.mp4 or \.gif file"):
        write_animation(small_record(), tmp_path / "run.avi")


def test_plots_are_written(tmp_path):
    paths = write_plots(small_record(), tmp_path)
    assert [p.name for p in paths] == ["min_distance.png", "alpha.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.size[0] > 300


def test_recorder_falls_back_to_gif_without_pyav(tmp_path, monkeypatch):
    from pathlib import Path

    from fleetpilot.scenarios import load_scenario
    from fleetpilot.sim import recorder as recorder_module

    scenario = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "head_on_pair.yaml"
    instance = load_scenario(scenario).sample(seed=(0, 0, 0))
    with pytest.raises(ValueError, match="animation_format: expected one of mp4, gif"):
        recorder_module.RunRecorder(tmp_path / "bad", instance, animation_format="avi")
    monkeypatch.setattr(recorder_module, "mp4_available", lambda: False)
    recorder = recorder_module.RunRecorder(tmp_path / "run", instance)
    assert recorder.animation_file == "animation.gif" and "PyAV" in recorder.notes[0]
    recorder.finish()
