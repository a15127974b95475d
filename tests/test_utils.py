"""Promises of utils.py: windows, the inputs a lookback model reads, the split, the tf.data pipeline."""
import numpy as np

import melody_cache
import utils
from conftest import scale_melody, write_midi



def test_target_is_the_step_right_after_the_window():
    melody = np.arange(1, 11, dtype=np.uint8)  # 1, 2, ..., 10
    steps, starts = utils.make_windows([melody], window_size=4)
    x, y = utils.windows_at(steps, starts, 4)
    assert x[0].tolist() == [1, 2, 3, 4] and y[0] == 5
    assert np.all(y == x[:, -1] + 1)


def test_window_count_is_length_minus_window_and_never_crosses_melodies():
    melodies = [np.full(10, 1, np.uint8), np.full(3, 2, np.uint8), np.full(7, 3, np.uint8)]
    steps, starts = utils.make_windows(melodies, window_size=4)
    assert len(starts) == (10 - 4) + 0 + (7 - 4)
    x, y = utils.windows_at(steps, starts, 4)
    assert all(len(set(row)) == 1 for row in np.concatenate([x, y[:, None]], axis=1).tolist())


def test_history_puts_rests_before_each_melody_and_aligns_it_for_the_position_counter():
    melodies = [np.arange(1, 21, dtype=np.uint8), np.arange(30, 55, dtype=np.uint8)]  # 20 and 25 steps
    steps, starts = utils.make_windows(melodies, window_size=4, history=20)
    plain_steps, plain_starts = utils.make_windows(melodies, window_size=4)
    x, y = utils.windows_at(steps, starts, 4, history=20)
    plain_x, plain_y = utils.windows_at(plain_steps, plain_starts, 4)
    assert np.array_equal(x[:, 20:], plain_x) and np.array_equal(y, plain_y)  # the same windows and targets
    first = starts[0], starts[20 - 4]  # where each melody begins
    assert all(start % 2 ** utils.POSITION_BITS == 0 for start in first)
    assert np.all(steps[first[0] - 20:first[0]] == 0) and np.all(steps[first[1] - 20:first[1]] == 0)  # rests before
    assert np.all(x[0, :20] == 0) and x[1, 19] == 1  # the history of the first window is silence


def test_lookback_inputs_say_what_repeats_where_the_bar_is_and_what_may_be_copied():
    bar = np.arange(2, 18, dtype=np.uint8)  # 16 onset classes, all different
    melody = np.concatenate([bar, bar, bar[::-1]])  # A A A-reversed
    steps, starts = utils.make_windows([melody], window_size=8, history=16)
    dataset = utils.make_dataset(steps, starts, 8, batch_size=64, num_classes=130, encoding="onset", lookback=[16])
    (x, y), = list(dataset)
    features, candidates = x["steps"].numpy(), x["lookback"].numpy()  # (40, 8, 130 + 1 + 8), (40, 1, 130)
    assert features.shape == (40, 8, 130 + 1 + utils.POSITION_BITS) and candidates.shape == (40, 1, 130)
    current, repeats, bits = features[..., :130].argmax(-1), features[..., 130], features[..., 131:]
    melody_index = starts[:, None] - starts[0] + np.arange(8)  # (40, 8) each step's index in the melody
    assert np.array_equal(current, melody[melody_index])
    assert np.array_equal(bits @ 2 ** np.arange(utils.POSITION_BITS), melody_index)  # binary, from the first note
    assert np.array_equal(repeats, ((melody_index >= 16) & (melody_index < 32)).astype(float))  # the second A
    target_index = melody_index[:, -1] + 1
    assert np.array_equal(y.numpy(), melody[target_index])
    expected = np.where(target_index >= 16, melody[np.maximum(target_index - 16, 0)], 0)  # silence before the tune
    assert np.array_equal(candidates[:, 0].argmax(-1), expected) and np.all(candidates.sum(-1) == 1)


def test_register_inputs_say_how_far_each_pitch_lies_beyond_the_recent_range():
    rest, hold = 0, 1
    c3, e4, g4, c5 = 48 + 2, 64 + 2, 67 + 2, 72 + 2  # onset classes: pitch p is p + 2
    melody = np.array([c3, hold] + [rest] * 9 + [e4, hold, g4, hold, c5, hold, rest, rest], dtype=np.uint8)
    steps, starts = utils.make_windows([melody], window_size=4, history=8)
    dataset = utils.make_dataset(steps, starts, 4, batch_size=64, num_classes=130, encoding="onset",
                                 lookback=[1], register=8)
    (x, y), = list(dataset)
    features = x["register"].numpy()  # (windows, 2, 130)
    last = list(starts - starts[0] + 3)  # each window's last step, in the melody
    pitches = np.arange(128)
    beyond, weighted = features[last.index(17)]  # steps 10..17 hold E4, G4 and C5; the C3 is older
    assert np.allclose(beyond[2:], np.maximum(np.maximum(64 - pitches, pitches - 72), 0) / 12)  # octaves
    assert np.all(beyond[:2] == 0)  # rest and hold cost nothing
    assert np.allclose(weighted, beyond * 8 / 12)  # times the span: 8 semitones
    beyond, weighted = features[last.index(3)]  # only the C3 so far: every other pitch lies beyond it
    assert np.allclose(beyond[2:], np.abs(pitches - 48) / 12) and np.all(weighted == 0)
    assert np.all(features[last.index(10)] == 0)  # steps 3..10 are rests: no range, no cost


def test_split_is_80_20_by_file_seeded_and_identical_files_stay_together(tmp_path):
    for i in range(20):
        write_midi(tmp_path / f"t{i:02d}.mid", [scale_melody(40, offset=i % 8)], qpm=100 + i)
    write_midi(tmp_path / "copy_of_t03.mid", [scale_melody(40, offset=3)], qpm=103)
    files = melody_cache.load_melodies(str(tmp_path), quiet=True)
    train, validation = utils.split_files(files, window_size=8, seed=0)
    assert len(train) + len(validation) == 21
    assert len({f["sha1"] for f in validation}) == 4  # 20% of 20 distinct contents
    assert not {f["sha1"] for f in train} & {f["sha1"] for f in validation}
    again, _ = utils.split_files(files, window_size=8, seed=0)
    assert [f["path"] for f in again] == [f["path"] for f in train]
    other, _ = utils.split_files(files, window_size=8, seed=1)
    assert [f["path"] for f in other] != [f["path"] for f in train]


def test_dataset_gives_one_hot_windows_and_the_next_step_each_exactly_once_per_epoch():
    melodies = [np.arange(1, 41, dtype=np.uint8), np.arange(50, 70, dtype=np.uint8)]
    steps, starts = utils.make_windows(melodies, window_size=4)
    dataset = utils.make_dataset(steps, starts, 4, batch_size=8, num_classes=129, shuffle=True, seed=0)
    epochs = []
    for _ in range(2):
        firsts = []
        for x, y in dataset:
            assert x.shape[1:] == (4, 129) and x.dtype.name == "float32"
            classes = np.argmax(x.numpy(), axis=2)
            assert np.all(x.numpy().sum(axis=2) == 1)
            assert np.all(y.numpy() == classes[:, -1] + 1)  # the step right after the window
            firsts += classes[:, 0].tolist()
        assert sorted(firsts) == sorted(steps[starts].tolist())  # every window once
        epochs.append(firsts)
    assert epochs[0] != epochs[1]  # a new order each epoch


def test_window_runs_give_every_window_of_make_windows_once_per_epoch_in_a_new_order():
    melodies = [np.arange(1, 41, dtype=np.uint8), np.arange(50, 59, dtype=np.uint8), np.arange(60, 90, dtype=np.uint8)]
    steps, starts = utils.make_windows(melodies, window_size=4, history=16)
    run_steps, runs = utils.make_window_runs(melodies, window_size=4, history=16)
    assert np.array_equal(run_steps, steps) and runs.shape == (3, 2) and runs[:, 1].sum() == len(starts)
    x, y = utils.windows_at(steps, starts, 4)
    expected = sorted(map(tuple, np.concatenate([x, y[:, None]], axis=1)))  # every window and its target
    dataset = utils.make_dataset(steps, runs, 4, batch_size=8, num_classes=129, shuffle=True, seed=0)
    epochs = []
    for _ in range(2):
        windows = [tuple(row) for x, y in dataset
                   for row in np.concatenate([np.argmax(x.numpy(), axis=2), y.numpy()[:, None]], axis=1)]
        assert sorted(windows) == expected  # each once
        epochs.append(windows)
    assert epochs[0] != epochs[1]  # a new order each epoch
    in_order = [y for _, batch in utils.make_dataset(steps, runs, 4, 8, 129) for y in batch.numpy()]
    assert in_order == steps[starts + 4].tolist()  # without shuffle, in the order of make_windows


def test_transposition_shifts_pitches_within_range_and_keeps_rests():
    import keras
    keras.utils.set_random_seed(0)
    # three melodies: pitches with rests, rests only, and one that touches the top of the range
    melodies = [np.array([0, 61, 61, 65, 62], np.uint8), np.zeros(5, np.uint8), np.array([128, 127, 0, 128, 1], np.uint8)]
    steps, starts = utils.make_windows(melodies, window_size=4)
    shifts = set()
    dataset = utils.make_dataset(steps, starts, 4, 3, 129, transpose=5)
    for _ in range(100):  # epochs
        for x, y in dataset:
            xy = np.concatenate([np.argmax(x.numpy(), axis=2), y.numpy()[:, None]], axis=1)
            original = steps[starts[:, None] + np.arange(5)]
            shift = xy - original
            assert np.all(shift[original == 0] == 0)  # rests stay rests
            assert len(set(shift[0, 1:])) == 1 and abs(shift[0, 1]) <= 5  # one shift for the whole window
            assert xy.max() <= 128 and shift[2, 0] <= 0  # never above pitch 127
            shifts.add(int(shift[0, 1]))
    assert shifts == set(range(-5, 6))


def test_durations_count_the_steps_since_the_note_or_rest_began():
    onset = [0, 0, 62, 1, 1, 64, 0, 0, 62, 62]  # a repeated note is struck again
    assert utils.step_durations(onset, "onset").tolist() == [0, 1, 0, 1, 2, 0, 0, 1, 0, 0]
    roll = [0, 0, 61, 61, 63, 0]
    assert utils.step_durations(roll, "roll").tolist() == [0, 1, 0, 1, 0, 0]


def test_repeats_say_when_a_phrase_has_just_been_played_twice_in_a_row():
    steps = [5, 6, 7, 5, 6, 7, 5, 6, 7, 9, 5, 6]  # a 3-step phrase played three times, then something else
    runs = utils.repeat_runs(steps, [3, 1])
    assert runs[:, 0].tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0] and not runs[:, 1].any()
    repeated = utils.phrases_repeated(runs, [3, 1])
    # from the second copy's last step, through the third copy, until the phrase is left
    assert np.flatnonzero(repeated[:, 0]).tolist() == [5, 6, 7, 8] and not repeated[:, 1].any()
    held = utils.phrases_repeated(utils.repeat_runs([0, 0, 0, 0], [1, 2]), [1, 2])  # silence repeats itself
    assert held.tolist() == [[False, False], [True, False], [True, False], [True, True]]
