"""Promises of evaluate.py: the encoding's survival, its errors, and one end-to-end run."""
import json
import os

import numpy as np
import pytest

import evaluate
import sample
import train

TINY = ["--rnn_size", "8", "--window_size", "8", "--batch_size", "16"]


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
