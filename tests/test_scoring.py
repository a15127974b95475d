"""Promises of scoring.py: bits per step."""
import numpy as np

import scoring


def test_bits_per_step_is_one_when_the_truth_gets_one_half():
    probabilities = np.full((4, 4), 0.5 / 3)
    targets = np.array([0, 1, 2, 3])
    probabilities[np.arange(4), targets] = 0.5
    p_true, predicted = scoring.score_distributions(probabilities, targets)
    assert scoring.bits_per_step(p_true) == 1.0
    assert scoring.accuracy(predicted, targets) == 1.0


def test_bits_per_step_stays_finite_when_the_truth_gets_zero():
    assert np.isfinite(scoring.bits_per_step([0.0, 1.0]))
