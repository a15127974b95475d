"""Promises of baselines.py: the repeat-last predictor and the n-gram."""
import numpy as np
import pytest

import baselines
import scoring
import utils


def test_repeat_last_baseline_is_always_right_on_a_constant_melody():
    melody = np.full(50, 61, dtype=np.uint8)
    p_repeat = baselines.repeat_probability([melody], window_size=8)
    assert p_repeat == 1.0
    steps, starts = utils.make_windows([melody], 8)
    x, y = utils.windows_at(steps, starts, 8)
    p_true = baselines.repeat_last_probabilities(x[:, -1], y, p_repeat, 129)
    summary = scoring.summarize_predictions(p_true, x[:, -1], y, y != x[:, -1])
    assert summary["accuracy"] == 1.0 and summary["bits_per_step"] < 1e-6
    assert summary["accuracy_on_changes"] is None  # no step changes class


def test_repeat_last_probabilities_sum_to_one_over_the_classes():
    every_class = np.arange(129)
    p = baselines.repeat_last_probabilities(np.full(129, 61), every_class, 0.7, 129)
    assert p.sum() == pytest.approx(1.0) and p[61] == pytest.approx(0.7)


def test_ngram_probabilities_sum_to_one_over_the_classes():
    rng = np.random.default_rng(0)
    melodies = [rng.integers(0, 10, size=200) for _ in range(3)]
    ngram = baselines.fit_ngram(melodies, order=4, num_classes=12)
    contexts = np.concatenate([rng.integers(0, 10, size=(20, 6)),  # mostly seen
                               rng.integers(0, 12, size=(20, 6))])  # classes 10, 11 never seen
    for width in [6, 3, 1]:  # longer, as long as and shorter than order - 1
        p = baselines.ngram_probabilities(ngram, contexts[:, -width:])
        assert p.shape == (40, 12)
        assert np.allclose(p.sum(axis=1), 1.0) and (p > 0).all()


def test_ngram_gets_low_bits_per_step_on_a_deterministic_sequence():
    melody = np.tile(np.array([61, 63, 65, 0, 66, 68, 61, 70]), 40)  # period 8, each 2 steps decide the next
    ngram = baselines.fit_ngram([melody], order=3, num_classes=129)
    steps, starts = utils.make_windows([melody], 8)
    x, y = utils.windows_at(steps, starts, 8)
    p_true, predicted = baselines.score_ngram(ngram, x, y)
    assert scoring.bits_per_step(p_true) < 0.05
    assert scoring.accuracy(predicted, y) == 1.0


def test_ngram_of_order_one_predicts_the_most_common_class():
    ngram = baselines.fit_ngram([np.array([5, 5, 5, 7, 5, 9])], order=1, num_classes=12)
    p = baselines.ngram_probabilities(ngram, np.zeros((1, 3), np.int64))
    assert p.argmax() == 5 and p.sum() == pytest.approx(1.0)
