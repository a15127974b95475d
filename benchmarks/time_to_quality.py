"""Time to quality: the recommended command before --targets (the one experiments/pretrained was
trained with), and README's recommended command now, the same plus --repeats, --form_bars 32 and
--targets 24 with a smaller batch and a larger learning rate, trained in turn in one run on the same tunes, split and machine.

    python benchmarks/time_to_quality.py              # the bundled tunes: 25 minutes on 2 cores (yardstick 0.5 s)
    python benchmarks/time_to_quality.py --every 7    # one bundled tune in 7: about 8 minutes
    python benchmarks/time_to_quality.py --every 50 --num_epochs 1 --candidate_epochs 1 --num_files 1 --seeds 1   # a smoke run

For each model it prints the validation loss after each epoch, with the wall-clock seconds since
its train.py started (parsing included: the melodies are parsed into a temporary cache first, so
neither run parses them); then the reference's best loss, when the candidate first came within
--within of it, and that time as a share of the reference's whole command (the target: at most a
quarter). Each model's best checkpoint then writes --num_files files for each of --seeds, and
evaluate.py's bits per step and structure statistics of both are printed beside the training tunes'.
Run it alone: the times are wall-clock. Everything goes to a temporary folder, removed at the end.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this script lives in benchmarks/; the project's modules are one folder up

import melody_cache  # noqa: E402
import small_folder  # noqa: E402
import yardstick  # noqa: E402

TARGET_SHARE = 0.25  # of the reference's time, at most, to come within --within of its best loss
ROWS = [("bars repeating an earlier bar", "repeated_1_bars"), ("2-bar segments repeating one", "repeated_2_bars"),
        ("4-bar segments repeating one", "repeated_4_bars"), ("4-bar segments found elsewhere", "copied_4_bars"),
        ("melodies playing 8 bars 3+ times", "looped_8_bars"), ("  steps in a third or later copy", "looped_8_bars_steps"),
        ("ending on the tonic", "ends_on_tonic"), ("ended before --file_length", "ended"),
        ("in best major/minor scale", "in_scale_share"), ("pitch span per melody, semitones", "mean_pitch_span_per_melody")]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the data
    parser.add_argument("--every", type=int, default=1, help="train on one bundled tune in this many, in path order (default: %(default)s, all)")
    # the reference: the recommended command before --targets
    parser.add_argument("--num_epochs", type=int, default=7, help="epochs of the reference, the number it was recommended with (default: %(default)s)")
    # the candidate: the same with --repeats, --form_bars 32 and --targets, README's recommended command now
    parser.add_argument("--targets", type=int, default=24, help="train.py --targets of the candidate, steps (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=16, help="train.py --batch_size of the candidate, windows (default: %(default)s)")
    parser.add_argument("--learning_rate", type=float, default=0.003, help="train.py --learning_rate of the candidate (default: %(default)s)")
    parser.add_argument("--candidate_epochs", type=int, default=7, help="epochs of the candidate (default: %(default)s)")
    parser.add_argument("--within", type=float, default=0.01, help="how close to the reference's best validation loss counts as reaching it, a share (default: %(default)s)")
    # the music
    parser.add_argument("--num_files", type=int, default=10, help="files each model writes for each seed (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="sample.py seeds (default: %(default)s)")
    return parser.parse_args(argv)


def train_timed(command, env):
    """Run train.py; returns [(seconds since it started, validation loss)] for each epoch it finished."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "train.py"] + command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    epochs, lines = [], []
    for line in process.stdout:  # one line per epoch: the output is a pipe, not a terminal
        lines.append(line)
        found = re.search(r"val_loss: ([0-9.]+)", line)
        if found:
            epochs.append((time.perf_counter() - start, float(found.group(1))))
            print(f"    epoch {len(epochs)}: val_loss {epochs[-1][1]:.4f} at {epochs[-1][0]:.0f} s", flush=True)
    if process.wait() != 0:
        sys.exit(f"error: train.py {' '.join(command)} failed with exit status {process.returncode}:\n{''.join(lines)}")
    return epochs, time.perf_counter() - start


def print_music(results):
    """results: {model: evaluation.json}: bits per step and the structure of what each model wrote."""
    models = list(results)
    tunes = results[models[0]]["music"]["training"]
    print(f"\n{'':34s}" + "".join(f"{m:>14s}" for m in models) + f"{'training':>14s}")
    bits = [r["prediction"]["model"]["bits_per_step"] for r in results.values()]
    print(f"{'bits per step (validation)':34s}" + "".join(f"{b:>14.3f}" for b in bits))
    print(f"{'  against the 5-gram':34s}" + "".join(
        f"{r['prediction']['model']['bits_per_step'] / r['prediction']['ngram']['bits_per_step']:>14.3f}"
        for r in results.values()))
    for label, key in ROWS:
        values = [r["music"]["generated"][key] for r in results.values()] + [tunes[key]]
        print(f"{label:34s}" + "".join(f"{'-' if v is None else f'{v:.3f}':>14s}" for v in values))


def main(argv=None):
    args = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="time_to_quality-")
    env = dict(os.environ, MIDI_GENERATOR_CACHE=os.path.join(tmp, "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    os.environ["MIDI_GENERATOR_CACHE"] = env["MIDI_GENERATOR_CACHE"]  # the parse below fills the same cache
    before = yardstick.measure_yardstick()
    print(yardstick.describe_yardstick(before))
    try:
        source = os.path.join(REPO, "data", "midi")
        data_dir = source if args.every == 1 else small_folder.link_files(source, os.path.join(tmp, "midi"), every=args.every)
        melody_cache.load_melodies(data_dir, n_jobs=os.cpu_count(), quiet=True)
        recommended = ["--data_dir", data_dir] + small_folder.RECOMMENDED
        runs = {"before": recommended + ["--num_epochs", str(args.num_epochs)],
                "now": recommended + [
                    "--repeats", "--form_bars", "32", "--num_epochs", str(args.candidate_epochs), "--targets", str(args.targets),
                    "--batch_size", str(args.batch_size), "--learning_rate", str(args.learning_rate)]}
        curves, wall, results = {}, {}, {}
        for model, flags in runs.items():
            experiment_dir = os.path.join(tmp, model.replace(" ", "-"))
            print(f"\n{model}: python train.py {' '.join(flags[2:])}", flush=True)
            curves[model], wall[model] = train_timed(["--experiment_dir", experiment_dir] + flags, env)
            print(f"    the whole command: {wall[model]:.0f} s")
            results[model] = small_folder.measure(experiment_dir, args, env)
        reference, candidate = runs
        best = min(loss for _, loss in curves[reference])
        reached = [(seconds, loss) for seconds, loss in curves[candidate] if loss <= best * (1 + args.within)]
        print(f"\n{reference}: best validation loss {best:.4f} in a command of {wall[reference]:.0f} s")
        if reached:
            share = reached[0][0] / wall[reference]
            print(f"{candidate}: {reached[0][1]:.4f}, within {args.within:.0%} of it, at {reached[0][0]:.0f} s: "
                  f"{share:.2f} of the reference's time; best {min(l for _, l in curves[candidate]):.4f}")
            print(f"  target: at most {TARGET_SHARE} of the time -> {'meets' if share <= TARGET_SHARE else 'MISSES'} it")
        else:
            print(f"{candidate}: never within {args.within:.0%} of it (best "
                  f"{min(l for _, l in curves[candidate]):.4f}) -> MISSES the target")
        print_music(results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    after = yardstick.measure_yardstick()
    print(f"\n{yardstick.describe_yardstick(after)} (at the end; {before:.2f} s at the start)")


if __name__ == "__main__":
    main()
