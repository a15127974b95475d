"""How fast training data reaches the model: the project's pipeline against the older design and the compute floor.

    python benchmarks/pipeline_speed.py                                     # every figure, on nottingham (4 to 6 minutes)
    python benchmarks/pipeline_speed.py --steps 30 --repeats 1 --copies 1 2  # a quick smoke run (about 1 minute)
    python benchmarks/pipeline_speed.py --data_dir data/midi                 # on another folder of MIDI files

Every configuration runs in a subprocess of its own, so that its peak resident memory is its alone.
The same model (train.py's defaults) trains for --warmup_steps + --steps steps of --batch_size windows:
  (a) reference:  the older design, a Python generator that parses --max_files_in_ram files at a time
                  with pretty_midi, cuts every window of them as float64 one-hot arrays
                  (batch, window_size, 129), and parses the files again on every pass;
  (b) project:    melody_cache.load_melodies -> files_to_steps -> make_window_runs -> utils.make_dataset (tf.data),
                  with a cold melody cache, then a warm one, then on copies of the data;
  (c) floor:      model.fit on the same windows, already one-hot in memory as numpy arrays.
Time to first batch runs from the start of loading (after imports and the model build) until the
pipeline hands out its first batch. Windows per second count the --steps steps after the warm-up.
The melody cache lives in a temporary folder (MIDI_GENERATOR_CACHE), removed at the end.
"""
import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pretty_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this script lives in benchmarks/; the project's modules live one folder up
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import melody_cache  # noqa: E402 -- needs the path above
import step_encoding  # noqa: E402
import utils  # noqa: E402
import yardstick  # noqa: E402

NUM_CLASSES = step_encoding.NUM_CLASSES["roll"]  # 129: rest, then pitches 0..127
RESULT = "RESULT "  # a subprocess prints its figures on one line starting with this


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # data
    parser.add_argument("--data_dir", default="/work/shared/data/nottingham", help="folder of MIDI files (default: %(default)s)")
    parser.add_argument("--window_size", type=int, default=20, help="window of the main runs, in sixteenth notes (default: %(default)s)")
    parser.add_argument("--long_window_size", type=int, default=256, help="window of the memory runs of (a) and (b), in sixteenth notes (default: %(default)s)")
    parser.add_argument("--max_files_in_ram", type=int, default=25, help="files parsed at a time (default: %(default)s)")
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4, 16], help="copies of the data for the memory growth runs of (b); the first is the reference (default: %(default)s)")
    # model
    parser.add_argument("--rnn_size", type=int, default=64, help="units in each LSTM layer (default: %(default)s)")
    parser.add_argument("--num_layers", type=int, default=1, help="stacked LSTM layers (default: %(default)s)")
    # training
    parser.add_argument("--batch_size", type=int, default=32, help="windows per step (default: %(default)s)")
    parser.add_argument("--warmup_steps", type=int, default=20, help="steps trained before the clock starts (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=1000, help="steps timed for windows per second, the same for every pipeline (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of (a), (b) warm and (c) at --window_size, interleaved; the best counts (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the file split, weights and shuffling (default: %(default)s)")
    # one configuration, in a subprocess (set by this script itself)
    parser.add_argument("--run", choices=["reference", "project", "floor"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--paths_file", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------
# (a) The older design, kept here as the thing to compare against


def reference_melody(instrument, fs, percent_monophonic=0.99):
    """One instrument -> (steps,) class indices (0 rest, p + 1 pitch p), or None if polyphonic.

    Like the older design: a piano roll sampled at fs columns a second, kept if at least 99% of
    its sounding columns hold one note; where two sound, the higher wins.
    """
    roll = instrument.get_piano_roll(fs=fs).T > 0  # (columns, 128)
    sounding = roll.sum(axis=1)
    if not sounding.any() or (sounding == 1).sum() / np.count_nonzero(sounding) < percent_monophonic:
        return None
    roll = roll[np.argmax(sounding > 0):]  # trim the leading silence
    highest = 127 - np.argmax(roll[:, ::-1], axis=1)
    return np.where(roll.any(axis=1), highest + 1, 0)


def reference_windows(paths, window_size):
    """Every window of these files: x (n, window_size, 129) float64 one-hot, y (n,) the next class."""
    xs, ys = [], []
    for path in paths:
        try:
            midi = pretty_midi.PrettyMIDI(path)
        except Exception:  # noqa: BLE001 -- the older design skipped unreadable files
            continue
        fs = 4 * midi.get_tempo_changes()[1][0] / 60  # columns a second: sixteenth notes at the first tempo
        for instrument in midi.instruments:
            melody = None if instrument.is_drum else reference_melody(instrument, fs)
            if melody is None or len(melody) <= window_size:
                continue
            one_hot = np.eye(NUM_CLASSES)[melody]  # (steps, 129) float64
            for k in range(len(melody) - window_size):
                xs.append(one_hot[k:k + window_size])
                ys.append(melody[k + window_size])  # the older design's one-hot target, as an index for the same loss
    return np.asarray(xs), np.asarray(ys)


def reference_batches(paths, window_size, batch_size, max_files_in_ram):
    """Forever: parse max_files_in_ram files, yield their windows batch by batch, drop them, go on."""
    while True:  # one pass over the files, parsed again each time
        batches = 0
        for i in range(0, len(paths), max_files_in_ram):
            x, y = reference_windows(paths[i:i + max_files_in_ram], window_size)
            for j in range(0, len(x) - batch_size + 1, batch_size):
                batches += 1
                yield x[j:j + batch_size], y[j:j + batch_size]
            del x, y  # free this chunk before the next one is parsed
        if not batches:
            raise ValueError(f"no batch of {batch_size} windows of {window_size} steps in these {len(paths)} files")


# ----------------------------------------------------------------------------
# One configuration, measured in its own process


def run_configuration(args):
    """Load, build the pipeline and train; print one RESULT line of figures."""
    import keras

    import train

    total_steps = args.warmup_steps + args.steps
    config = vars(train.build_parser().parse_args([]))  # train.py's defaults: lstm, dropout 0.2, adam, clipnorm 5
    config.update(window_size=args.window_size, rnn_size=args.rnn_size, num_layers=args.num_layers,
                  batch_size=args.batch_size, num_classes=NUM_CLASSES)
    keras.utils.set_random_seed(args.seed)
    model = train.build_model(config)
    base_mib = peak_rss_mib()
    first = {}

    def timed(batches):
        for batch in batches:
            first.setdefault("batch", time.perf_counter())
            yield batch

    start = time.perf_counter()
    windows = None
    if args.run == "reference":
        with open(args.paths_file) as f:
            paths = json.load(f)
        fit_args = [timed(reference_batches(paths, args.window_size, args.batch_size, args.max_files_in_ram))]
    else:
        files = melody_cache.load_melodies(args.data_dir, 1, args.max_files_in_ram, quiet=True)
        train_files, _ = utils.split_files(files, args.window_size, args.seed)
        steps, runs = utils.make_window_runs(utils.files_to_steps(train_files), args.window_size)
        windows = int(runs[:, 1].sum())
        dataset = utils.make_dataset(steps, runs, args.window_size, args.batch_size, NUM_CLASSES,
                                     shuffle=True, seed=args.seed)
        batches = math.ceil(windows / args.batch_size)
        if batches < total_steps:
            sys.exit(f"error: {windows} windows make {batches} batches, fewer than the {total_steps} "
                     f"steps asked for; lower --steps or --warmup_steps")
        if args.run == "project":
            next(iter(dataset))  # the pipeline's first batch; fit below starts its own pass
            first["batch"] = time.perf_counter()
            fit_args = [dataset]
        else:  # the floor: the very same kind of batches, cut and one-hot encoded before training starts
            n = total_steps * args.batch_size
            x = np.empty((n, args.window_size, NUM_CLASSES), np.float32)  # 320 MiB at the defaults
            y = np.empty(n, np.uint8)
            for i, (batch_x, batch_y) in enumerate(dataset.take(total_steps)):
                rows = slice(i * args.batch_size, (i + 1) * args.batch_size)
                x[rows], y[rows] = batch_x.numpy(), batch_y.numpy()
            fit_args = [x, y]
            first["batch"] = time.perf_counter()  # the floor's first batch is ready once all are in memory

    ends = {}

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch in (args.warmup_steps - 1, total_steps - 1):
                ends[batch] = time.perf_counter()

    fit_options = {"batch_size": args.batch_size, "shuffle": False} if args.run == "floor" else {}
    model.fit(*fit_args, steps_per_epoch=total_steps, epochs=1, verbose=0, callbacks=[StepTimer()], **fit_options)
    seconds = ends[total_steps - 1] - ends[args.warmup_steps - 1]
    print(RESULT + json.dumps({
        "first_batch_s": first["batch"] - start,
        "windows_per_s": args.steps * args.batch_size / seconds,
        "peak_mib": peak_rss_mib(),
        "base_mib": base_mib,
        "windows": windows,
    }), flush=True)


# ----------------------------------------------------------------------------
# The benchmark: every configuration in turn, then the targets


def link_copies(data_dir, folder, copies):
    """folder/copyNN/<relative path> -> each MIDI file of data_dir, as symlinks; returns folder."""
    for path in melody_cache.find_midi_files(data_dir):
        relative = os.path.relpath(path, data_dir)
        for k in range(copies):
            link = os.path.join(folder, f"copy{k:02d}", relative)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.abspath(path), link)
    return folder


def training_paths(data_dir, window_size, seed):
    """Absolute paths of the project's training files (read through the melody cache, already warm)."""
    files = melody_cache.load_melodies(data_dir, quiet=True)
    train_files, _ = utils.split_files(files, window_size, seed)
    return [os.path.join(data_dir, f["path"]) for f in train_files]


def run_subprocess(args, run, data_dir, window_size, cache_dir, paths_file=None):
    """Run one configuration in a fresh Python; returns its figures, or None if it failed."""
    command = [sys.executable, os.path.abspath(__file__), "--run", run, "--data_dir", data_dir,
               "--window_size", str(window_size), "--max_files_in_ram", str(args.max_files_in_ram),
               "--rnn_size", str(args.rnn_size), "--num_layers", str(args.num_layers),
               "--batch_size", str(args.batch_size), "--warmup_steps", str(args.warmup_steps),
               "--steps", str(args.steps), "--seed", str(args.seed)]
    if paths_file:
        command += ["--paths_file", paths_file]
    env = dict(os.environ, MIDI_GENERATOR_CACHE=cache_dir, TF_CPP_MIN_LOG_LEVEL="2")  # TensorFlow's start-up notes off
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    noise = re.compile(r"^([IWE]\d{4} |WARNING: All log messages)")  # TensorFlow's start-up lines
    lines = [line for line in done.stderr.splitlines() if line.strip() and not noise.match(line)]
    print(f"  {run} at window {window_size} failed (exit status {done.returncode}):\n    " + "\n    ".join(lines[-5:]))
    return None


def main(argv=None):
    args = parse_args(argv)
    if args.run:
        return run_configuration(args)
    if not os.path.isdir(args.data_dir):
        sys.exit(f"error: --data_dir {args.data_dir} is not a folder; point it at a folder of MIDI files")
    if not melody_cache.find_midi_files(args.data_dir):
        sys.exit(f"error: no .mid or .midi file under --data_dir {args.data_dir}")
    for name in ["window_size", "long_window_size", "max_files_in_ram", "rnn_size", "num_layers", "batch_size",
                 "warmup_steps", "steps", "repeats"]:
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name} must be at least 1, got {getattr(args, name)}")
    if min(args.copies) < 1:
        sys.exit(f"error: --copies must all be at least 1, got {args.copies}")
    data_dir = os.path.abspath(args.data_dir)
    n_files = len(melody_cache.find_midi_files(data_dir))
    print(f"{n_files} MIDI files under {data_dir}; LSTM {args.num_layers} x {args.rnn_size}, batch {args.batch_size}, "
          f"{args.max_files_in_ram} files in RAM; windows/s over {args.steps} steps after {args.warmup_steps} warm-up steps")
    print(yardstick.describe_yardstick(yardstick.measure_yardstick()))  # this machine, now: times are relative to it
    for path in melody_cache.find_midi_files(data_dir):
        melody_cache.hash_file(path)  # read every file once, so that no run pays for the disk alone

    tmp = tempfile.mkdtemp(prefix="pipeline_speed-")
    cache_dir = os.path.join(tmp, "cache")  # the melody cache of every run, this process's too: never the user's
    user_cache = os.environ.get("MIDI_GENERATOR_CACHE")
    os.environ["MIDI_GENERATOR_CACHE"] = cache_dir
    results = {}  # key -> figures of each run of that configuration

    def measure(key, label, run, window_size, run_data_dir=data_dir, paths=None):
        paths_file = None
        if paths is not None:
            paths_file = os.path.join(tmp, f"paths-{window_size}.json")
            with open(paths_file, "w") as f:
                json.dump(paths, f)
        result = run_subprocess(args, run, run_data_dir, window_size, cache_dir, paths_file)
        if result:
            results.setdefault(key, []).append(result)
            print(f"{label:<42} {window_size:>6} {result['first_batch_s']:>10.3f} s {result['windows_per_s']:>10,.0f} "
                  f"{result['peak_mib']:>6,.0f} MiB {result['peak_mib'] - result['base_mib']:>7,.0f} MiB", flush=True)

    try:
        print(f"{'configuration':<42} {'window':>6} {'first batch':>12} {'windows/s':>10} {'peak RSS':>10} {'above base':>11}")
        w, long_w = args.window_size, args.long_window_size
        measure("cold", "(b) project, cold cache", "project", w)
        if "cold" not in results:
            sys.exit("error: the first run failed (above); the others would too")
        train_paths = training_paths(data_dir, w, args.seed)  # (a) reads the very files (b) trains on
        for r in range(args.repeats):  # interleaved, so that a busy spell of the machine hits all three
            run = f", run {r + 1}" if args.repeats > 1 else ""
            measure("warm", "(b) project, warm cache" + run, "project", w)
            measure("floor", "(c) floor: fit on arrays in memory" + run, "floor", w)
            measure("reference", "(a) reference generator" + run, "reference", w, paths=train_paths)
        for copies in args.copies:
            folder = link_copies(data_dir, os.path.join(tmp, f"data{copies}x"), copies)
            found = len(melody_cache.find_midi_files(folder))
            if found != copies * n_files:
                sys.exit(f"error: {found} files found under {folder}, expected {copies * n_files}: symlinks not followed")
            measure(f"copies{copies}", f"(b) project, {copies}x data, cold cache", "project", w, folder)
        measure("reference_long", "(a) reference generator", "reference", long_w,
                paths=training_paths(data_dir, long_w, args.seed))
        measure("project_long", "(b) project, warm cache", "project", long_w)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if user_cache is None:
            os.environ.pop("MIDI_GENERATOR_CACHE")
        else:
            os.environ["MIDI_GENERATOR_CACHE"] = user_cache

    print("\n'above base': peak RSS minus the peak after imports and the model build, before any data is loaded.")
    for copies in args.copies:
        if results.get(f"copies{copies}"):
            print(f"  {copies:>2}x data: {results[f'copies{copies}'][0]['windows']:>10,} training windows of {w} steps")
    print("Byte-identical copies are parsed once, by design of the cache; their windows all count.")
    best = {key: {"windows_per_s": max(r["windows_per_s"] for r in runs),  # the least disturbed run
                  "first_batch_s": min(r["first_batch_s"] for r in runs),
                  "peak_mib": max(r["peak_mib"] for r in runs)}  # memory: the worst run
            for key, runs in results.items()}
    print("\nTargets (repeated runs: the best windows/s and first batch, the highest peak RSS)")
    check_targets(args, best)


def check_targets(args, best):
    """One PASS / FAIL line per target of the issue, with the ratio behind it."""
    def line(ok, text):
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")

    def missing(*keys):
        gone = [k for k in keys if k not in best]
        if gone:
            print(f"  ----  not measured, a run failed: {', '.join(gone)}")
        return gone

    if not missing("warm", "floor"):
        ratio = best["warm"]["windows_per_s"] / best["floor"]["windows_per_s"]
        line(ratio >= 0.85, f"(b) within 15% of (c): (b) trains at {ratio:.2f} of the floor's windows/s (needs >= 0.85)")
    if not missing("warm", "reference"):
        ratio = best["warm"]["windows_per_s"] / best["reference"]["windows_per_s"]
        line(ratio > 1, f"(b) faster than (a): {ratio:.2f}x the reference's windows/s (needs > 1)")
    if not missing("cold", "warm"):
        ratio = best["cold"]["first_batch_s"] / best["warm"]["first_batch_s"]
        line(ratio >= 10, f"a warm cache reaches the first batch {ratio:.0f}x sooner than a cold one (needs >= 10)")
    low, high = f"copies{args.copies[0]}", f"copies{args.copies[-1]}"
    if len(args.copies) > 1 and not missing(low, high):
        ratio = best[high]["peak_mib"] / best[low]["peak_mib"]
        line(ratio < 1.5, f"from {args.copies[0]}x to {args.copies[-1]}x data, peak RSS grows {ratio:.2f}x (needs < 1.5)")
    if not missing("project_long", "reference_long"):
        project, reference = best["project_long"]["peak_mib"], best["reference_long"]["peak_mib"]
        line(project < 2048, f"window {args.long_window_size}: (b) peaks at {project / 1024:.2f} GiB (needs < 2); "
                             f"(a) at {reference / 1024:.2f} GiB, {reference / project:.1f}x as much")


if __name__ == "__main__":
    main()
