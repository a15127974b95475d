"""See how good an experiment is: bits per step against baselines, and music statistics.

    python evaluate.py                                            # latest experiment, its validation files
    python evaluate.py --experiment_dir experiments/01 --ngram_order 3
    python evaluate.py --max_windows 2000 --generated_dir my_files/  # a quick smoke run

Next-step prediction is scored on the same windows for four predictors: the model, "repeat the
last step", a smoothed n-gram over classes and IDyOM's PPM, the baselines fitted on the experiment's
training files (PPM also on each melody scored, up to the step before the target). Generated MIDI
files are compared with the training melodies: pitch range, pitch-class and note-length
histograms, rests, repeated notes and the share of notes in the best major or minor scale. Numbers go to evaluation.json and the histograms to evaluation.png in the experiment folder
(evaluation-2.json, -3, ... when those exist: nothing is overwritten).
"""
import argparse
import collections
import json
import os
import sys

import numpy as np

import baselines
import checkpoints
import media
import melody_cache
import midi_notes
import music_stats
import safe_write
import scales
import scoring
import step_encoding
import tensorflow_start
import utils

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up notes quiet


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
    parser.add_argument("--ngram_order", type=int, default=5, help=f"n of the n-gram baseline: it predicts from the last n - 1 steps, 1 to {baselines.MAX_NGRAM_ORDER} (default: %(default)s)")
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
        back = step_encoding.steps_to_notes(step_encoding.notes_to_steps(notes, encoding), encoding)
        original = {tuple(n) for n in notes.tolist()}
        kept += len(original & {tuple(n) for n in back.tolist()})
        total += len(original)
    return kept / total if total else float("nan")


def score_model(model, windows, starts, y, config, batch_size, chunk=8192):
    """model.predict on the windows at these starts, chunk windows at a time, fed as in training
    (utils.make_dataset) -> (p_true (n,), predicted (n,)). windows: choose_windows' steps, and positions."""
    steps, positions = windows
    p_true, predicted = [], []
    for i in range(0, len(starts), chunk):
        data = utils.make_dataset(steps, starts[i:i + chunk], config["window_size"], batch_size,
                                  config["num_classes"], encoding=config["encoding"],
                                  lookback=config.get("lookback", []), register=config.get("register", 0),
                                  positions=positions, meters=utils.model_meters(config),
                                  form_bars=config.get("form_bars", 16), durations=config.get("durations", False),
                                  repeats=config.get("repeats", False))
        p, best = scoring.score_distributions(model.predict(data, verbose=0), y[i:i + chunk])
        p_true.append(p)
        predicted.append(best)
    return np.concatenate(p_true), np.concatenate(predicted)


# ----------------------------------------------------------------------------
# Data, tables, files


def load_files(data_dir, config, paths=None):
    """The files under data_dir as the experiment learns them, or only those whose relative path is in paths."""
    if not os.path.isdir(data_dir):
        return []
    files = melody_cache.load_melodies(data_dir, quiet=True, **midi_notes.melody_options(config))
    wanted = None if paths is None else set(paths)
    return files if wanted is None else [f for f in files if f["path"] in wanted]


def load_generated(generated_dir):
    """Melodies (as notes) of every .mid under generated_dir, their meters (from each file's time
    signature, 4/4 without one), whether each file ended before --file_length (its N.json says, for
    a model trained with --endings; else None), and a note for each file left out."""
    melodies, meters, ended, notes = [], [], [], []
    for path in melody_cache.find_midi_files(generated_dir):
        found, info = midi_notes.choose_melodies(*midi_notes.midi_to_notes(path))
        if info["skipped"]:
            notes.append(f"  left out {path}: {info['skipped']}")
        melodies += [m for m in found if len(m)]
        meters += [meter for m, meter in zip(found, info["meters"]) if len(m)]
        ended.append((media.load_origin(path) or {}).get("ended"))
    return melodies, meters, ended, notes


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
    row("notes held a bar or longer", share("held_bar_share"))
    row("  steps inside them", share("held_bar_step_share"))
    row("melodies with a 4-bar note", share("melodies_with_a_4_bar_note"))
    print("structure (onset steps, in each melody's own bars, from its file's bar lines)")
    row("bars repeating an earlier bar", share("repeated_1_bars"))
    row("2-bar segments repeating one", share("repeated_2_bars"))
    row("4-bar segments repeating one", share("repeated_4_bars"))
    row("2-bar segments found elsewhere", share("copied_2_bars"))
    row("4-bar segments found elsewhere", share("copied_4_bars"))
    print("  (found elsewhere: verbatim anywhere in the training melodies, and for generated files in the\n"
          "   validation melodies too, where their seeds come from; a new human tune scores the validation column)")
    for bars in music_stats.LOOP_BARS:
        row(f"melodies playing {bars} bars 3+ times in a row", share(f"looped_{bars}_bars"))
        row("  steps in a third or later copy", share(f"looped_{bars}_bars_steps"))
    print("whole melodies (in their own bars)")
    row("length in bars, quartiles", lambda t: "/".join(f"{q:.0f}" for q in t["length_bars_quartiles"]))
    row("ending on the tonic", share("ends_on_tonic"))
    row("last note on a strong beat", share("ends_on_strong_beat"))
    row("ended before --file_length", share("ended"))
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
        (right, "note_length_histogram", [str(n) for n in range(1, music_stats.LONGEST_NOTE_BIN)] + [f"{music_stats.LONGEST_NOTE_BIN}+"],
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
    safe_write.write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


# ----------------------------------------------------------------------------


def check_args(args):
    """Every flag is checked before any work starts; a bad one is a one-line error."""
    for name in ["max_windows", "batch_size"]:
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name} must be at least 1, got {getattr(args, name)}")
    if not 1 <= args.ngram_order <= baselines.MAX_NGRAM_ORDER:
        sys.exit(f"error: --ngram_order must be in 1..{baselines.MAX_NGRAM_ORDER}, got {args.ngram_order}")
    if args.data_dir and not os.path.isdir(args.data_dir):
        sys.exit(f"error: --data_dir {args.data_dir} is not a folder; point it at MIDI files to score the model on")
    if args.generated_dir and not os.path.isdir(args.generated_dir):
        sys.exit(f"error: --generated_dir {args.generated_dir} is not a folder; point it at generated .mid files")


def load_data(args, config, experiment_dir):
    """(training files, which fit the baselines; files whose windows are scored, the validation files
    or --data_dir's; a description of those windows)."""
    window_size = config["window_size"]
    train_files = load_files(config["data_dir"], config, config["files"]["train"])
    if not any(len(m) > window_size for m in utils.files_to_steps(train_files, config["encoding"])):
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
    return train_files, eval_files, description


def scored_melodies(config, files):
    """The melodies of these files whose windows are scored, as steps, and their meters: for a model
    that reads meters, those in a meter it was trained in."""
    melodies = utils.files_to_steps(files, config["encoding"], config.get("endings", False))
    meters = utils.files_to_meters(files)
    if not utils.model_meters(config):
        return melodies, meters
    known = [midi_notes.meter_name(meter) in config["meters"] for meter in meters]
    if not all(known):
        print(f"Left out: {known.count(False)} melodies in meters the model was not trained in")
    return [m for m, ok in zip(melodies, known) if ok], [m for m, ok in zip(meters, known) if ok]


def choose_windows(args, config, experiment_dir, melodies, meters):
    """(steps, positions or None, starts, chosen, windows in all) of the windows scored: every one, or
    --max_windows of them, a seeded random subset in order; chosen: their indices among all windows."""
    window_size = config["window_size"]
    meter_positions = utils.meter_positions(meters, config["meters"]) if utils.model_meters(config) else None
    steps, starts, *positions = utils.make_windows(melodies, window_size, utils.model_history(config), meter_positions)
    positions = positions[0] if positions else None  # a model that reads meters: every step's position code
    if not len(starts):
        where = args.data_dir or f"the validation files of {experiment_dir} under {config['data_dir']}"
        sys.exit(f"error: no melody longer than the window of {window_size} sixteenth notes in {where}; "
                 f"pass --data_dir with other MIDI files")
    windows_total = len(starts)
    chosen = np.arange(windows_total)
    if len(starts) > args.max_windows:
        chosen = np.sort(np.random.default_rng(args.seed).choice(windows_total, args.max_windows, replace=False))
    return steps, positions, starts[chosen], chosen, windows_total


def score_baselines(train_melodies, eval_melodies, chosen, x, y, config, ngram_order):
    """The baselines, fitted on the training melodies -> ({name: (p_true, predicted)}, what they learned).

    eval_melodies, chosen: the melodies scored and the indices of the windows chosen among all of
    theirs, for PPM, which reads each melody from its first step.
    """
    window_size, num_classes = config["window_size"], config["num_classes"]
    p_repeat = baselines.repeat_probability(train_melodies, window_size)
    repeat_p = baselines.repeat_last_probabilities(x[:, -1], y, p_repeat, num_classes)
    order = min(ngram_order, window_size + 1)  # it sees no more than the window
    if order < ngram_order:
        print(f"The n-gram sees at most the window of {window_size} steps: order {order}, not {ngram_order}")
    print(f"Fitting a {order}-gram on {len(train_melodies)} training melodies, scoring {len(y)} windows")
    ngram = baselines.fit_ngram(train_melodies, order, num_classes)
    print(f"Fitting PPM (orders up to {baselines.PPM_LONG_ORDER}, and {baselines.PPM_SHORT_ORDER} on each melody "
          f"scored) on the same melodies")
    ppm = baselines.fit_ppm(train_melodies, num_classes)
    scores = {"repeat_last": (repeat_p, x[:, -1]), "ngram": baselines.score_ngram(ngram, x, y),
              "ppm": (baselines.score_ppm(ppm, eval_melodies, window_size)[chosen], None)}
    return scores, {"repeat_probability": p_repeat, "ngram_order": order,
                    "ngram_discounts": [level["discount"] for level in ngram["levels"]]}


def load_model(checkpoint, config):
    """The checkpoint's model, checked against what config.json says it takes and gives."""
    tensorflow_start.import_keras()  # imported late: flag errors above stay fast
    model = checkpoints.load_checkpoint(checkpoint, compile=False)
    window_size, num_classes = config["window_size"], config["num_classes"]
    takes = tuple(model.inputs[0].shape[1:])
    inputs = 1 + bool(config.get("lookback")) + bool(config.get("register"))  # steps, lookback, register
    if model.output_shape[-1] != num_classes or takes[0] != window_size or len(model.inputs) != inputs:
        sys.exit(f"error: {checkpoint} takes {len(model.inputs)} inputs, windows of shape {takes}, and gives "
                 f"{model.output_shape[-1]} classes, but config.json says {inputs} inputs, windows of {window_size} "
                 f"steps and {num_classes} classes")
    return model


def measure_music(args, config, experiment_dir, train_files, eval_files):
    """Music and structure of the generated files, the training melodies and the validation melodies:
    printed, with the histograms drawn -> (results["music"], the figure's path or None)."""
    generated_dir = args.generated_dir or os.path.join(experiment_dir, "generated")
    generated, generated_meters, ended, notes = (load_generated(generated_dir) if os.path.isdir(generated_dir)
                                                 else ([], [], [], []))
    for note in notes:
        print(note)
    validation_files = (eval_files if not args.data_dir
                        else load_files(config["data_dir"], config, config["files"]["validation"]))
    melodies = {"training": [m for f in train_files for m in f["melodies"] if len(m)],
                "validation": [m for f in validation_files for m in f["melodies"] if len(m)],
                "generated": generated}
    meters = {"training": utils.files_to_meters(train_files), "validation": utils.files_to_meters(validation_files),
              "generated": generated_meters}
    onset = {name: [music_stats.steps_from_bar_line(m, meter) for m, meter in zip(found, meters[name])]
             for name, found in melodies.items()}
    bar_lengths = {name: music_stats.bar_lengths_of(meters[name], len(found)) for name, found in melodies.items()}
    in_training = {bars: music_stats.index_segments(onset["training"], bars, bar_lengths["training"]) for bars in [2, 4]}
    in_seed_sources = {bars: in_training[bars] | music_stats.index_segments(onset["validation"], bars,
                                                                            bar_lengths["validation"])
                       for bars in [2, 4]}
    columns = [(name, dict(music_stats.music_statistics(melodies[name]),
                           **music_stats.structure_statistics(onset[name], indexes, bar_lengths[name]),
                           **music_stats.loop_statistics(onset[name], bar_lengths[name]),
                           **music_stats.tune_statistics(melodies[name], meters[name])))
               for name, indexes in [("generated", in_seed_sources), ("training", None), ("validation", in_training)]
               if melodies[name]]
    music = dict(columns)
    known = [done for done in ended if done is not None]  # files of a model trained with --endings
    for name, stats in columns:
        stats["ended"] = float(np.mean(known)) if name == "generated" and known else None
    overlaps = None
    figure_path = None
    if generated:
        overlaps = {
            "pitch_class": music_stats.histogram_overlap(music["generated"]["pitch_class_histogram"],
                                                         music["training"]["pitch_class_histogram"]),
            "note_length": music_stats.histogram_overlap(music["generated"]["note_length_histogram"],
                                                         music["training"]["note_length_histogram"]),
        }
        figure_path = safe_write.free_path(args.figure or os.path.join(experiment_dir, "evaluation.png"))
        plot_histograms(figure_path, music["generated"], music["training"],
                        title=f"{generated_dir} against the training melodies of {experiment_dir}")
    print_music_table(columns, overlaps)
    by_meter = measure_meters(melodies, meters)
    if not generated:
        print(f"\nNo generated melody to measure: no .mid file with notes in {generated_dir}; "
              f"make some with: python sample.py --experiment_dir {experiment_dir}")
    return dict(music, generated_dir=generated_dir, overlap=overlaps, meters=by_meter), figure_path


def measure_meters(melodies, meters):
    """Per meter of the generated melodies (else of the validation ones): where notes start in the bar,
    generated and validation melodies against the training melodies of that meter, printed ->
    {meter: {melodies, onset histograms, total variation distances}}."""
    found = collections.Counter(midi_notes.meter_name(m) for m in meters["generated"] or meters["validation"])
    results = {}
    print("\nwhere notes start in the bar: total variation distance to the training melodies of the meter "
          "(0 the same, 1 disjoint)")
    print(f"{'meter':28s}{'generated':>16s}{'validation':>16s}")
    for name, _ in found.most_common():
        histograms = {which: music_stats.onset_histogram(melodies[which], meters[which], name)
                      for which in ["training", "validation", "generated"]}
        counts = {which: sum(midi_notes.meter_name(m) == name for m in meters[which]) for which in histograms}
        distance = {which: (music_stats.total_variation(histograms[which], histograms["training"])
                            if histograms[which] is not None and histograms["training"] is not None else None)
                    for which in ["generated", "validation"]}
        print(f"{name:28s}" + "".join(f"{format_number(distance[w]):>8s} ({counts[w]:>4d})" for w in distance))
        results[name] = {"melodies": counts, "total_variation": distance,
                         "onset_histograms": {w: None if h is None else h.tolist() for w, h in histograms.items()}}
    print("  (in brackets: melodies in that meter; a new human tune scores the validation column)")
    return results


def write_results(results, experiment_dir, figure_path, figure_default):
    """evaluation.json (evaluation-2.json, ... when it exists: never overwrite an earlier evaluation)."""
    json_path = safe_write.free_path(os.path.join(experiment_dir, "evaluation.json"))

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)

    safe_write.write_atomic(json_path, write)
    print()
    for path, default in [(json_path, os.path.join(experiment_dir, "evaluation.json")),
                          (figure_path, figure_default)]:
        if path:
            print(f"Wrote {path}" + (f" ({default} already exists)" if path != default else ""))


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    experiment_dir, checkpoint = checkpoints.find_experiment(args.experiment_dir, args.checkpoint)
    config = checkpoints.load_config(experiment_dir)
    encoding = config["encoding"]

    # data: the training files fit the baselines; the windows of the validation files (or of
    # --data_dir) are scored
    train_files, eval_files, description = load_data(args, config, experiment_dir)
    eval_melodies, eval_meters = scored_melodies(config, eval_files)
    steps, positions, starts, chosen, windows_total = choose_windows(args, config, experiment_dir, eval_melodies,
                                                                     eval_meters)
    x, y = utils.windows_at(steps, starts, config["window_size"])  # x: (n, window_size) classes, y: (n,)
    changes = y != x[:, -1]
    survival = note_survival([m for f in eval_files for m in f["melodies"] if len(m)], encoding)
    print(f"Notes that survive the {encoding} encoding (encode, then decode): {100 * survival:.2f}%")

    # next-step prediction: the baselines, then the model, on the same windows
    scores, learned = score_baselines(utils.files_to_steps(train_files, encoding, config.get("endings", False)),
                                      eval_melodies,
                                      chosen, x, y, config, args.ngram_order)
    model = load_model(checkpoint, config)
    scores = {"model": score_model(model, (steps, positions), starts, y, config, args.batch_size), **scores}
    prediction = {name: scoring.summarize_predictions(p_true, predicted, y, changes)
                  for name, (p_true, predicted) in scores.items()}
    epoch = int(checkpoints.CHECKPOINT_RE.match(os.path.basename(checkpoint)).group(1))
    print_prediction_table([(f"model, epoch {epoch}", prediction["model"]),
                            (f"repeat last step (p={learned['repeat_probability']:.3f})", prediction["repeat_last"]),
                            (f"{learned['ngram_order']}-gram, Kneser-Ney", prediction["ngram"]),
                            ("PPM, long and short term", prediction["ppm"])],
                           len(y), float(changes.mean()), description)

    # music statistics, then the files
    music, figure_path = measure_music(args, config, experiment_dir, train_files, eval_files)
    results = {"experiment_dir": experiment_dir, "checkpoint": checkpoint, "data": args.data_dir or "validation files",
               "encoding": encoding, "window_size": config["window_size"], "windows": len(y),
               "windows_total": windows_total, "change_share": float(changes.mean()), "note_survival": survival,
               **learned, "prediction": prediction, "music": music, "figure": figure_path}
    write_results(results, experiment_dir, figure_path, args.figure or os.path.join(experiment_dir, "evaluation.png"))
    return results


if __name__ == "__main__":
    main()
