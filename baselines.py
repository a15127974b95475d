"""See how good an experiment is: bits per step against baselines, and music statistics.

    python evaluate.py                                            # latest experiment, its validation files
    python evaluate.py --experiment_dir experiments/01 --ngram_order 3
    python evaluate.py --max_windows 2000 --generated_dir my_files/  # a quick smoke run

Next-step prediction is scored on the same windows for three predictors: the model, "repeat the
last step", and a smoothed n-gram over classes, both baselines fitted on the experiment's training
files. Generated MIDI files are compared with the training melodies: pitch range, pitch-class and
note-length histograms, rests, repeated notes and the share of notes in the best major or minor
scale. Numbers go to evaluation.json and the histograms to evaluation.png in the experiment folder
(evaluation-2.json, -3, ... when those exist: nothing is overwritten).
"""
import argparse
import json
import math
import os
import sys

import numpy as np

import media
import sample
import scales
import utils

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up notes quiet

MAX_NGRAM_ORDER = 8  # an n-gram of 130 classes is kept as one int64: 130**8 < 2**63
MIN_PROBABILITY = 1e-9  # a float32 softmax can round a probability to 0; this caps one step at ~30 bits
LONGEST_NOTE_BIN = 16  # note-length histogram: 1, 2, ..., 15 and "16 or more" sixteenth notes


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # experiment
    parser.add_argument("--experiment_dir", default=None, help="experiment to evaluate (default: the highest-numbered one in experiments/)")
    parser.add_argument("--checkpoint", default="latest", help="latest, best (lowest validation loss) or an epoch number (default: %(default)s)")
    # data
    parser.add_argument("--data_dir", default=None, help="score the model on every melody under this folder (default: the experiment's validation files)")
    parser.add_argument("--max_windows", type=int, default=200_000, help="windows scored at most; a seeded random subset when there are more (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=1024, help="windows per model.predict batch (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random subset of windows (default: %(default)s)")
    # baselines
    parser.add_argument("--ngram_order", type=int, default=5, help=f"n of the n-gram baseline: it predicts from the last n - 1 steps, 1 to {MAX_NGRAM_ORDER} (default: %(default)s)")
    # generated music
    parser.add_argument("--generated_dir", default=None, help="folder of generated .mid files to compare with the training melodies (default: generated/ inside the experiment)")
    # output
    parser.add_argument("--figure", default=None, help="PNG file for the pitch-class and note-length histograms (default: evaluation.png inside the experiment)")
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def note_survival(melodies, encoding):
    """Share of notes that come back unchanged from encode-then-decode; melodies: (n, 3) note arrays."""
    kept = total = 0
    for notes in melodies:
        back = utils.steps_to_notes(utils.notes_to_steps(notes, encoding), encoding)
        original = {tuple(n) for n in notes.tolist()}
        kept += len(original & {tuple(n) for n in back.tolist()})
        total += len(original)
    return kept / total if total else float("nan")


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
    """Bits per step and accuracy, on all steps and on the steps where the class changes."""
    summary = {
        "bits_per_step": bits_per_step(p_true),
        "accuracy": accuracy(predicted, targets),
        "bits_per_step_on_changes": bits_per_step(p_true[changes]),
        "accuracy_on_changes": accuracy(predicted[changes], targets[changes]),
    }
    summary["cross_entropy_nats"] = summary["bits_per_step"] * math.log(2)  # Keras' loss unit
    return {name: (None if math.isnan(value) else value) for name, value in summary.items()}


def score_model(model, steps, starts, y, config, batch_size, chunk=8192):
    """model.predict on the windows at these starts, chunk windows at a time, fed as in training
    (utils.make_dataset) -> (p_true (n,), predicted (n,))."""
    p_true, predicted = [], []
    for i in range(0, len(starts), chunk):
        data = utils.make_dataset(steps, starts[i:i + chunk], config["window_size"], batch_size,
                                  config["num_classes"], encoding=config["encoding"],
                                  lookback=config.get("lookback", []), register=config.get("register", 0))
        p, best = score_distributions(model.predict(data, verbose=0), y[i:i + chunk])
        p_true.append(p)
        predicted.append(best)
    return np.concatenate(p_true), np.concatenate(predicted)


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
    p_repeat = min(max(p_repeat, MIN_PROBABILITY), 1 - MIN_PROBABILITY)
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
        p, best = score_distributions(ngram_probabilities(ngram, x[i:i + chunk]), y[i:i + chunk])
        p_true.append(p)
        predicted.append(best)
    return np.concatenate(p_true), np.concatenate(predicted)


# ----------------------------------------------------------------------------
# Music statistics of melodies as notes: (n, 3) [start_step, end_step, pitch]


def pitch_class_histogram(pitches):
    """(12,) share of notes on each pitch class C, C#, ..., B (notes counted, not their length)."""
    counts = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12)
    return counts / max(1, counts.sum())


def note_length_histogram(lengths, longest=LONGEST_NOTE_BIN):
    """(longest,) share of notes lasting 1, 2, ..., longest - 1, and longest or more sixteenth notes."""
    counts = np.bincount(np.clip(np.asarray(lengths, dtype=np.int64), 1, longest) - 1, minlength=longest)
    return counts / max(1, counts.sum())


def histogram_overlap(p, q):
    """Sum of the smaller of two normalized histograms: 1 when equal, 0 when disjoint."""
    return float(np.minimum(p, q).sum())


def rest_ratio(steps):
    """Share of steps that are rests (class 0, in both encodings)."""
    steps = np.asarray(steps)
    return float(np.mean(steps == 0)) if len(steps) else float("nan")


def longest_repeated_run(pitches):
    """Most notes in a row on one pitch (rests between them do not break the run)."""
    pitches = np.asarray(pitches)
    if not len(pitches):
        return 0
    bounds = np.concatenate([[-1], np.flatnonzero(np.diff(pitches)), [len(pitches) - 1]])
    return int(np.diff(bounds).max())


def music_statistics(melodies):
    """Numbers and histograms of a set of melodies, each (n, 3) [start_step, end_step, pitch].

    Notes are counted as the MIDI files have them: a pitch struck again right after itself is two
    notes here, although the roll encoding merges them into one long note.
    """
    melodies = [np.asarray(m) for m in melodies if len(m)]
    pitches = np.concatenate([m[:, 2] for m in melodies])
    lengths = np.concatenate([m[:, 1] - m[:, 0] for m in melodies])  # sixteenth notes
    steps = np.concatenate([utils.notes_to_steps(m, "roll") for m in melodies])  # leading silence trimmed
    runs = [longest_repeated_run(m[:, 2]) for m in melodies]
    return {
        "melodies": len(melodies),
        "notes": len(pitches),
        "steps": len(steps),
        "lowest_pitch": int(pitches.min()),
        "highest_pitch": int(pitches.max()),
        "pitch_span": int(pitches.max() - pitches.min()),  # semitones
        "mean_pitch_span_per_melody": float(np.mean([np.ptp(m[:, 2]) for m in melodies])),
        "rest_ratio": rest_ratio(steps),
        "longest_repeated_run": max(runs),  # notes
        "mean_longest_repeated_run_per_melody": float(np.mean(runs)),
        "in_scale_share": float(np.mean([scales.in_scale_share(m[:, 2]) for m in melodies])),
        "pitch_class_histogram": pitch_class_histogram(pitches).tolist(),
        "note_length_histogram": note_length_histogram(lengths).tolist(),
    }


# ----------------------------------------------------------------------------
# Structure: phrases that come back, and phrases copied from elsewhere. Melodies here are onset
# steps (a repeated note is not a held one), cut into bars of STEPS_PER_BAR from their first note.


def melody_segments(steps, bars):
    """(n, bars * STEPS_PER_BAR) the melody's whole segments of `bars` bars, from its first step."""
    length = bars * utils.STEPS_PER_BAR
    count = len(steps) // length
    return np.asarray(steps[:count * length], dtype=np.uint8).reshape(count, length)


def self_repetition(melodies, bars):
    """Share of all segments of `bars` bars that repeat an earlier segment of the same melody exactly."""
    repeats = total = 0
    for steps in melodies:
        seen = set()
        for segment in melody_segments(steps, bars):
            repeats += segment.tobytes() in seen
            seen.add(segment.tobytes())
            total += 1
    return repeats / total if total else float("nan")


def index_segments(melodies, bars):
    """Every run of `bars` bars of these melodies, starting at any step, as a set of bytes."""
    length = bars * utils.STEPS_PER_BAR
    found = set()
    for steps in melodies:
        if len(steps) >= length:
            runs = np.lib.stride_tricks.sliding_window_view(np.asarray(steps, dtype=np.uint8), length)
            found.update(run.tobytes() for run in runs)
    return found


def copied_share(melodies, bars, index):
    """Share of the melodies' segments of `bars` bars found verbatim in an index_segments set."""
    segments = [s.tobytes() for steps in melodies for s in melody_segments(steps, bars)]
    return sum(s in index for s in segments) / len(segments) if segments else float("nan")


def structure_statistics(melodies, indexes=None):
    """Self-repetition of bars, 2-bar and 4-bar segments; with indexes ({2: set, 4: set} from
    index_segments of other melodies), the share of 2-bar and 4-bar segments copied from them."""
    stats = {f"repeated_{bars}_bars": self_repetition(melodies, bars) for bars in [1, 2, 4]}
    for bars in [2, 4]:
        stats[f"copied_{bars}_bars"] = copied_share(melodies, bars, indexes[bars]) if indexes else None
    return {name: None if value is not None and math.isnan(value) else value for name, value in stats.items()}


# ----------------------------------------------------------------------------
# Data, tables, files


def load_files(data_dir, config, paths=None):
    """The files under data_dir as the experiment learns them, or only those whose relative path is in paths."""
    if not os.path.isdir(data_dir):
        return []
    files = utils.load_melodies(data_dir, quiet=True, **utils.melody_options(config))
    wanted = None if paths is None else set(paths)
    return files if wanted is None else [f for f in files if f["path"] in wanted]


def load_generated(generated_dir):
    """Melodies (as notes) of every .mid under generated_dir, and a note for each file left out."""
    melodies, notes = [], []
    for path in utils.find_midi_files(generated_dir):
        found, info = utils.midi_to_notes(path)
        if info["skipped"]:
            notes.append(f"  left out {path}: {info['skipped']}")
        melodies += [m for m in found if len(m)]
    return melodies, notes


def free_path(path):
    """path, or path with -2, -3, ... before its extension: never an existing file."""
    root, extension = os.path.splitext(path)
    number, free = 1, path
    while os.path.exists(free):
        number += 1
        free = f"{root}-{number}{extension}"
    return free


def format_number(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def print_prediction_table(rows, num_windows, change_share, description):
    """rows: [(name, summary)] -> a table of bits per step and accuracy."""
    print(f"\nNext-step prediction on {num_windows} windows of {description}; "
          f"the class changes from the window's last step at {100 * change_share:.1f}% of them")
    print(f"{'':28s}{'all steps':>22s}{'class changes':>24s}")
    print(f"{'predictor':28s}{'bits/step':>12s}{'accuracy':>10s}{'bits/step':>14s}{'accuracy':>10s}")
    for name, s in rows:
        print(f"{name:28s}{format_number(s['bits_per_step']):>12s}{format_number(s['accuracy']):>10s}"
              f"{format_number(s['bits_per_step_on_changes']):>14s}{format_number(s['accuracy_on_changes']):>10s}")


def print_music_table(columns, overlaps):
    """columns: [(name, music_statistics | structure_statistics)]; overlaps: of generated with training."""
    def row(name, show):
        print(f"{name:36s}" + "".join(f"{show(stats):>12s}" for _, stats in columns))

    def share(key):
        return lambda stats: format_number(stats[key])

    print(f"\n{'music statistics':36s}" + "".join(f"{name:>12s}" for name, _ in columns))
    row("melodies", lambda t: str(t["melodies"]))
    row("notes", lambda t: str(t["notes"]))
    row("lowest..highest pitch", lambda t: f"{media.note_name(t['lowest_pitch'])}..{media.note_name(t['highest_pitch'])}")
    row("pitch span, semitones", lambda t: str(t["pitch_span"]))
    row("  per melody (mean)", lambda t: f"{t['mean_pitch_span_per_melody']:.1f}")
    row("rest ratio, of steps", share("rest_ratio"))
    row("longest repeated run, notes", lambda t: str(t["longest_repeated_run"]))
    row("  per melody (mean)", lambda t: f"{t['mean_longest_repeated_run_per_melody']:.2f}")
    row("in best major/minor scale", share("in_scale_share"))
    print(f"structure (onset steps, bars of {utils.STEPS_PER_BAR} steps from each melody's first note)")
    row("bars repeating an earlier bar", share("repeated_1_bars"))
    row("2-bar segments repeating one", share("repeated_2_bars"))
    row("4-bar segments repeating one", share("repeated_4_bars"))
    row("2-bar segments found elsewhere", share("copied_2_bars"))
    row("4-bar segments found elsewhere", share("copied_4_bars"))
    print("  (found elsewhere: verbatim anywhere in the training melodies, and for generated files in the\n"
          "   validation melodies too, where their seeds come from; a new human tune scores the validation column)")
    if overlaps:
        print(f"{'pitch-class histogram overlap':36s}{overlaps['pitch_class']:>12.3f}  (generated with training)")
        print(f"{'note-length histogram overlap':36s}{overlaps['note_length']:>12.3f}")


def plot_histograms(path, generated, training, title=None):
    """Pitch-class and note-length histograms of generated and training melodies, side by side, to a PNG."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), dpi=100)
    for axes, key, labels, xlabel in [
        (left, "pitch_class_histogram", scales.PITCH_NAMES, "pitch class"),
        (right, "note_length_histogram", [str(n) for n in range(1, LONGEST_NOTE_BIN)] + [f"{LONGEST_NOTE_BIN}+"],
         "note length (sixteenth notes)"),
    ]:
        where = np.arange(len(labels))
        for shift, stats, color, name in [(-0.2, training, "0.6", "training"), (0.2, generated, "tab:blue", "generated")]:
            axes.bar(where + shift, stats[key], width=0.4, color=color, label=f"{name} ({stats['notes']} notes)")
        axes.set_xticks(where, labels, fontsize="small")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("share of notes")
        axes.legend(fontsize="small")
    if title:
        figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    utils.write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


# ----------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    for name in ["max_windows", "batch_size"]:
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name} must be at least 1, got {getattr(args, name)}")
    if not 1 <= args.ngram_order <= MAX_NGRAM_ORDER:
        sys.exit(f"error: --ngram_order must be in 1..{MAX_NGRAM_ORDER}, got {args.ngram_order}")
    if args.data_dir and not os.path.isdir(args.data_dir):
        sys.exit(f"error: --data_dir {args.data_dir} is not a folder; point it at MIDI files to score the model on")
    if args.generated_dir and not os.path.isdir(args.generated_dir):
        sys.exit(f"error: --generated_dir {args.generated_dir} is not a folder; point it at generated .mid files")
    experiment_dir, checkpoint = sample.find_experiment(args.experiment_dir, args.checkpoint)
    config = utils.load_config(experiment_dir)
    window_size, encoding, num_classes = config["window_size"], config["encoding"], config["num_classes"]

    # data: the training files fit the baselines; the windows of the validation files (or of
    # --data_dir) are scored
    train_files = load_files(config["data_dir"], config, config["files"]["train"])
    train_melodies = utils.files_to_steps(train_files, encoding)
    if not any(len(m) > window_size for m in train_melodies):
        sys.exit(f"error: the experiment's training files are not under {config['data_dir']}; the baselines are "
                 f"fitted on them: run from the folder the experiment was trained in")
    if args.data_dir:
        eval_files = load_files(args.data_dir, config)
        description = f"{window_size} steps from {len(eval_files)} files under {args.data_dir}"
        shared = {f["sha1"] for f in eval_files} & {f["sha1"] for f in train_files}
        if shared:
            print(f"Warning: {len(shared)} files under {args.data_dir} are training files of {experiment_dir}")
    else:
        eval_files = load_files(config["data_dir"], config, config["files"]["validation"])
        description = f"{window_size} steps from the {len(eval_files)} validation files of {experiment_dir}"
    steps, starts = utils.make_windows(utils.files_to_steps(eval_files, encoding), window_size, utils.model_history(config))
    if not len(starts):
        where = args.data_dir or f"the validation files of {experiment_dir} under {config['data_dir']}"
        sys.exit(f"error: no melody longer than the window of {window_size} sixteenth notes in {where}; "
                 f"pass --data_dir with other MIDI files")
    windows_total = len(starts)
    if len(starts) > args.max_windows:  # a seeded random subset, in order
        starts = np.sort(np.random.default_rng(args.seed).choice(starts, args.max_windows, replace=False))
    x, y = utils.windows_at(steps, starts, window_size)  # x: (n, window_size) classes, y: (n,)
    changes = y != x[:, -1]
    survival = note_survival([m for f in eval_files for m in f["melodies"] if len(m)], encoding)
    print(f"Notes that survive the {encoding} encoding (encode, then decode): {100 * survival:.2f}%")

    # baselines, fitted on the training files
    p_repeat = repeat_probability(train_melodies, window_size)
    repeat_p = repeat_last_probabilities(x[:, -1], y, p_repeat, num_classes)
    ngram_order = min(args.ngram_order, window_size + 1)  # it sees no more than the window
    if ngram_order < args.ngram_order:
        print(f"The n-gram sees at most the window of {window_size} steps: order {ngram_order}, "
              f"not {args.ngram_order}")
    print(f"Fitting a {ngram_order}-gram on {len(train_melodies)} training melodies, scoring {len(y)} windows")
    ngram = fit_ngram(train_melodies, ngram_order, num_classes)
    ngram_p, ngram_best = score_ngram(ngram, x, y)

    # the model
    keras = utils.import_keras()  # imported late: flag errors above stay fast
    try:  # safe mode: a checkpoint holding code (a Lambda layer, say) is refused, never run
        model = keras.saving.load_model(checkpoint, safe_mode=True, compile=False)
    except Exception as e:  # noqa: BLE001 -- any unloadable checkpoint is a one-line error
        sys.exit(f"error: cannot load {checkpoint}: {str(e).splitlines()[0][:200]}")
    takes = tuple(model.inputs[0].shape[1:])
    inputs = 1 + bool(config.get("lookback")) + bool(config.get("register"))  # steps, lookback, register
    if model.output_shape[-1] != num_classes or takes[0] != window_size or len(model.inputs) != inputs:
        sys.exit(f"error: {checkpoint} takes {len(model.inputs)} inputs, windows of shape {takes}, and gives "
                 f"{model.output_shape[-1]} classes, but config.json says {inputs} inputs, windows of {window_size} "
                 f"steps and {num_classes} classes")
    model_p, model_best = score_model(model, steps, starts, y, config, args.batch_size)

    prediction = {
        "model": summarize_predictions(model_p, model_best, y, changes),
        "repeat_last": summarize_predictions(repeat_p, x[:, -1], y, changes),
        "ngram": summarize_predictions(ngram_p, ngram_best, y, changes),
    }
    epoch = int(utils.CHECKPOINT_RE.match(os.path.basename(checkpoint)).group(1))
    print_prediction_table([(f"model, epoch {epoch}", prediction["model"]),
                            (f"repeat last step (p={p_repeat:.3f})", prediction["repeat_last"]),
                            (f"{ngram_order}-gram, Kneser-Ney", prediction["ngram"])],
                           len(y), float(changes.mean()), description)
    results = {
        "experiment_dir": experiment_dir,
        "checkpoint": checkpoint,
        "data": args.data_dir or "validation files",
        "encoding": encoding,
        "window_size": window_size,
        "windows": len(y),
        "windows_total": windows_total,
        "change_share": float(changes.mean()),
        "note_survival": survival,
        "repeat_probability": p_repeat,
        "ngram_order": ngram_order,
        "ngram_discounts": [level["discount"] for level in ngram["levels"]],
        "prediction": prediction,
        "music": None,
    }

    # music and structure of the generated files, the training melodies and the validation melodies
    generated_dir = args.generated_dir or os.path.join(experiment_dir, "generated")
    generated, notes = load_generated(generated_dir) if os.path.isdir(generated_dir) else ([], [])
    for note in notes:
        print(note)
    validation_files = (eval_files if not args.data_dir
                        else load_files(config["data_dir"], config, config["files"]["validation"]))
    melodies = {"training": [m for f in train_files for m in f["melodies"] if len(m)],
                "validation": [m for f in validation_files for m in f["melodies"] if len(m)],
                "generated": generated}
    onset = {name: [utils.notes_to_steps(m, "onset") for m in found] for name, found in melodies.items()}
    in_training = {bars: index_segments(onset["training"], bars) for bars in [2, 4]}
    in_seed_sources = {bars: in_training[bars] | index_segments(onset["validation"], bars) for bars in [2, 4]}
    columns = [(name, dict(music_statistics(melodies[name]), **structure_statistics(onset[name], indexes)))
               for name, indexes in [("generated", in_seed_sources), ("training", None), ("validation", in_training)]
               if melodies[name]]
    music = dict(columns)
    overlaps = None
    figure_path = None
    if generated:
        overlaps = {
            "pitch_class": histogram_overlap(music["generated"]["pitch_class_histogram"],
                                             music["training"]["pitch_class_histogram"]),
            "note_length": histogram_overlap(music["generated"]["note_length_histogram"],
                                             music["training"]["note_length_histogram"]),
        }
        figure_path = free_path(args.figure or os.path.join(experiment_dir, "evaluation.png"))
        plot_histograms(figure_path, music["generated"], music["training"],
                        title=f"{generated_dir} against the training melodies of {experiment_dir}")
    print_music_table(columns, overlaps)
    if not generated:
        print(f"\nNo generated melody to measure: no .mid file with notes in {generated_dir}; "
              f"make some with: python sample.py --experiment_dir {experiment_dir}")
    results["music"] = dict(music, generated_dir=generated_dir, overlap=overlaps)

    # files: never overwrite an earlier evaluation
    json_path = free_path(os.path.join(experiment_dir, "evaluation.json"))
    results["figure"] = figure_path

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)

    utils.write_atomic(json_path, write)
    print()
    for path, default in [(json_path, os.path.join(experiment_dir, "evaluation.json")),
                          (figure_path, args.figure or os.path.join(experiment_dir, "evaluation.png"))]:
        if path:
            print(f"Wrote {path}" + (f" ({default} already exists)" if path != default else ""))
    return results


if __name__ == "__main__":
    main()
