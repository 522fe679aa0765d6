"""TensorBoard run folders: runs started in the same second keep separate logs."""

from fleetpilot.learn.run_logging import fresh_run_directory, make_writer, run_name


def test_runs_with_the_same_name_get_separate_folders(tmp_path):
    name = run_name("Env", "exp", 1, start_time=1_800_000_000.0)
    first = fresh_run_directory(tmp_path, name)
    second = fresh_run_directory(tmp_path, name)
    assert first == tmp_path / name
    assert second == tmp_path / f"{name}__2"
    assert first.is_dir() and second.is_dir()


def test_two_writers_started_together_write_to_their_own_folders(tmp_path):
    writers = [make_writer(tmp_path, "same", {"seed": seed}) for seed in (1, 2)]
    for writer in writers:
        writer.add_scalar("x", 1.0, 0)
        writer.close()
    folders = sorted(path.name for path in tmp_path.iterdir())
    assert folders == ["same", "same__2"]
    for folder in folders:
        assert len(list((tmp_path / folder).glob("events.out.tfevents.*"))) == 1
