"""Predictors of the next step that a model must beat: repeat the last step, a smoothed n-gram over
classes, and IDyOM's prediction by partial matching, all fitted on an experiment's training melodies
(PPM also on the melody being scored).
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


# ----------------------------------------------------------------------------
# Baseline 3: prediction by partial matching, as IDyOM predicts melodies (Pearce 2005; Pearce and
# Wiggins 2004): a long-term model fitted on the training melodies and a short-term model fitted on
# the melody being scored up to the step before the target, combined step by step with weights
# that favour the more certain of the two. Both are PPM with escape method C and blending
# (interpolated smoothing): at a context s of order k, with T(s) symbols counted after it, q(s) of
# them distinct and c(s, x) of them x,
#     P_k(x | s) = c(s, x) / (T(s) + q(s)) + q(s) / (T(s) + q(s)) * P_{k-1}(x | s without its oldest step)
# down to a uniform P_{-1} over the classes. The long-term model picks its order as PPM* does (the
# shortest context after which only one symbol was ever seen, else the longest context seen, up to
# PPM_LONG_ORDER steps) and counts with update exclusion (fit_ppm); the short-term model uses its
# longest context seen, up to PPM_SHORT_ORDER, and counts every step.

PPM_LONG_ORDER = 40  # steps; longer contexts than this change nothing measurable on the bundled tunes
PPM_SHORT_ORDER = 16
PPM_BIAS = 1  # IDyOM's entropy bias b: each model weighs (its entropy / the most there can be) ** -b
PPM_CHUNK = 512  # positions scored at once: (PPM_LONG_ORDER + 1, PPM_CHUNK, num_classes) counts in memory
HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: a context of any length hashes to one uint64


def context_hashes(melody, order):
    """(order + 1, len(melody)) uint64: row k hashes the k steps before each step (row 0: no context,
    0); entries before step k have no context of order k and are 0 too."""
    symbols = np.asarray(melody, dtype=np.uint64) + np.uint64(1)  # so that no step hashes to nothing
    hashes = np.zeros((order + 1, len(symbols)), np.uint64)
    power = np.uint64(1)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64, on purpose
        for k in range(1, min(order, len(symbols)) + 1):
            hashes[k, k:] = hashes[k - 1, k:] + symbols[:-k] * power
            power = power * HASH_BASE
    return hashes


def pair_keys(contexts, symbols, num_classes):
    """uint64 keys of (context hash, next symbol) pairs."""
    with np.errstate(over="ignore"):
        return contexts * np.uint64(num_classes) + np.asarray(symbols, dtype=np.uint64)


def fit_ppm(melodies, num_classes, order=PPM_LONG_ORDER):
    """The long-term model of these melodies: per order, sorted context keys with their totals T and
    distinct symbols q, and sorted (context, symbol) keys with their counts c.

    Counts use update exclusion, as IDyOM's long-term model does: a step counts at order k only if
    its context of order k + 1 had never been followed by it before (or it has no such context,
    being the melody's step k), so a lower order counts in how many longer contexts a symbol
    follows, not how often: the lower orders then predict what is new, which is all they are asked
    when the longer contexts escape. The top order counts every step.
    """
    melodies = [np.asarray(m, np.int64) for m in melodies if len(m)]
    hashes = [context_hashes(m, order) for m in melodies]
    levels = []
    for k in range(order + 1):
        contexts = np.concatenate([np.zeros(0, np.uint64)] + [h[k, k:] for h in hashes])
        symbols = np.concatenate([np.zeros(0, np.int64)] + [m[k:] for m in melodies])
        if k < order:  # update exclusion: keep each (longer context, symbol) pair's first step
            longer = np.concatenate([np.zeros(0, np.uint64)] + [h[k + 1, k:] for h in hashes])  # 0 at step k
            first_steps = np.unique(pair_keys(longer, symbols, num_classes), return_index=True)[1]
            counted = np.concatenate([np.zeros(0, bool)] + [np.arange(k, len(m)) == k for m in melodies])
            counted[first_steps] = True
            contexts, symbols = contexts[counted], symbols[counted]
        pairs, first, counts = np.unique(pair_keys(contexts, symbols, num_classes), return_index=True,
                                         return_counts=True)
        context_keys, totals = np.unique(contexts, return_counts=True)
        _, types = np.unique(contexts[first], return_counts=True)  # distinct symbols after each context
        levels.append({"pairs": pairs, "counts": counts, "contexts": context_keys, "totals": totals, "types": types})
    return {"order": order, "num_classes": num_classes, "levels": levels}


def blend(counts, totals, types, used, num_classes):
    """P(candidates) of interpolated PPM-C from per-order arrays, lowest order first: counts (orders,
    n, m); totals, types (orders, n); used (orders, n) whether each order takes part."""
    p = np.full(counts.shape[1:], 1.0 / num_classes)
    for c, t, q, u in zip(counts, totals.astype(np.float64), types.astype(np.float64), used):
        mixed = (c + q[:, None] * p) / np.maximum(t + q, 1)[:, None]
        p = np.where((u & (t > 0))[:, None], mixed, p)
    return p


def ppm_long_probabilities(model, melody, positions, candidates):
    """The long-term model's P(candidates[i] at positions[i] | the melody before it) -> (n, m)."""
    order, num_classes = model["order"], model["num_classes"]
    hashes = context_hashes(melody, order)[:, positions]  # (order + 1, n)
    shape = (order + 1, len(positions))
    totals, types = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    counts = np.zeros(shape + (candidates.shape[1],), np.int64)
    for k, level in enumerate(model["levels"]):
        totals[k] = lookup(level["contexts"], level["totals"], hashes[k])
        types[k] = lookup(level["contexts"], level["types"], hashes[k])
        counts[k] = lookup(level["pairs"], level["counts"], pair_keys(hashes[k][:, None], candidates, num_classes))
    seen = (totals > 0) & (np.arange(order + 1)[:, None] <= positions[None])  # a context of order k needs k steps
    deterministic = seen & (types == 1)
    top = np.where(deterministic.any(axis=0), deterministic.argmax(axis=0), seen.sum(axis=0) - 1)  # PPM*
    return blend(counts, totals, types, np.arange(order + 1)[:, None] <= top[None], num_classes)


def ppm_short_probabilities(melody, positions, candidates, num_classes, order=PPM_SHORT_ORDER):
    """The short-term model's P(candidates[i] at positions[i]), fitted on the melody before each position."""
    melody = np.asarray(melody, np.int64)
    n = len(melody)
    hashes = context_hashes(melody, order)
    shape = (order + 1, len(positions))
    totals, types = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    counts = np.zeros(shape + (candidates.shape[1],), np.int64)
    for k in range(min(order, n - 1) + 1):
        # items: the steps u >= k, each a context of order k and the symbol after it; a query at t
        # counts the items before it
        contexts, inverse = np.unique(hashes[k, k:], return_inverse=True)
        context_id = np.full(n, -1, np.int64)
        context_id[k:] = inverse
        at = np.arange(k, n)
        codes = context_id[k:] * num_classes + melody[k:]  # (context, symbol), dense
        _, first = np.unique(codes, return_index=True)  # each pair's first item
        by_context = np.sort(context_id[k:] * (n + 1) + at)
        by_pair = np.sort(codes * (n + 1) + at)
        firsts = np.sort(context_id[k:][first] * (n + 1) + at[first])
        query = context_id[positions]  # -1 where the position has no context of order k yet
        base = np.maximum(query, 0) * (n + 1)
        usable = (query >= 0) & (positions >= k)
        totals[k] = np.where(usable, np.searchsorted(by_context, base + positions) - np.searchsorted(by_context, base), 0)
        types[k] = np.where(usable, np.searchsorted(firsts, base + positions) - np.searchsorted(firsts, base), 0)
        pair_base = (np.maximum(query, 0)[:, None] * num_classes + candidates) * (n + 1)
        counts[k] = np.where(usable[:, None], np.searchsorted(by_pair, pair_base + positions[:, None])
                             - np.searchsorted(by_pair, pair_base), 0)
    return blend(counts, totals, types, totals > 0, num_classes)


def ppm_probabilities(model, melody, positions, bias=PPM_BIAS):
    """(n, num_classes) P(next class at each position): IDyOM's combination of the long-term and
    short-term models, their distributions averaged with weights (H / log2(num_classes)) ** -bias,
    H each one's entropy at that step in bits, so that the model more certain of the step leads."""
    num_classes = model["num_classes"]
    positions = np.asarray(positions, np.int64)
    candidates = np.broadcast_to(np.arange(num_classes), (len(positions), num_classes))
    models = [ppm_long_probabilities(model, melody, positions, candidates),
              ppm_short_probabilities(melody, positions, candidates, num_classes)]
    weights = []
    for p in models:
        entropy = -np.sum(p * np.log2(np.maximum(p, 1e-300)), axis=1) / np.log2(num_classes)  # in [0, 1]
        weights.append(np.maximum(entropy, 1e-9) ** -bias)
    return sum(w[:, None] * p for w, p in zip(weights, models)) / sum(weights)[:, None]


def score_ppm(model, melodies, window_size):
    """P of the target of every window of utils.make_windows(melodies, window_size), in its order:
    each step after the first window_size of each melody longer than that, given all before it."""
    p_true = []
    for melody in melodies:
        melody = np.asarray(melody, np.int64)
        for start in range(window_size, len(melody), PPM_CHUNK):
            positions = np.arange(start, min(start + PPM_CHUNK, len(melody)))
            p_true.append(ppm_probabilities(model, melody, positions)[np.arange(len(positions)), melody[positions]])
    return np.concatenate(p_true) if p_true else np.zeros(0)
