"""--endings: the model learns where tunes end, and sample.py ends each file there."""
import json
import os

import numpy as np

import evaluate
import sample
import step_encoding
import train
import utils


def test_each_melody_is_followed_by_the_end_class_the_target_of_its_last_window():
    files = [{"melodies": [np.array([[0, 4, 60], [4, 8, 62]]), np.array([[0, 6, 64]])]}]
    first, second = utils.files_to_steps(files, "onset", endings=True)
    assert first.tolist() == [62, 1, 1, 1, 64, 1, 1, 1, 130] and second[-1] == step_encoding.end_class("onset") == 130
    steps, starts = utils.make_windows([first, second], 4)
    assert steps[starts[-1] + 4] == 130 and sum(steps[s + 4] == 130 for s in starts) == 2


def test_transposing_and_the_register_leave_the_end_class_alone():
    import tensorflow as tf
    melody = np.array([2, 62, 64, 66, 130], np.uint8)  # rest... three notes, then the end
    steps, starts = utils.make_windows([melody], 4)
    for _ in range(5):
        (x, y), = utils.make_dataset(steps, starts, 4, 1, 131, transpose=12, encoding="onset", seed=_).take(1)
        assert y.numpy().tolist() == [130]
    features = utils.register_features(tf.constant([[62, 64]]), 131, first_pitch=2).numpy()
    assert features[0, 0, 130] == 0 and features[0, 0, 2 + 60 + 24] > 0  # the end is no pitch beyond the range


def end_soon_model(num_classes=131):
    """A model whose end class always wins: every file ends as soon as it may."""
    import keras
    config = {"cell": "lstm", "num_layers": 1, "rnn_size": 4, "window_size": 4, "num_classes": num_classes,
              "dropout": 0.0, "grad_clip": 5.0, "learning_rate": None, "optimizer": "adam", "lookback": []}
    keras.utils.set_random_seed(0)
    model = train.build_model(config)
    dense = model.layers[-1]
    dense.bias.assign(np.where(np.arange(num_classes) == num_classes - 1, 30.0, 0.0))
    return model


def test_a_file_ends_where_the_model_ends_it_never_within_its_first_bars():
    model = end_soon_model()
    seeds = np.full((3, 4), 62)
    generated = sample.generate(model, seeds, 200, 1.0, np.random.default_rng(0), end_class=130,
                                min_steps=np.array([64, 48, 48]))
    assert generated.shape == (3, 200)
    for row, least in zip(generated, [64, 48, 48]):
        assert np.all(row[:least] != 130) and np.all(row[least:] == 130)
    cut, ended = sample.cut_endings(generated, 130)
    assert ended == [True] * 3 and all(len(m) <= least for m, least in zip(cut, [64, 48, 48]))


def test_cut_endings_drops_the_rests_before_the_end_and_keeps_a_file_that_never_ended():
    cut, ended = sample.cut_endings(np.array([[62, 1, 0, 0, 130, 130], [62, 0, 64, 1, 0, 0]]), 130)
    assert [m.tolist() for m in cut] == [[62, 1], [62, 0, 64, 1, 0, 0]] and ended == [True, False]


def test_a_model_trained_with_endings_durations_and_repeats_samples_and_is_scored(melody_dir, tmp_path):
    experiment = str(tmp_path / "exp")
    train.main(["--data_dir", melody_dir, "--experiment_dir", experiment, "--num_epochs", "1", "--rnn_size", "8",
                "--window_size", "8", "--batch_size", "16", "--endings", "--lookback", "4", "--register", "8", "--durations",
                "--repeats"])
    with open(os.path.join(experiment, "config.json")) as f:
        config = json.load(f)
    assert config["endings"] is True and config["num_classes"] == 130 and config["durations"] is True
    assert config["repeats"] is True
    written = sample.main(["--experiment_dir", experiment, "--num_files", "4", "--file_length", "300", "--seed", "1"])
    for path in written:
        with open(path[:-4] + ".json") as f:
            assert isinstance(json.load(f)["ended"], bool)
    # evaluate.py feeds the model the windows as training did, durations and repeats included
    evaluate.main(["--experiment_dir", experiment, "--generated_dir", os.path.dirname(written[0]), "--max_windows", "200"])
    with open(os.path.join(experiment, "evaluation.json")) as f:
        results = json.load(f)
    assert 0 < results["prediction"]["model"]["bits_per_step"] < np.log2(130)
