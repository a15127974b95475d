"""Promises of utils.py: the grid, the encodings, windows, the split, the cache, experiments."""
import json
import os
import zipfile

import numpy as np
import pretty_midi
import pytest

import utils
from conftest import scale_melody, shared, write_midi


def notes_of(path):
    melodies, info = utils.midi_to_notes(path)
    assert info["skipped"] is None, info
    return melodies


def test_encoding_round_trip_through_midi(tmp_path):
    notes = [(0, 4, 60), (4, 6, 62), (8, 9, 0), (9, 12, 127), (12, 13, 64)]
    path = write_midi(tmp_path / "a.mid", [notes])
    (melody,) = notes_of(path)
    assert melody.tolist() == [list(n) for n in notes]
    for encoding in ["roll", "onset"]:
        steps = utils.notes_to_steps(melody, encoding)
        assert len(steps) == 13
        back = tmp_path / f"{encoding}.mid"
        utils.steps_to_midi(steps, encoding=encoding).write(str(back))
        (again,) = notes_of(str(back))
        assert again.tolist() == [list(n) for n in notes]


def test_roll_encoding_is_rest_zero_and_pitch_plus_one():
    steps = utils.notes_to_steps(np.array([[0, 2, 60], [3, 4, 61]]))
    assert steps.tolist() == [61, 61, 0, 62]


def test_onset_encoding_keeps_repeated_notes_that_roll_merges():
    notes = np.array([[0, 2, 60], [2, 4, 60]])
    assert utils.steps_to_notes(utils.notes_to_steps(notes, "roll"), "roll").tolist() == [[0, 4, 60]]
    assert utils.steps_to_notes(utils.notes_to_steps(notes, "onset"), "onset").tolist() == notes.tolist()


def test_leading_silence_is_trimmed(tmp_path):
    path = write_midi(tmp_path / "a.mid", [[(8, 10, 60), (10, 12, 62)]])
    assert notes_of(path)[0].tolist() == [[0, 2, 60], [2, 4, 62]]


def test_grid_follows_ticks_through_a_tempo_change(tmp_path):
    # 8 quarter notes, with the tempo doubling after the fourth: the grid is in beats, not seconds
    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120)
    midi._tick_scales = [(0, 60 / (120 * 480)), (4 * 480, 60 / (240 * 480))]
    midi._update_tick_to_time(8 * 480)
    instrument = pretty_midi.Instrument(0)
    for q in range(8):
        instrument.notes.append(pretty_midi.Note(100, 60 + q, midi.tick_to_time(q * 480),
                                                 midi.tick_to_time((q + 1) * 480)))
    midi.instruments.append(instrument)
    path = str(tmp_path / "tempo.mid")
    midi.write(path)
    (melody,) = notes_of(path)
    assert melody[:, 0].tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert (melody[:, 1] - melody[:, 0]).tolist() == [4] * 8


def test_sixteenth_note_melody_keeps_every_note(tmp_path):
    notes = [(s, s + 1, 60 + s % 12) for s in range(64)]
    path = write_midi(tmp_path / "fast.mid", [notes], qpm=150)
    assert len(notes_of(path)[0]) == 64


def test_short_note_keeps_one_step(tmp_path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    instrument = pretty_midi.Instrument(0)
    instrument.notes += [pretty_midi.Note(100, 60, 0.0, 0.01), pretty_midi.Note(100, 62, 0.5, 1.0)]
    midi.instruments.append(instrument)
    midi.write(str(tmp_path / "a.mid"))
    assert notes_of(str(tmp_path / "a.mid"))[0].tolist() == [[0, 1, 60], [4, 8, 62]]


def test_one_step_legato_overlap_is_trimmed_not_polyphony(tmp_path):
    path = write_midi(tmp_path / "legato.mid", [[(0, 5, 60), (4, 8, 62)]])
    assert notes_of(path)[0].tolist() == [[0, 4, 60], [4, 8, 62]]


def test_chords_and_long_overlaps_are_discarded_as_polyphonic(tmp_path):
    chord = write_midi(tmp_path / "chord.mid", [[(0, 4, 60), (0, 4, 64)]])
    overlap = write_midi(tmp_path / "overlap.mid", [[(0, 8, 60), (4, 12, 64)]])
    for path in [chord, overlap]:
        melodies, info = utils.midi_to_notes(path)
        assert melodies == [] and info["polyphonic"] == 1
        assert "no monophonic track" in info["skipped"]


def test_drum_tracks_are_ignored_and_mixed_files_keep_their_melody(tmp_path):
    path = str(tmp_path / "mixed.mid")
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    for is_drum, notes in [(False, scale_melody(32)), (True, [(s, s + 1, 36) for s in range(0, 32, 4)]),
                           (False, [(0, 8, 60), (0, 8, 64)])]:
        instrument = pretty_midi.Instrument(0, is_drum=is_drum)
        instrument.notes += [pretty_midi.Note(100, p, s * 0.125, e * 0.125) for s, e, p in notes]
        midi.instruments.append(instrument)
    midi.write(path)
    melodies, info = utils.midi_to_notes(path)
    assert len(melodies) == 1 and info["drums"] == 1 and info["polyphonic"] == 1 and info["tracks"] == 1


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
    files = utils.load_melodies(str(tmp_path), quiet=True)
    train, validation = utils.split_files(files, window_size=8, seed=0)
    assert len(train) + len(validation) == 21
    assert len({f["sha1"] for f in validation}) == 4  # 20% of 20 distinct contents
    assert not {f["sha1"] for f in train} & {f["sha1"] for f in validation}
    again, _ = utils.split_files(files, window_size=8, seed=0)
    assert [f["path"] for f in again] == [f["path"] for f in train]
    other, _ = utils.split_files(files, window_size=8, seed=1)
    assert [f["path"] for f in other] != [f["path"] for f in train]


def test_corrupt_file_is_skipped_with_its_reason(tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"this is not midi")
    (tmp_path / "empty.mid").write_bytes(b"")
    write_midi(tmp_path / "good.mid", [scale_melody(32)])
    files = {f["path"]: f for f in utils.load_melodies(str(tmp_path), quiet=True)}
    assert files["broken.mid"]["skipped"] == "not a MIDI file (no MThd header)"
    assert "truncated" in files["empty.mid"]["skipped"]
    assert files["good.mid"]["skipped"] is None and len(files["good.mid"]["melodies"]) == 1


@pytest.mark.parametrize("max_files_in_ram", [3, 25])  # one file a task, and several
def test_several_processes_parse_what_one_does_in_the_same_order(tmp_path, max_files_in_ram):
    paths = []
    for i in range(9):
        path = tmp_path / f"{i}.mid"
        write_midi(path, [scale_melody(16 + 4 * i, offset=i)])
        paths.append(str(path))
    (tmp_path / "broken.mid").write_bytes(b"this is not midi")
    paths.insert(4, str(tmp_path / "broken.mid"))
    one = utils.parse_files(paths, n_jobs=1, quiet=True)
    two = utils.parse_files(paths, n_jobs=2, max_files_in_ram=max_files_in_ram, quiet=True)
    assert len(two) == len(paths) and two[4][1]["skipped"] and two[4][1]["skipped"] == one[4][1]["skipped"]
    for (melodies, info), (expected, expected_info) in zip(two, one):
        assert info == expected_info and len(melodies) == len(expected)
        assert all(np.array_equal(m, e) for m, e in zip(melodies, expected))


def test_files_are_found_recursively_in_any_case_and_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "folder.mid").mkdir()  # a directory named like a MIDI file is not one
    for name in ["b/z.MID", "a.midi", "c.mid", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    found = [os.path.relpath(p, tmp_path) for p in utils.find_midi_files(str(tmp_path))]
    assert found == ["a.midi", "c.mid", os.path.join("b", "z.MID")]


def test_cache_parses_each_file_once_and_follows_changes(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_midi(data / f"t{i}.mid", [scale_melody(32, offset=i)])
    first = utils.load_melodies(str(data), quiet=True)
    parsed = []
    real = utils.midi_to_notes
    monkeypatch.setattr(utils, "midi_to_notes", lambda path, **options: parsed.append(os.path.basename(path)) or real(path, **options))
    second = utils.load_melodies(str(data), quiet=True)
    assert parsed == []
    assert [m.tolist() for f in second for m in f["melodies"]] == [m.tolist() for f in first for m in f["melodies"]]
    write_midi(data / "t1.mid", [scale_melody(48, offset=5)])  # changed
    write_midi(data / "t9.mid", [scale_melody(16)])  # added
    os.remove(data / "t2.mid")  # removed
    third = utils.load_melodies(str(data), quiet=True)
    assert sorted(parsed) == ["t1.mid", "t9.mid"]
    assert [f["path"] for f in third] == ["t0.mid", "t1.mid", "t9.mid"]
    assert third[1]["melodies"][0][-1, 1] == 48
    assert len(utils.load_cache(utils.cache_path(str(data)))) == 3  # the removed file is forgotten


def test_a_subset_reads_only_its_files_and_the_cache_keeps_the_others(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_midi(data / f"t{i}.mid", [scale_melody(32, offset=i)])
    parsed = []
    real = utils.midi_to_notes
    monkeypatch.setattr(utils, "midi_to_notes", lambda path, **kw: parsed.append(os.path.basename(path)) or real(path, **kw))
    utils.load_melodies(str(data), quiet=True)
    write_midi(data / "t1.mid", [scale_melody(48, offset=5)])  # changed
    files = utils.load_melodies(str(data), quiet=True, subset=["t2.mid", "t1.mid", "gone.mid"])
    assert [f["path"] for f in files] == ["t1.mid", "t2.mid"] and files[0]["melodies"][0][-1, 1] == 48
    assert parsed == ["t0.mid", "t1.mid", "t2.mid", "t1.mid"]
    assert len(utils.load_cache(utils.cache_path(str(data)))) == 4  # t0 and both versions of t1 kept


def test_corrupt_or_old_cache_is_rebuilt_not_trusted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_midi(data / "t.mid", [scale_melody(32)])
    expected = utils.load_melodies(str(data), quiet=True)[0]["melodies"][0].tolist()
    cache = utils.cache_path(str(data))
    with open(cache, "wb") as f:
        f.write(b"garbage")
    assert utils.load_melodies(str(data), quiet=True)[0]["melodies"][0].tolist() == expected
    entries = utils.load_cache(cache)
    utils.save_cache(cache, {sha: ([np.zeros((1, 3), np.int32)], info) for sha, (_, info) in entries.items()})
    monkey_version = utils.CACHE_VERSION
    try:
        utils.CACHE_VERSION = monkey_version + 1  # the cache on disk is now from another version
        assert utils.load_melodies(str(data), quiet=True)[0]["melodies"][0].tolist() == expected
    finally:
        utils.CACHE_VERSION = monkey_version


def test_a_cache_in_the_layout_of_version_3_is_rebuilt_without_a_word(tmp_path, capsys):
    write_midi(tmp_path / "a.mid", [scale_melody(32)])
    utils.load_melodies(str(tmp_path), quiet=True)
    cache = utils.cache_path(str(tmp_path))
    with np.load(cache) as f:  # version 3 kept its JSON metadata as a numpy string, 4 bytes a character
        meta = json.loads(f["meta"].tobytes())
        meta["version"] = 3
        np.savez(cache, meta=json.dumps(meta), notes=f["notes"], lengths=f["lengths"])
    assert utils.load_cache(cache) == {} and capsys.readouterr().out == ""
    assert len(utils.load_melodies(str(tmp_path), quiet=True)[0]["melodies"]) == 1  # parsed again
    assert utils.load_cache(cache)  # and cached in the new layout


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


def test_experiments_are_numbered_after_the_highest(tmp_path):
    root = str(tmp_path / "experiments")
    assert utils.make_experiment_dir(root=root).endswith("01")
    os.makedirs(os.path.join(root, "07"))
    os.makedirs(os.path.join(root, "notes"))
    assert utils.make_experiment_dir(root=root).endswith("08")
    assert [n for n, _ in utils.list_experiments(root)] == [1, 7, 8]


def test_latest_checkpoint_is_chosen_by_epoch_number_not_file_time(tmp_path):
    folder = tmp_path / "checkpoints"
    (folder / "incomplete").mkdir(parents=True)
    for name in ["epoch010-val_loss1.2000.keras", "epoch002-val_loss2.0000.keras", "epoch009-val_loss1.3000.keras"]:
        (folder / name).write_bytes(b"")
    os.utime(folder / "epoch002-val_loss2.0000.keras", (2e9, 2e9))  # newest file time
    (folder / "incomplete" / "epoch011-val_loss1.1000.keras").write_bytes(b"")  # being written
    assert [e for e, _ in utils.list_checkpoints(str(tmp_path))] == [2, 9, 10]


def write_checkpoint(path):
    """A stand-in .keras file: a whole zip archive, all that choosing a checkpoint looks at."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}" * 100)
    return str(path)


def test_best_checkpoint_has_the_lowest_validation_loss_and_a_number_names_an_epoch(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for name in ["epoch001-val_loss1.5000.keras", "epoch002-val_loss0.9000.keras", "epoch003-val_loss0.9000.keras",
                 "epoch004-val_lossnan.keras", "epoch005-val_loss1.1000.keras"]:
        write_checkpoint(tmp_path / "checkpoints" / name)
    assert utils.choose_checkpoint(str(tmp_path), "latest")[0] == 5
    assert utils.choose_checkpoint(str(tmp_path), "best")[0] == 2  # the earlier of two equal losses
    assert utils.choose_checkpoint(str(tmp_path), "3") == (3, str(tmp_path / "checkpoints" / "epoch003-val_loss0.9000.keras"))
    assert utils.choose_checkpoint(str(tmp_path), "6") is None
    assert utils.describe_epochs([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"


def test_damaged_checkpoints_are_moved_aside_whole_and_the_next_one_is_chosen(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for epoch in [1, 2, 3]:
        write_checkpoint(folder / f"epoch00{epoch}-val_loss1.000{epoch}.keras")
    cut = (folder / "epoch003-val_loss1.0003.keras").read_bytes()
    (folder / "epoch003-val_loss1.0003.keras").write_bytes(cut[:len(cut) // 2])  # cut short by a full disk
    flipped = bytearray((folder / "epoch002-val_loss1.0002.keras").read_bytes())
    flipped[60] ^= 0xFF  # a bad copy: one byte of the stored data changed
    (folder / "epoch002-val_loss1.0002.keras").write_bytes(bytes(flipped))
    assert utils.choose_checkpoint(str(tmp_path), "latest") == (1, str(folder / "epoch001-val_loss1.0001.keras"))
    assert sorted(os.listdir(folder / "damaged")) == ["epoch002-val_loss1.0002.keras", "epoch003-val_loss1.0003.keras"]
    assert (folder / "damaged" / "epoch003-val_loss1.0003.keras").read_bytes() == cut[:len(cut) // 2]
    moved = capsys.readouterr().out.splitlines()
    assert len(moved) == 2 and all(line.startswith(f"Moved {folder}/epoch00") and "damaged" in line for line in moved)
    # a later damaged copy of the same name keeps the first one
    write_checkpoint(folder / "epoch003-val_loss1.0003.keras")
    (folder / "epoch003-val_loss1.0003.keras").write_bytes(b"")
    assert utils.choose_checkpoint(str(tmp_path), "3") is None
    assert len(os.listdir(folder / "damaged")) == 3


def test_only_tensorflows_known_notes_are_dropped_from_stderr(capfd, monkeypatch):
    monkeypatch.setattr(utils, "NVIDIA_DEVICES", [])  # a machine with no GPU
    with utils.tensorflow_notes_dropped():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 00:00:1795530894.872759    3877 port.cc:153] oneDNN custom operations are on. You may "
                    b"see slightly different numerical results\n"
                    b"I0000 00:00:1795530894.873088    3877 cudart_stub.cc:31] Could not find cuda drivers on your "
                    b"machine, GPU will not be used.\n"
                    b"E0000 00:00:1795530896.994564    3877 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
                    b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
                    b"E0000 00:00:1795530896.994564    3877 kernel.cc:52] a real error\n"
                    b"UserWarning: a warning from Python\n")
    assert capfd.readouterr().err == "E0000 00:00:1795530896.994564    3877 kernel.cc:52] a real error\n" \
                                     "UserWarning: a warning from Python\n"


def test_loading_tells_byte_identical_duplicates_from_cached_files(melody_dir, capsys):
    with open(os.path.join(melody_dir, "tune0.mid"), "rb") as f:
        data = f.read()
    with open(os.path.join(melody_dir, "copy of tune0.mid"), "wb") as f:
        f.write(data)
    utils.load_melodies(melody_dir)
    assert capsys.readouterr().out.startswith(f"Parsing 6 of 7 MIDI files under {melody_dir} (1 byte-identical duplicate)\n")
    write_midi(os.path.join(melody_dir, "new.mid"), [scale_melody(32)])
    utils.load_melodies(melody_dir)
    assert capsys.readouterr().out.startswith(f"Parsing 1 of 8 MIDI files under {melody_dir} (7 from the cache ")


def test_nottingham_loads_with_the_20_double_stop_files_discarded():
    files = utils.load_melodies(shared("nottingham"), quiet=True)
    assert len(files) == 1034
    skipped = [f for f in files if f["skipped"]]
    assert len(skipped) == 20 and all(f["polyphonic"] == 1 for f in skipped)


# ----------------------------------------------------------------------------
# polyphony, leads, key normalization, and files that are almost MIDI

TUNE = [(0, 2, 72), (2, 4, 74), (4, 8, 76), (8, 12, 79), (12, 14, 77), (14, 16, 76), (16, 24, 74), (24, 32, 72)]


def piano_piece():
    """One piano track: TUNE on top of a held four-note chord each half bar and off-beat chord tones."""
    chords = [(bar, bar + 8, p) for bar in range(0, 32, 8) for p in (48, 55, 60, 64)]
    offbeats = [(s, s + 2, 67) for s in range(2, 32, 4)]  # struck under held melody notes
    return TUNE + chords + offbeats


def test_highest_extracts_exactly_the_melody_of_a_piano_piece(tmp_path):
    path = write_midi(tmp_path / "piano.mid", [piano_piece()])
    (melody,), info = utils.midi_to_notes(path, polyphony="highest")
    assert melody.tolist() == [list(n) for n in TUNE]
    assert info["track_table"][0]["reason"] == "polyphonic, highest notes kept"


def test_a_note_interrupted_by_a_higher_one_resumes_only_if_struck_again(tmp_path):
    # 60 held for 16 steps; 67 interrupts it at step 4 for 2 steps; 60 is struck again at step 10
    path = write_midi(tmp_path / "a.mid", [[(0, 16, 60), (4, 6, 67), (10, 14, 60), (10, 12, 55)]])
    (melody,), _ = utils.midi_to_notes(path, polyphony="highest")
    assert melody.tolist() == [[0, 4, 60], [4, 6, 67], [10, 14, 60]]  # a rest from 6 to 10


def test_a_lower_note_under_a_held_one_sounds_once_the_held_one_ends(tmp_path):
    path = write_midi(tmp_path / "a.mid", [[(0, 4, 72), (2, 8, 60), (0, 2, 48)]])
    (melody,), _ = utils.midi_to_notes(path, polyphony="highest")
    assert melody.tolist() == [[0, 4, 72], [4, 8, 60]]  # the highest note sounding at each step


def test_discard_is_unchanged_and_monophonic_tracks_are_the_same_under_both_rules(tmp_path):
    piano = write_midi(tmp_path / "piano.mid", [piano_piece()])
    assert utils.midi_to_notes(piano)[0] == [] and utils.midi_to_notes(piano, polyphony="discard")[0] == []
    legato = write_midi(tmp_path / "legato.mid", [[(0, 5, 64), (4, 8, 62), (8, 9, 60), (9, 12, 60)]])
    (discard,), _ = utils.midi_to_notes(legato)
    (highest,), _ = utils.midi_to_notes(legato, polyphony="highest")
    assert discard.tolist() == highest.tolist() == [[0, 4, 64], [4, 8, 62], [8, 9, 60], [9, 12, 60]]


def test_the_cache_keeps_each_polyphony_rule_apart(tmp_path):
    write_midi(tmp_path / "piano.mid", [piano_piece()])
    write_midi(tmp_path / "tune.mid", [scale_melody(32)])
    for _ in range(2):  # the second time from the caches
        discard = utils.load_melodies(str(tmp_path), quiet=True)
        highest = utils.load_melodies(str(tmp_path), quiet=True, polyphony="highest")
        assert [len(f["melodies"]) for f in discard] == [0, 1]
        assert [len(f["melodies"]) for f in highest] == [1, 1]
    assert utils.cache_path(str(tmp_path), "discard") != utils.cache_path(str(tmp_path), "highest")
    assert all(os.path.exists(utils.cache_path(str(tmp_path), rule)) for rule in utils.POLYPHONY)


def test_lead_is_the_highest_track_with_enough_notes_not_the_bass(tmp_path):
    bass = [(s, s + 2, 36 + s % 5) for s in range(0, 64, 2)]  # 32 notes, low
    lead = [(s, s + 4, 72 + s % 7) for s in range(0, 64, 4)]  # 16 notes, high
    chirp = [(0, 1, 96), (32, 33, 98)]  # 2 notes, highest of all: too few to be the lead
    write_midi(tmp_path / "band.mid", [bass, lead, chirp])
    (f,) = utils.load_melodies(str(tmp_path), quiet=True, tracks="lead")
    (melody,) = f["melodies"]
    assert melody[:, 2].tolist() == [p for _, _, p in lead]
    assert [(row["used"], row["reason"]) for row in f["track_table"]] == [
        (False, "not the lead"), (True, "monophonic"), (False, "not the lead")]
    (every,) = utils.load_melodies(str(tmp_path), quiet=True)
    assert len(every["melodies"]) == 3


def test_key_normalization_puts_a_d_major_tune_in_c_major(tmp_path):
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    write_midi(tmp_path / "d.mid", [[(2 * i, 2 * i + 2, d_major[i % 8]) for i in range(24)]])
    (f,) = utils.load_melodies(str(tmp_path), quiet=True, normalize_key=True)
    assert f["melodies"][0][:8, 2].tolist() == [60, 62, 64, 65, 67, 69, 71, 72]
    (plain,) = utils.load_melodies(str(tmp_path), quiet=True)
    assert plain["melodies"][0][:8, 2].tolist() == d_major


def test_experiments_without_the_newer_keys_use_the_older_rules():
    assert utils.melody_options({}) == {"polyphony": "discard", "tracks": "all", "normalize_key": False}


def rmid(midi_bytes):
    """A standard MIDI file wrapped as RIFF 'RMID', with an INFO list chunk before its data chunk."""
    info = b"LIST" + (6).to_bytes(4, "little") + b"INFOab"
    data = b"data" + len(midi_bytes).to_bytes(4, "little") + midi_bytes + b"\0" * (len(midi_bytes) % 2)
    body = b"RMID" + info + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_an_rmi_file_is_found_unwrapped_and_read(tmp_path):
    path = write_midi(tmp_path / "tune.mid", [scale_melody(32)])
    with open(path, "rb") as f:
        expected = utils.midi_to_notes(path)[0][0].tolist()
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "tune.RMI").write_bytes(rmid(f.read()))
    (f,) = utils.load_melodies(str(tmp_path / "data"), quiet=True)
    assert f["path"] == "tune.RMI" and f["skipped"] is None
    assert f["melodies"][0].tolist() == expected


def test_a_file_with_smpte_time_division_is_skipped_saying_so(tmp_path):
    path = write_midi(tmp_path / "tune.mid", [scale_melody(32)])
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[12:14] = bytes([256 - 25, 40])  # -25 frames per second, 40 ticks per frame
    (tmp_path / "smpte.mid").write_bytes(bytes(data))
    melodies, info = utils.midi_to_notes(str(tmp_path / "smpte.mid"))
    assert melodies == [] and info["skipped"].startswith("SMPTE time division")
    assert "ticks per quarter note" in info["skipped"]
