"""Promises of train.py's --init_from and --patience: a model started from another experiment's, and
training that stops itself once the validation loss no longer improves."""
import csv
import json
import os

import numpy as np
import pytest

import checkpoints
import train
from conftest import error_of

TINY = ["--rnn_size", "8", "--window_size", "8", "--batch_size", "16"]
STILL = ["--learning_rate", "1e-12"]  # weights that do not move in float32: every epoch scores the same


def weights_of(path):
    return checkpoints.load_checkpoint(path, compile=False).get_weights()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny lookback experiment of two epochs: what --init_from starts from."""
    from conftest import scale_melody, write_midi
    folder = tmp_path_factory.mktemp("source-midi")
    for i in range(6):
        write_midi(folder / f"tune{i}.mid", [scale_melody(64, offset=i)])
    path = str(tmp_path_factory.mktemp("runs") / "source")
    train.main(["--data_dir", str(folder), "--experiment_dir", path, "--num_epochs", "2", "--encoding", "onset",
                "--lookback", "4", "8", *TINY])
    return path


def test_a_new_experiment_starts_from_the_sources_best_weights_with_its_model_and_encoding(source, melody_dir, tmp_path):
    new = str(tmp_path / "new")
    train.main(["--data_dir", melody_dir, "--init_from", source, "--experiment_dir", new, "--num_epochs", "1",
                "--polyphony", "highest", *STILL])
    config, source_config = checkpoints.load_config(new), checkpoints.load_config(source)
    best = checkpoints.choose_checkpoint(source, "best")[1]
    assert config["initial_weights"] == best and config["init_from"] == source
    for name in train.SOURCE_FLAGS + ["num_classes", "dropout"]:
        assert config[name] == source_config[name], name
    assert config["data_dir"] == melody_dir and config["polyphony"] == "highest"  # the user's data flags
    (epoch, path), = checkpoints.list_checkpoints(new)  # its own checkpoint only, never the source's
    assert epoch == 1 and os.path.dirname(path) == os.path.join(new, "checkpoints")
    for started, learned in zip(weights_of(path), weights_of(best)):
        assert np.allclose(started, learned, atol=1e-6)


def test_the_latest_or_an_epoch_of_the_source_can_be_chosen_and_a_resume_keeps_it(source, melody_dir, tmp_path):
    new = str(tmp_path / "new")
    train.main(["--data_dir", melody_dir, "--init_from", source, "--init_checkpoint", "1",
                "--experiment_dir", new, "--num_epochs", "1"])
    assert checkpoints.load_config(new)["initial_weights"] == checkpoints.list_checkpoints(source)[0][1]
    train.main(["--experiment_dir", new, "--num_epochs", "2"])  # resumes from its own epoch 1
    assert [e for e, _ in checkpoints.list_checkpoints(new)] == [1, 2]
    message = error_of(lambda: train.main(["--experiment_dir", new, "--init_from", str(tmp_path), "--num_epochs", "3"]))
    assert f"{new} was trained with --init_from {source}; a resume cannot change it" in message
    assert "\n" not in message


@pytest.mark.parametrize("flags,message", [
    (["--window_size", "12"], "--window_size 12 contradicts the model of --init_from {source}, trained with --window_size 8"),
    (["--encoding", "roll"], "--encoding roll contradicts the model of --init_from {source}, trained with --encoding onset"),
    (["--lookback", "4"], "--lookback 4 contradicts the model of --init_from {source}, trained with --lookback 4 8"),
    (["--form_bars", "32"], "--form_bars 32 contradicts the model of --init_from {source}, trained with --form_bars 16"),
    (["--init_checkpoint", "9"], "has no whole checkpoint of epoch 9; it has epochs 1-2"),
    (["--init_checkpoint", "last"], "--init_checkpoint must be latest, best or an epoch number"),
])
def test_a_flag_that_contradicts_the_source_is_a_one_line_error(source, melody_dir, tmp_path, flags, message):
    error = error_of(lambda: train.main(["--data_dir", melody_dir, "--init_from", source,
                                         "--experiment_dir", str(tmp_path / "new")] + flags))
    assert message.format(source=source) in error and "\n" not in error
    assert not os.path.exists(tmp_path / "new")


def test_a_bad_init_from_is_a_one_line_error(melody_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "untrained").mkdir()
    (tmp_path / "untrained" / "config.json").write_text(json.dumps({"encoding": "roll"}))
    for source, message in [(tmp_path / "missing", "is not an experiment (no config.json)"),
                            (tmp_path / "empty", "is not an experiment (no config.json)"),
                            (tmp_path / "untrained", "has no checkpoint to start from")]:
        error = error_of(lambda: train.main(["--data_dir", melody_dir, "--init_from", str(source)]))
        assert f"--init_from {source} {message}" in error and "\n" not in error
    error = error_of(lambda: train.main(["--data_dir", melody_dir, "--init_checkpoint", "best"]))
    assert "add --init_from" in error


def epochs_trained(experiment_dir):
    with open(os.path.join(experiment_dir, "history.csv"), newline="") as f:
        return [int(row["epoch"]) + 1 for row in csv.DictReader(f)]


def test_patience_stops_training_once_the_validation_loss_stops_improving_counted_across_resumes(melody_dir, tmp_path,
                                                                                                  capsys):
    run = str(tmp_path / "run")
    train.main(["--data_dir", melody_dir, "--experiment_dir", run, "--num_epochs", "10", "--patience", "1",
                *TINY, *STILL])
    assert epochs_trained(run) == [1, 2]  # epoch 2 scored no better than epoch 1: stop
    train.main(["--experiment_dir", run, "--num_epochs", "10"])
    assert epochs_trained(run) == [1, 2] and "stopped early" in capsys.readouterr().out
    train.main(["--experiment_dir", run, "--num_epochs", "10", "--patience", "3"])  # 1 epoch waited already
    assert epochs_trained(run) == [1, 2, 3, 4]
    assert [e for e, _ in checkpoints.list_checkpoints(run)] == [1, 2, 3, 4]


def test_without_patience_every_epoch_is_trained(melody_dir, tmp_path):
    run = str(tmp_path / "run")
    train.main(["--data_dir", melody_dir, "--experiment_dir", run, "--num_epochs", "3", *TINY, *STILL])
    assert epochs_trained(run) == [1, 2, 3]
