"""Two predictors of the next step that a model must beat: repeat the last step, and a smoothed
n-gram over classes, both fitted on an experiment's training melodies.
"""
import numpy as np

import scoring
import utils

MAX_NGRAM_ORDER = 8  # an n-gram of 130 classes is kept as one int64: 130**8 < 2**63


# ----------------------------------------------------------------------------
# Baseline 1: repeat the last step


def repeat_probability(melodies, window_size):
    """P(y == x[-1]): how often the step after a window repeats its last step, over these melodies."""
    steps, starts = utils.make_windows(melodies, window_size)
    if not len(starts):
        return 0.5
    return float(np.mean(steps[starts + window_size] == steps[starts + window_size - 1]))


def repeat_last_probabilities(last, targets, p_repeat, num_classes):
    """Probability the repeat-last predictor gives each true class: p_repeat to the repeated class.

    Honest smoothing: the predictor always bets p_repeat (how often the training files repeat) on
    the last step, and spreads 1 - p_repeat uniformly over the num_classes - 1 other classes, so
    its probabilities sum to 1 and a change costs log2((num_classes - 1) / (1 - p_repeat)) bits.
    """
    p_repeat = min(max(p_repeat, scoring.MIN_PROBABILITY), 1 - scoring.MIN_PROBABILITY)
    return np.where(np.asarray(last) == np.asarray(targets), p_repeat, (1 - p_repeat) / (num_classes - 1))


# ----------------------------------------------------------------------------
# Baseline 2: an n-gram over classes, interpolated Kneser-Ney


def ngram_codes(melody, length, num_classes):
    """Every run of `length` consecutive steps of a melody as one int64, in base num_classes."""
    melody = np.asarray(melody, dtype=np.int64)
    if len(melody) < length:
        return np.zeros(0, np.int64)
    runs = np.lib.stride_tricks.sliding_window_view(melody, length)  # (len - length + 1, length)
    return runs @ num_classes ** np.arange(length - 1, -1, -1, dtype=np.int64)


def fit_ngram(melodies, order, num_classes):
    """Fit an interpolated Kneser-Ney n-gram model of the next class given the order - 1 before it.

    For each k = 1..order it keeps, for every context h of k - 1 steps, counts c_k(h, w) of the
    next class w: real counts at the highest order, and at lower orders the Kneser-Ney
    continuation counts (in how many distinct one-step-longer contexts h w was seen), which
    measure how readily w follows h in new contexts rather than how often. Then

        P_k(w | h) = max(c_k(h, w) - D_k, 0) / T_k(h) + D_k * N_k(h) / T_k(h) * P_{k-1}(w | h')

    with T_k(h) the total of c_k(h, .), N_k(h) the number of classes seen after h, h' the context
    without its oldest step, and P_0 uniform over the classes; a context never seen (T_k(h) = 0)
    passes P_{k-1} on unchanged. The discount is D_k = n1 / (n1 + 2 n2) from the number of
    n-grams seen once (n1) and twice (n2), kept in [0.1, 0.9]: every class keeps some probability,
    and the probabilities over the classes sum to 1. No n-gram crosses from one melody into the
    next. Returns {"order", "num_classes", "levels": one dict of sorted arrays per k}.
    """
    if not 1 <= order <= MAX_NGRAM_ORDER:
        raise ValueError(f"order must be in 1..{MAX_NGRAM_ORDER}, got {order}")
    levels = []
    for k in range(1, order + 1):
        codes = np.concatenate([np.zeros(0, np.int64)] + [ngram_codes(m, k, num_classes) for m in melodies])
        if k == order:
            keys, counts = np.unique(codes, return_counts=True)
        else:  # continuation counts: distinct steps seen right before each k-gram
            longer = np.unique(np.concatenate(
                [np.zeros(0, np.int64)] + [ngram_codes(m, k + 1, num_classes) for m in melodies]))
            keys, counts = np.unique(longer % num_classes ** k, return_counts=True)
        # keys are sorted, so the n-grams of one context (key // num_classes) are neighbours
        context_keys, first, context_types = np.unique(keys // num_classes, return_index=True, return_counts=True)
        context_totals = np.add.reduceat(counts, first) if len(first) else np.zeros(0, np.int64)
        n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
        discount = float(np.clip(n1 / (n1 + 2 * n2), 0.1, 0.9)) if n1 + n2 else 0.5
        levels.append({"keys": keys, "counts": counts, "context_keys": context_keys,
                       "context_totals": context_totals, "context_types": context_types, "discount": discount})
    return {"order": order, "num_classes": num_classes, "levels": levels}


def lookup(keys, values, queries):
    """values[i] where keys[i] == query, else 0; keys sorted."""
    queries = np.asarray(queries)
    if not len(keys):
        return np.zeros(queries.shape, dtype=values.dtype)
    i = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[i] == queries, values[i], 0)


def ngram_probabilities(ngram, contexts):
    """(n, context_length) classes -> (n, num_classes) P(next class), from the last order - 1 steps.

    A context shorter than order - 1 steps uses the orders it has room for.
    """
    num_classes = ngram["num_classes"]
    contexts = np.asarray(contexts, dtype=np.int64).reshape(len(contexts), -1)
    used = min(ngram["order"] - 1, contexts.shape[1])  # steps of context the model looks at
    if used:  # each distinct context is worked out once
        tails, inverse = np.unique(contexts[:, contexts.shape[1] - used:], axis=0, return_inverse=True)
    else:
        tails, inverse = np.zeros((1, 0), np.int64), np.zeros(len(contexts), np.int64)
    probabilities = np.full((len(tails), num_classes), 1.0 / num_classes)  # P_0: uniform
    classes = np.arange(num_classes)
    for k, level in enumerate(ngram["levels"][:used + 1], start=1):
        h = tails[:, used - (k - 1):] @ num_classes ** np.arange(k - 2, -1, -1, dtype=np.int64)  # (u,) codes
        total = lookup(level["context_keys"], level["context_totals"], h).astype(np.float64)
        types = lookup(level["context_keys"], level["context_types"], h)
        counts = lookup(level["keys"], level["counts"], h[:, None] * num_classes + classes)  # (u, num_classes)
        discount, safe_total = level["discount"], np.maximum(total, 1)[:, None]
        mixed = (np.maximum(counts - discount, 0) + discount * types[:, None] * probabilities) / safe_total
        probabilities = np.where(total[:, None] > 0, mixed, probabilities)
    return probabilities[inverse.reshape(-1)]


def score_ngram(ngram, x, y, chunk=20000):
    """The n-gram's (p_true (n,), predicted (n,)) on windows x (n, window_size), targets y (n,)."""
    p_true, predicted = [], []
    for i in range(0, len(x), chunk):
        p, best = scoring.score_distributions(ngram_probabilities(ngram, x[i:i + chunk]), y[i:i + chunk])
        p_true.append(p)
        predicted.append(best)
    return np.concatenate(p_true), np.concatenate(predicted)
