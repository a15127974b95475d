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


# ----------------------------------------------------------------------------
# PPM


def brute_ppm(contexts_and_symbols, context, x, num_classes, top=None):
    """Interpolated PPM-C from its definition: contexts_and_symbols, [(context tuple, symbol)] seen."""
    p = 1.0 / num_classes
    for k in range(len(context) + 1 if top is None else top + 1):
        seen = [s for c, s in contexts_and_symbols if len(c) >= k and c[len(c) - k:] == context[len(context) - k:]]
        if not seen:
            break
        p = (seen.count(x) + len(set(seen)) * p) / (len(seen) + len(set(seen)))
    return p


def test_ppm_distributions_sum_to_one_and_the_short_term_model_follows_its_definition():
    rng = np.random.default_rng(0)
    melody = rng.integers(0, 4, 60)
    model = baselines.fit_ppm([rng.integers(0, 4, 50) for _ in range(3)], 4, order=5)
    positions, candidates = np.arange(60), np.tile(np.arange(4), (60, 1))
    for p in [baselines.ppm_long_probabilities(model, melody, positions, candidates),
              baselines.ppm_short_probabilities(melody, positions, candidates, 4, order=3),
              baselines.ppm_probabilities(model, melody, positions)]:
        assert np.allclose(p.sum(axis=1), 1)
    short = baselines.ppm_short_probabilities(melody, positions, candidates, 4, order=3)
    for t in [0, 1, 7, 30, 59]:
        seen = [(tuple(melody[max(0, u - 3):u]), melody[u]) for u in range(t)]
        for x in range(4):
            assert short[t, x] == pytest.approx(brute_ppm(seen, tuple(melody[max(0, t - 3):t]), x, 4))


def test_a_melody_played_again_and_again_costs_almost_nothing_under_the_short_term_model():
    phrase = np.random.default_rng(1).integers(2, 130, 32)
    melody = np.tile(phrase, 8)
    later = np.arange(64, len(melody))  # from the third time on
    p = baselines.ppm_short_probabilities(melody, later, melody[later, None], 130)[:, 0]
    assert -np.log2(p).mean() < 0.01  # bits per step
    first = np.arange(1, 32)
    assert -np.log2(baselines.ppm_short_probabilities(melody, first, melody[first, None], 130)[:, 0]).mean() > 3


def test_the_long_term_model_counts_with_update_exclusion():
    """At order k < the top, a step counts only the first time its context of order k + 1 is followed
    by it (or when it has no such context); the top order counts every step."""
    rng = np.random.default_rng(3)
    melodies = [rng.integers(0, 3, 40), rng.integers(0, 3, 25)]
    order = 3
    model = baselines.fit_ppm(melodies, 3, order=order)
    for k in range(order + 1):
        expected, firsts = {}, set()
        for m in melodies:
            for t in range(k, len(m)):
                longer = (tuple(m[t - k - 1:t]), m[t]) if t > k else None
                if k == order or longer is None or longer not in firsts:
                    expected[(tuple(m[t - k:t]), m[t])] = expected.get((tuple(m[t - k:t]), m[t]), 0) + 1
                if longer is not None:
                    firsts.add(longer)
        level = model["levels"][k]
        for (context, x), count in expected.items():
            h = baselines.context_hashes(np.array(list(context) + [x]), order)[k, k]  # the context's hash
            key = baselines.pair_keys(np.array([h]), [x], 3)
            assert baselines.lookup(level["pairs"], level["counts"], key)[0] == count
        assert level["counts"].sum() == sum(expected.values())


def test_the_combined_ppm_follows_the_short_term_model_on_a_melody_played_again_and_again():
    rng = np.random.default_rng(4)
    model = baselines.fit_ppm([rng.integers(2, 130, 200) for _ in range(5)], 130, order=8)
    melody = np.tile(rng.integers(2, 130, 32), 8)
    later = np.arange(64, len(melody))
    p = baselines.ppm_probabilities(model, melody, later)[np.arange(len(later)), melody[later]]
    assert -np.log2(p).mean() < 0.1  # bits per step: the confident short-term model leads
    equal = baselines.ppm_probabilities(model, melody, later, bias=0)[np.arange(len(later)), melody[later]]
    assert -np.log2(equal).mean() > 0.9  # with equal weights, the unsure long-term model halves it


def test_ppm_scores_the_target_of_every_window_in_order():
    rng = np.random.default_rng(2)
    melodies = [rng.integers(0, 6, 30), rng.integers(0, 6, 5), rng.integers(0, 6, 12)]
    model = baselines.fit_ppm(melodies, 6, order=4)
    scores = baselines.score_ppm(model, melodies, window_size=8)
    assert len(scores) == (30 - 8) + (12 - 8) and np.all((scores > 0) & (scores < 1))
    expected = baselines.ppm_probabilities(model, melodies[2], [8])[0, melodies[2][8]]
    assert scores[30 - 8] == pytest.approx(expected)  # the third melody's first target
