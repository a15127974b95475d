"""train.py --targets: every step of a window a target, windows that overlap less, the same model."""
import numpy as np
import pytest

import checkpoints
import sample
import train
import utils

LOOKBACK = dict(lookback=[2, 3], register=3, durations=True, repeats=True, encoding="onset")


def test_each_target_gets_what_the_window_ending_there_would_give():
    steps = (np.arange(1, 60) * 7 % 128 + 2).astype(np.uint8)
    (x, y), = utils.make_dataset(steps, np.array([[10, 5]]), 5, 100, 130, targets=3, **LOOKBACK)
    assert y.shape == (5, 3) and x["lookback"].shape == (5, 3, 2, 130) and x["register"].shape == (5, 3, 2, 130)
    for k in range(3):  # the target after window step 2 + k of the window at 10: the window at 8 + k ends there
        (plain, after), = utils.make_dataset(steps, np.array([8 + k]), 5, 100, 130, **LOOKBACK)
        assert np.array_equal(y[0, k], after[0])
        assert np.array_equal(x["lookback"][0, k], plain["lookback"][0])
        assert np.allclose(x["register"][0, k], plain["register"][0])
    (plain, _), = utils.make_dataset(steps, np.array([10]), 5, 100, 130, **LOOKBACK)
    assert np.array_equal(x["steps"][0], plain["steps"][0])  # what the model reads is the same window
    (_, _, weights), = utils.make_dataset(steps, np.array([[10, 5]]), 5, 100, 130, targets=3, last_only=True)
    assert np.array_equal(weights.numpy(), [[0, 0, 3]] * 5)  # validation: the step after the window only


@pytest.mark.parametrize("count, stride", [(10, 4), (9, 4), (1, 4), (6, 1)])
def test_strided_windows_reach_every_target_of_the_melody_and_no_further(count, stride):
    steps = np.arange(100).astype(np.uint8)
    batches = list(utils.make_dataset(steps, np.array([[20, count]]), 5, 100, 130, targets=stride, stride=stride))
    starts = np.concatenate([x.numpy().argmax(axis=-1)[:, 0] for x, _ in batches])
    assert starts[0] == 20 and starts[-1] == 20 + count - 1 and np.all(np.diff(starts) <= stride)
    # the targets: the steps after the last `stride` steps of each window, every step after a window of the run
    targets = {int(t) for _, y in batches for t in y.numpy().ravel()}
    assert set(range(20 + 5, 20 + 5 + count)) <= targets <= set(range(20 + 1, 20 + 5 + count))


@pytest.mark.parametrize("flags", [[], ["--encoding", "onset", "--lookback", "3", "7", "--register", "12", "--repeats"]])
def test_targets_train_the_model_sample_py_reads_validated_and_resumed_as_without_them(melody_dir, tmp_path, flags):
    import keras
    experiment = str(tmp_path / "exp")
    tiny = ["--rnn_size", "8", "--window_size", "8", "--batch_size", "16", "--targets", "4"]
    train.main(["--data_dir", melody_dir, "--experiment_dir", experiment, "--num_epochs", "1"] + tiny + flags)
    config = checkpoints.load_config(experiment)
    (_, first), = checkpoints.list_checkpoints(experiment)
    model = checkpoints.load_checkpoint(first)  # the next-step model, with the trainer's optimizer state
    assert model.output.shape[1:] == (config["num_classes"],) and int(model.optimizer.iterations) > 0
    # its validation loss is the loss of the step after each validation window, as without --targets
    files = [f for f in train.load_data(config, resuming=True)[3]]
    by_path = {f["path"]: f for f in files}
    windows = train.files_to_windows([by_path[p] for p in config["files"]["train"]],
                                     [by_path[p] for p in config["files"]["validation"]], config)
    _, plain = train.make_datasets(dict(config, targets=0), *windows)
    assert np.isclose(model.evaluate(plain, verbose=0)[0], checkpoints.checkpoint_loss(first), atol=1e-4)
    steps_per_epoch = int(model.optimizer.iterations)

    train.main(["--experiment_dir", experiment, "--num_epochs", "2"])  # resumes with the optimizer's state
    (_, _), (_, second) = checkpoints.list_checkpoints(experiment)
    resumed = keras.saving.load_model(second, safe_mode=True)
    assert int(resumed.optimizer.iterations) == 2 * steps_per_epoch
    assert not np.allclose(resumed.get_weights()[0], model.get_weights()[0])
    written = sample.main(["--experiment_dir", experiment, "--num_files", "2", "--file_length", "40", "--seed", "1"])
    assert len(written) == 2
