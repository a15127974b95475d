"""Every tune in its own meter: time signatures read, cut, used for positions, written and measured."""
import numpy as np
import pretty_midi

import midi_notes
import music_stats
import step_encoding
import utils
from conftest import write_midi


def jig(length, pickup=0):
    """A 6/8 melody of `length` steps after a pickup: dotted quarter, eighth, quarter, eighth... on each
    bar of 12 sixteenth notes (0-6, 6-8, 8-12)."""
    notes = [(pickup - 2, pickup, 67)] if pickup else []
    for bar in range(pickup, pickup + length, 12):
        notes += [(bar, bar + 6, 72), (bar + 6, bar + 8, 71), (bar + 8, bar + 12, 69)]
    return notes


def test_bar_and_beat_of_each_meter_in_sixteenth_notes():
    meters = {"4/4": (16, 4), "6/8": (12, 6), "3/4": (12, 4), "2/4": (8, 4), "9/8": (18, 6), "2/2": (16, 8),
              "3/2": (24, 8), "6/4": (24, 12)}
    for name, (bar, beat) in meters.items():
        assert (midi_notes.bar_steps(midi_notes.parse_meter(name)), midi_notes.beat_steps(midi_notes.parse_meter(name))
                ) == (bar, beat), name
    assert midi_notes.bar_steps([7, 32]) is None


def test_a_jig_keeps_6_8_and_its_pickup_counted_from_the_files_bar_lines(tmp_path):
    path = write_midi(tmp_path / "jig.mid", [jig(48, pickup=10)], time_signatures=[(0, 6, 8)])
    (melody,), info = midi_notes.choose_melodies(*midi_notes.midi_to_notes(path))
    assert info["meters"] == [[6, 8, 8]]  # the pickup eighth note starts on step 8 of the first bar
    assert melody[0, 0] == 0  # still trimmed to its first note


def test_a_file_without_a_time_signature_is_in_4_4():
    _, info = midi_notes.choose_melodies([np.array([[0, 4, 60]])], {"track_table": [{"used": True, "reason": "monophonic"}],
                                                                      "time_signatures": [[0, 4, 4]], "melody_starts": [3]})
    assert info["meters"] == [[4, 4, 3]]


def test_a_change_of_time_signature_cuts_the_melody_into_parts_that_keep_their_meter(tmp_path):
    # 2 bars of 4/4, then 3/4 from step 32; a note held across the change ends there
    notes = [(4, 16, 60), (16, 36, 62), (36, 40, 64), (40, 48, 65), (48, 56, 67)]
    path = write_midi(tmp_path / "change.mid", [notes], time_signatures=[(0, 4, 4), (32, 3, 4)])
    parts, info = midi_notes.choose_melodies(*midi_notes.midi_to_notes(path))
    assert info["meters"] == [[4, 4, 4], [3, 4, 4]]
    assert parts[0].tolist() == [[0, 12, 60], [12, 28, 62]]  # from step 4; the held note stops at the bar line 32
    assert parts[1].tolist() == [[0, 4, 64], [4, 12, 65], [12, 20, 67]]
    (row,) = info["track_table"]
    assert row["melodies"] == 2 and "cut into 2 parts where the time signature changes (4/4 3/4)" in row["reason"]


def test_a_bar_that_is_not_whole_sixteenth_notes_is_left_out_saying_why(tmp_path):
    notes = [(0, 4, 60), (4, 8, 62), (16, 20, 64), (20, 24, 65)]
    path = write_midi(tmp_path / "odd.mid", [notes], time_signatures=[(0, 4, 4), (16, 7, 32)])
    parts, info = midi_notes.choose_melodies(*midi_notes.midi_to_notes(path))
    assert info["meters"] == [[4, 4, 0]] and len(parts) == 1
    assert "2 notes in 7/32 left out: its bar is not a whole number of sixteenth notes" in info["track_table"][0]["reason"]


def test_a_6_8_melody_reads_its_place_in_bars_of_12_and_its_meter():
    melody = step_encoding.notes_to_steps(np.array(jig(48)), "onset")
    steps, starts, positions = utils.make_windows([melody], 4, history=16, meters=[(12, 1, 8)])
    codes = positions[starts].astype(np.int64)
    index = np.arange(len(starts)) + 8  # steps from the bar line before the first note
    assert np.array_equal(codes % 2 ** utils.BAR_BITS, index % 12)
    assert np.array_equal(codes >> utils.BAR_BITS & 2 ** utils.FORM_BITS - 1, index // 12)
    assert np.all(codes >> (utils.BAR_BITS + utils.FORM_BITS) == 1)


def test_bars_count_up_to_the_form_then_its_last_16_bars_again():
    bar_number = np.arange(100)
    codes = utils.position_code(bar_number * 12 + 5, 12, 2)  # step 5 of each bar of 6/8, meter id 2
    for form_bars in utils.FORM_BARS:
        features = utils.lookback_features(np.zeros(100, np.int32), np.zeros((100, 1), np.int32), codes, 130,
                                           meters=3, form_bars=form_bars).numpy()
        assert features.shape[1] == 130 + 1 + utils.position_width(3, form_bars=form_bars)
        bits = features[:, 131:131 + utils.position_width(3, form_bars=form_bars) - 3]
        place = bits @ 2 ** np.arange(bits.shape[1])
        expected = np.where(bar_number < form_bars, bar_number, form_bars - 16 + bar_number % 16)
        assert np.array_equal(place, 5 + 64 * expected)
        assert np.array_equal(features[:, -3:], np.tile([0, 0, 1], (100, 1)))  # the meter, one-hot
    assert np.array_equal(place[:64], 5 + 64 * bar_number[:64])  # 64 bars: the bar's number in the tune


def test_a_written_time_signature_is_read_back_with_its_bar_lines(tmp_path):
    steps = step_encoding.notes_to_steps(np.array(jig(36)), "roll")
    step_encoding.steps_to_midi(steps, meter=[6, 8]).write(str(tmp_path / "out.mid"))
    assert [(t.numerator, t.denominator, t.time) for t in pretty_midi.PrettyMIDI(str(tmp_path / "out.mid")).time_signature_changes] == [(6, 8, 0.0)]
    _, info = midi_notes.choose_melodies(*midi_notes.midi_to_notes(str(tmp_path / "out.mid")))
    assert info["meters"] == [[6, 8, 0]]


def test_onset_histograms_count_the_place_in_each_melodys_own_bar():
    melodies = [np.array(jig(24)), np.array(jig(24, pickup=10))[1:] - [10, 10, 0]]  # both 3 notes a bar
    histogram = music_stats.onset_histogram(melodies, [[6, 8, 0], [6, 8, 0]], "6/8")
    assert np.allclose(histogram[[0, 6, 8]], 1 / 3) and histogram.sum() == 1 and len(histogram) == 12
    shifted = music_stats.onset_histogram(melodies[:1], [[6, 8, 1]], "6/8")  # the same tune, a step later
    assert music_stats.total_variation(histogram, histogram) == 0
    assert np.isclose(music_stats.total_variation(histogram, shifted), 1)
    assert music_stats.onset_histogram(melodies, [[6, 8, 0], [6, 8, 0]], "3/4") is None


def test_structure_is_counted_in_the_melodys_own_bars():
    steps = step_encoding.notes_to_steps(np.array(jig(48)), "onset")  # the same 6/8 bar four times
    assert music_stats.self_repetition([steps], 1, [12]) == 3 / 4
    assert music_stats.self_repetition([steps], 1) == 0  # in bars of 16 no bar repeats
    assert music_stats.looped_bars(steps, 1, 12).tolist() == [False, False, True, True]


# ----------------------------------------------------------------------------
# sample.py --meter: seeds in that meter, files written in it


def test_a_lookback_model_learns_each_meter_and_sample_writes_the_one_asked_for(tmp_path):
    import sample
    import train
    from conftest import error_of, scale_melody
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(4):
        write_midi(folder / f"jig{i}.mid", [[(s, e, p + i) for s, e, p in jig(96, pickup=10)]], time_signatures=[(0, 6, 8)])
        write_midi(folder / f"reel{i}.mid", [scale_melody(96, offset=i)])
    experiment = str(tmp_path / "exp")
    train.main(["--data_dir", str(folder), "--experiment_dir", experiment, "--num_epochs", "1", "--rnn_size", "8",
                "--window_size", "8", "--batch_size", "16", "--lookback", "12", "16"])
    written = sample.main(["--experiment_dir", experiment, "--num_files", "3", "--file_length", "36", "--seed", "1",
                           "--meter", "6/8"])
    for path in written:
        (_, info) = midi_notes.choose_melodies(*midi_notes.midi_to_notes(path))
        assert [m[:2] for m in info["meters"]] == [[6, 8]]
    assert "are in 6/8, 4/4; choose one of them" in error_of(lambda: sample.main(["--experiment_dir", experiment, "--meter", "3/4"]))
    assert "not a time signature" in error_of(lambda: sample.main(["--experiment_dir", experiment, "--meter", "jig"]))


def test_each_generated_file_begins_on_a_bar_line_of_its_seed_melody():
    import sample
    melody = step_encoding.notes_to_steps(np.array(jig(120)), "onset")
    config = {"window_size": 8, "lookback": [12], "meters": ["6/8"]}
    seeds, chosen, starts, positions = sample.choose_seeds(config, [melody], [[6, 8, 8]], 20, np.random.default_rng(0))
    assert np.all((chosen - starts[0] + 8 + 8) % 12 == 0)  # the first generated step: 8 into the melody's first bar, plus the window
    meters, first_positions, (bars, ids, count) = sample.seed_meters(config, ["6/8"], chosen, positions)
    assert meters == [[6, 8]] * 20 and np.all(bars == 12) and np.all(ids == 0) and count == 1
    assert np.all((first_positions + 8) % 12 == 0)


def test_a_model_that_does_not_read_meters_seeds_from_a_meter_its_training_melodies_were_not_in():
    import sample
    melody = step_encoding.notes_to_steps(np.array(jig(120)), "onset")
    config = {"window_size": 8, "lookback": [], "meters": ["4/4"]}  # trained on 4/4 only; a 3/4 validation tune
    names = sample.meter_names(config, [[3, 4, 0]])
    seeds, chosen, _, positions = sample.choose_seeds(config, [melody], [[3, 4, 0]], 5, np.random.default_rng(0))
    meters, _, model_meters = sample.seed_meters(config, names, chosen, positions)
    assert meters == [[3, 4]] * 5 and model_meters is None and seeds.shape == (5, 8)
