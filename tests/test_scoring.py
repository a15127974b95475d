"""Promises of evaluate.py: known answers on tiny hand-made melodies, and one end-to-end run."""
import json
import os

import numpy as np
import pytest

import evaluate
import sample
import train
import utils

TINY = ["--rnn_size", "8", "--window_size", "8", "--batch_size", "16"]


def notes(*pitches_and_lengths, rest=0):
    """(n, 3) [start_step, end_step, pitch] notes from (pitch, length) pairs, `rest` steps apart."""
    rows, start = [], 0
    for pitch, length in pitches_and_lengths:
        rows.append([start, start + length, pitch])
        start += length + rest
    return np.array(rows, dtype=np.int64)


# ----------------------------------------------------------------------------
# Music statistics


def test_one_repeated_note_puts_all_pitch_classes_on_one_and_overlaps_itself_fully():
    histogram = evaluate.pitch_class_histogram([62, 62, 62, 74])  # D, D, D, D an octave up
    assert histogram.tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert evaluate.histogram_overlap(histogram, histogram) == 1.0


def test_overlap_of_histograms_with_nothing_in_common_is_zero():
    assert evaluate.histogram_overlap(evaluate.pitch_class_histogram([60]), evaluate.pitch_class_histogram([61])) == 0.0
    assert evaluate.histogram_overlap([0.5, 0.5, 0], [0, 0.5, 0.5]) == 0.5


def test_rest_ratio_is_the_share_of_rest_steps():
    assert evaluate.rest_ratio([61, 61, 0, 0, 63, 63]) == pytest.approx(1 / 3)
    melody = notes((60, 2), (62, 2), rest=2)  # 60 60 . . 62 62
    assert evaluate.music_statistics([melody])["rest_ratio"] == pytest.approx(1 / 3)


def test_longest_repeated_run_counts_notes_in_a_row_on_one_pitch():
    assert evaluate.longest_repeated_run([60, 60, 62, 62, 62, 60]) == 3
    assert evaluate.longest_repeated_run([60, 62, 64]) == 1
    assert evaluate.longest_repeated_run([]) == 0


def test_note_lengths_of_sixteen_or_more_share_the_last_bin():
    histogram = evaluate.note_length_histogram([1, 2, 2, 16, 40])
    assert len(histogram) == evaluate.LONGEST_NOTE_BIN
    assert histogram[0] == 0.2 and histogram[1] == 0.4 and histogram[-1] == 0.4


def test_music_statistics_of_a_known_melody():
    melody = notes((60, 2), (64, 4), (67, 2), (67, 2), (72, 1))
    stats = evaluate.music_statistics([melody])
    assert (stats["lowest_pitch"], stats["highest_pitch"], stats["pitch_span"]) == (60, 72, 12)
    assert stats["notes"] == 5 and stats["steps"] == 11 and stats["rest_ratio"] == 0
    assert stats["longest_repeated_run"] == 2 and stats["in_scale_share"] == 1.0
    assert sum(stats["pitch_class_histogram"]) == pytest.approx(1)
    assert stats["note_length_histogram"][1] == pytest.approx(3 / 5)  # three notes of 2 steps


# ----------------------------------------------------------------------------
# Bits per step and the baselines


def test_bits_per_step_is_one_when_the_truth_gets_one_half():
    probabilities = np.full((4, 4), 0.5 / 3)
    targets = np.array([0, 1, 2, 3])
    probabilities[np.arange(4), targets] = 0.5
    p_true, predicted = evaluate.score_distributions(probabilities, targets)
    assert evaluate.bits_per_step(p_true) == 1.0
    assert evaluate.accuracy(predicted, targets) == 1.0


def test_bits_per_step_stays_finite_when_the_truth_gets_zero():
    assert np.isfinite(evaluate.bits_per_step([0.0, 1.0]))


def test_repeat_last_baseline_is_always_right_on_a_constant_melody():
    melody = np.full(50, 61, dtype=np.uint8)
    p_repeat = evaluate.repeat_probability([melody], window_size=8)
    assert p_repeat == 1.0
    steps, starts = utils.make_windows([melody], 8)
    x, y = utils.windows_at(steps, starts, 8)
    p_true = evaluate.repeat_last_probabilities(x[:, -1], y, p_repeat, 129)
    summary = evaluate.summarize_predictions(p_true, x[:, -1], y, y != x[:, -1])
    assert summary["accuracy"] == 1.0 and summary["bits_per_step"] < 1e-6
    assert summary["accuracy_on_changes"] is None  # no step changes class


def test_repeat_last_probabilities_sum_to_one_over_the_classes():
    every_class = np.arange(129)
    p = evaluate.repeat_last_probabilities(np.full(129, 61), every_class, 0.7, 129)
    assert p.sum() == pytest.approx(1.0) and p[61] == pytest.approx(0.7)


def test_ngram_probabilities_sum_to_one_over_the_classes():
    rng = np.random.default_rng(0)
    melodies = [rng.integers(0, 10, size=200) for _ in range(3)]
    ngram = evaluate.fit_ngram(melodies, order=4, num_classes=12)
    contexts = np.concatenate([rng.integers(0, 10, size=(20, 6)),  # mostly seen
                               rng.integers(0, 12, size=(20, 6))])  # classes 10, 11 never seen
    for width in [6, 3, 1]:  # longer, as long as and shorter than order - 1
        p = evaluate.ngram_probabilities(ngram, contexts[:, -width:])
        assert p.shape == (40, 12)
        assert np.allclose(p.sum(axis=1), 1.0) and (p > 0).all()


def test_ngram_gets_low_bits_per_step_on_a_deterministic_sequence():
    melody = np.tile(np.array([61, 63, 65, 0, 66, 68, 61, 70]), 40)  # period 8, each 2 steps decide the next
    ngram = evaluate.fit_ngram([melody], order=3, num_classes=129)
    steps, starts = utils.make_windows([melody], 8)
    x, y = utils.windows_at(steps, starts, 8)
    p_true, predicted = evaluate.score_ngram(ngram, x, y)
    assert evaluate.bits_per_step(p_true) < 0.05
    assert evaluate.accuracy(predicted, y) == 1.0


def test_ngram_of_order_one_predicts_the_most_common_class():
    ngram = evaluate.fit_ngram([np.array([5, 5, 5, 7, 5, 9])], order=1, num_classes=12)
    p = evaluate.ngram_probabilities(ngram, np.zeros((1, 3), np.int64))
    assert p.argmax() == 5 and p.sum() == pytest.approx(1.0)


def test_free_path_never_returns_an_existing_file(tmp_path):
    path = str(tmp_path / "evaluation.json")
    assert evaluate.free_path(path) == path
    open(path, "w").close()
    assert evaluate.free_path(path) == str(tmp_path / "evaluation-2.json")
    open(str(tmp_path / "evaluation-2.json"), "w").close()
    assert evaluate.free_path(path) == str(tmp_path / "evaluation-3.json")


# ----------------------------------------------------------------------------
# The script


def test_no_experiment_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        evaluate.main([])
    assert str(e.value).startswith("error: ") and "\n" not in str(e.value)
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--experiment_dir", str(tmp_path)])
    assert str(e.value).startswith("error: ")


def test_evaluate_reports_sane_numbers_and_never_overwrites(melody_dir, tmp_path, capsys):
    experiment = str(tmp_path / "exp")
    train.main(["--data_dir", melody_dir, "--experiment_dir", experiment, "--num_epochs", "1"] + TINY)

    # before sampling: the training and validation melodies only, and a note that there is nothing generated
    first = evaluate.main(["--experiment_dir", experiment])
    assert "generated" not in first["music"] and "No generated melody" in capsys.readouterr().out
    assert first["music"]["training"]["melodies"] == 5 and first["music"]["validation"]["melodies"] == 1
    assert first["music"]["training"]["copied_4_bars"] is None  # nothing to compare the training tunes with
    with open(os.path.join(experiment, "evaluation.json")) as f:
        assert json.load(f) == json.loads(json.dumps(first))

    sample.main(["--experiment_dir", experiment, "--num_files", "2", "--file_length", "32", "--seed", "1"])
    second = evaluate.main(["--experiment_dir", experiment, "--ngram_order", "3"])
    with open(os.path.join(experiment, "evaluation-2.json")) as f:
        results = json.load(f)
    with open(os.path.join(experiment, "evaluation.json")) as f:
        assert json.load(f)["ngram_order"] == 5  # the first evaluation is kept
    assert results["ngram_order"] == 3 and results == json.loads(json.dumps(second))
    assert results["windows"] == results["windows_total"] == 64 - 8  # one validation file of 64 steps
    for name in ["model", "repeat_last", "ngram"]:
        scores = results["prediction"][name]
        assert 0 <= scores["bits_per_step"] < 30 and 0 <= scores["accuracy"] <= 1
    assert results["prediction"]["model"]["bits_per_step"] < np.log2(129) + 1  # one epoch: near uniform at worst
    assert results["prediction"]["ngram"]["bits_per_step"] < 1  # the scale tunes are nearly deterministic
    music = results["music"]
    assert music["generated"]["melodies"] >= 1 and music["training"]["melodies"] == 5
    assert music["training"]["in_scale_share"] == 1.0 and music["training"]["rest_ratio"] == 0
    shares = list(music["overlap"].values()) + [music["generated"][k] for k in ["rest_ratio", "in_scale_share"]]
    assert all(0 <= share <= 1 for share in shares)
    assert 0 <= music["generated"]["lowest_pitch"] <= music["generated"]["highest_pitch"] <= 127
    assert results["figure"] == os.path.join(experiment, "evaluation.png") and os.path.getsize(results["figure"]) > 0
    # the scale tunes are one 16-step figure over and over: every bar after the first comes back
    assert music["training"]["repeated_1_bars"] == 0.75 and music["validation"]["repeated_1_bars"] == 0.75
    # and all six are the same figure shifted, so the validation tune's 2-bar segments are all in the training ones
    assert music["validation"]["copied_2_bars"] == 1.0
    assert 0 <= music["generated"]["copied_2_bars"] <= 1 and music["generated"]["repeated_4_bars"] is None


def test_roll_loses_repeated_notes_that_onset_keeps():
    melody = np.array([[0, 2, 60], [2, 4, 60], [4, 6, 62], [8, 9, 62]])  # a re-struck C, then D, rest, D
    assert evaluate.note_survival([melody], "roll") == 0.5  # both Cs merge into one long note
    assert evaluate.note_survival([melody], "onset") == 1.0


# ----------------------------------------------------------------------------
# Structure: self-repetition and copying, on melodies of whole bars

BAR_A = np.arange(2, 18, dtype=np.uint8)  # 16 onset steps: a bar of different notes
BAR_B = np.full(16, 1, dtype=np.uint8)  # a bar held
BAR_C = np.zeros(16, dtype=np.uint8)  # a bar of rest


def test_self_repetition_counts_segments_that_repeat_an_earlier_one_of_the_same_melody():
    melody = np.concatenate([BAR_A, BAR_B, BAR_A, BAR_B, BAR_A, BAR_A])  # bars A B A B A A
    assert evaluate.self_repetition([melody], 1) == 4 / 6  # the 3rd to 6th bars come back
    assert evaluate.self_repetition([melody], 2) == 1 / 3  # AB AB AA: the second AB
    assert evaluate.self_repetition([melody], 4) == 0.0  # one whole 4-bar segment: nothing before it
    assert np.isnan(evaluate.self_repetition([BAR_A], 2))  # no whole segment at all

def test_self_repetition_never_matches_across_melodies_and_drops_a_last_partial_segment():
    first, second = np.concatenate([BAR_A, BAR_B]), np.concatenate([BAR_A, BAR_B, BAR_A[:8]])
    assert evaluate.self_repetition([first, second], 1) == 0.0  # each bar is new in its own melody


def test_segments_aligned_to_the_melody_start_are_what_repeat():
    shifted = np.concatenate([BAR_C[:4], BAR_A, BAR_A, BAR_A])  # the repeats sit 4 steps off the bar lines
    assert evaluate.self_repetition([shifted], 1) == 1 / 3  # bars 2 and 3 (from step 0) are equal, bar 1 differs


def test_copied_share_finds_segments_anywhere_in_other_melodies():
    tune = np.concatenate([BAR_C[:5], BAR_A, BAR_B, BAR_C])  # A B at an offset of 5 steps
    index = evaluate.index_segments([tune], 2)
    generated = np.concatenate([BAR_A, BAR_B, BAR_B, BAR_A])  # AB (found), BA (not found)
    assert evaluate.copied_share([generated], 2, index) == 0.5
    assert evaluate.copied_share([generated], 2, evaluate.index_segments([BAR_A], 2)) == 0.0  # too short to hold one


def test_structure_statistics_report_copying_only_against_given_melodies():
    melody = np.tile(BAR_A, 8)  # one bar, 8 times
    stats = evaluate.structure_statistics([melody])
    assert (stats["repeated_1_bars"], stats["repeated_2_bars"], stats["repeated_4_bars"]) == (7 / 8, 3 / 4, 1 / 2)
    assert stats["copied_2_bars"] is None and stats["copied_4_bars"] is None
    copied = evaluate.structure_statistics([melody], {2: evaluate.index_segments([melody], 2),
                                                      4: evaluate.index_segments([melody], 4)})
    assert copied["copied_2_bars"] == 1.0 and copied["copied_4_bars"] == 1.0
