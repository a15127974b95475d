"""Scoring next-step predictions: bits per step and accuracy, on all steps and on changes."""
import math

import numpy as np

MIN_PROBABILITY = 1e-9  # a float32 softmax can round a probability to 0; this caps one step at ~30 bits


# ----------------------------------------------------------------------------
# Scoring next-step predictions


def bits_per_step(p_true):
    """Cross-entropy in bits per step, from the probability each step's prediction gave the truth."""
    p_true = np.maximum(np.asarray(p_true, dtype=np.float64), MIN_PROBABILITY)
    return float(-np.mean(np.log2(p_true))) if len(p_true) else float("nan")


def accuracy(predicted, targets):
    """Share of steps whose most likely class is the true one."""
    return float(np.mean(np.asarray(predicted) == np.asarray(targets))) if len(targets) else float("nan")


def score_distributions(probabilities, targets):
    """(n, num_classes) probabilities, (n,) true classes -> (p_true (n,), predicted class (n,))."""
    probabilities = np.asarray(probabilities)
    return probabilities[np.arange(len(targets)), targets], probabilities.argmax(axis=1)


def summarize_predictions(p_true, predicted, targets, changes):
    """Bits per step and accuracy, on all steps and on the steps where the class changes; with
    predicted None (a predictor scored on the truth alone), no accuracy."""
    no_accuracy = predicted is None
    if no_accuracy:
        predicted = np.full(len(targets), -1)
    summary = {
        "bits_per_step": bits_per_step(p_true),
        "accuracy": accuracy(predicted, targets),
        "bits_per_step_on_changes": bits_per_step(p_true[changes]),
        "accuracy_on_changes": accuracy(predicted[changes], targets[changes]),
    }
    if no_accuracy:
        summary["accuracy"] = summary["accuracy_on_changes"] = float("nan")
    summary["cross_entropy_nats"] = summary["bits_per_step"] * math.log(2)  # Keras' loss unit
    return {name: (None if math.isnan(value) else value) for name, value in summary.items()}
