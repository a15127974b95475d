"""A user's own small folder: the shipped model as it is, a model trained from scratch, and the
shipped model fine-tuned on the folder (train.py --init_from), each for the same wall-clock budget.

    python benchmarks/small_folder.py                                  # both folders, 5 minutes a model: about 40 minutes
    python benchmarks/small_folder.py --budget 40 --files 12 --num_files 2 --folders vg-piano   # a quick smoke run

For each folder of ../shared/data (the first --files files, read in place through symlinks):
  shipped     experiments/pretrained as it is, scored on the folder's validation windows;
  scratch     the flags experiments/pretrained was trained with (README's recommendation before
              --targets) plus the folder's data flags, trained for --budget seconds;
  fine-tuned  --init_from experiments/pretrained with the folder's data flags, trained for --budget
              seconds at each of --learning_rates.
Training is stopped by Ctrl-C (SIGINT) once the budget is spent, start-up and parsing included;
each model is then its best checkpoint. All three score the same windows of the same validation
files (one split, seed 0). Each model then writes --num_files files for each of --seeds, and
evaluate.py compares them with the folder's training and validation tunes. Everything runs in a
temporary folder, removed at the end; experiments/ and the user's melody cache are never touched.
Run it alone: the budget is wall-clock time.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this script lives in benchmarks/; the project's modules are one folder up

import checkpoints  # noqa: E402
import melody_cache  # noqa: E402
import yardstick  # noqa: E402

SHARED = os.path.join(REPO, "..", "shared", "data")
SHIPPED = os.path.join(REPO, "experiments", "pretrained")
FOLDERS = {"vg-piano": ["--polyphony", "highest", "--tracks", "lead"],  # piano arrangements: chords throughout
           "vgm-sample": ["--tracks", "lead"]}  # band arrangements: the lead of each file's monophonic tracks
MAX_HOLD = 32  # what README's tables were measured with (the recipe now takes 16: README says why)
# the flags experiments/pretrained was trained with: README's recommendation before --targets and --repeats
RECOMMENDED = ["--encoding", "onset", "--rnn_size", "128", "--window_size", "48", "--batch_size", "64",
               "--lookback", "16", "32", "48", "64", "96", "128", "192", "256", "--register", "256",
               "--endings", "--durations", "--normalize_key"]
TARGET_BITS_RATIO = 0.92  # fine-tuned bits per step against the scratch model's, at most
TARGET_WITHIN = 0.10  # pitch span and in-scale share of generated melodies against the folder's tunes
TARGET_COPIED = 1.5  # 4-bar segments found in the folder, against what its validation tunes score


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", nargs="+", default=list(FOLDERS), choices=list(FOLDERS), help="folders of ../shared/data (default: %(default)s)")
    parser.add_argument("--files", type=int, default=40, help="files of each folder, the first in path order (default: %(default)s)")
    parser.add_argument("--budget", type=float, default=300, help="wall-clock seconds of training for each trained model (default: %(default)s)")
    parser.add_argument("--learning_rates", type=float, nargs="+", default=[0.001, 0.0003], help="learning rates of the fine-tuned models (default: %(default)s)")
    parser.add_argument("--num_files", type=int, default=10, help="files each model writes for each seed (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="sample.py seeds (default: %(default)s)")
    parser.add_argument("--max_hold", type=int, default=MAX_HOLD, help="train.py --max_hold of every model, 0 for off (default: %(default)s)")
    parser.add_argument("--skip_scratch", action="store_true", help="train no model from scratch: the shipped and fine-tuned models only")
    return parser.parse_args(argv)


def run(command, env, budget=None):
    """Run a script from the repository root; with a budget, Ctrl-C it once that many seconds have passed.
    Returns (seconds, output); exits with the output if it fails for another reason."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable] + command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # train.py keeps every finished epoch and says so
        output, _ = process.communicate()
        return time.perf_counter() - start, output
    if process.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed with exit status {process.returncode}:\n{output}")
    return time.perf_counter() - start, output


def link_files(source, folder, count=None, every=1):
    """folder/<name> -> one in `every` of the first `count` MIDI files of source (all by default), as
    symlinks; returns folder."""
    os.makedirs(folder)
    for path in melody_cache.find_midi_files(source)[:count:every]:
        os.symlink(os.path.abspath(path), os.path.join(folder, os.path.relpath(path, source).replace(os.sep, "_")))
    return folder


def as_is(shipped_dir, like_dir):
    """An experiment folder holding the shipped checkpoint with like_dir's config: the shipped model as
    it is, scored on the same windows and seeded from the same files as like_dir's model."""
    os.makedirs(os.path.join(shipped_dir, "checkpoints"))
    epoch, path = checkpoints.choose_checkpoint(SHIPPED, "latest", set_aside=False)
    shutil.copy(path, os.path.join(shipped_dir, "checkpoints"))
    config = dict(checkpoints.load_config(like_dir), experiment_dir=shipped_dir)
    checkpoints.save_config(shipped_dir, config)
    return shipped_dir


def measure(experiment_dir, args, env):
    """Sample --num_files files for each seed from the best checkpoint, then evaluate.py's results."""
    generated = os.path.join(experiment_dir, "generated")
    for seed in args.seeds:
        run(["sample.py", "--experiment_dir", experiment_dir, "--checkpoint", "best", "--num_files",
             str(args.num_files), "--seed", str(seed), "--save_dir", generated], env)
    run(["evaluate.py", "--experiment_dir", experiment_dir, "--checkpoint", "best", "--generated_dir", generated], env)
    with open(os.path.join(experiment_dir, "evaluation.json")) as f:
        return json.load(f)


def epochs_of(experiment_dir):
    kept = checkpoints.list_checkpoints(experiment_dir)
    best = min(kept, key=checkpoints.by_validation_loss)[0] if kept else None
    return f"{len(kept)} epochs, best {best}"


ROWS = [  # (label, music statistic, format)
    ("pitch span per melody, semitones", "mean_pitch_span_per_melody", "{:.1f}"),
    ("in best major/minor scale", "in_scale_share", "{:.3f}"),
    ("notes held a bar or longer", "held_bar_share", "{:.4f}"),
    ("  steps inside them", "held_bar_step_share", "{:.3f}"),
    ("melodies with a 4-bar note", "melodies_with_a_4_bar_note", "{:.2f}"),
    ("rest ratio, of steps", "rest_ratio", "{:.3f}"),
    ("bars repeating an earlier bar", "repeated_1_bars", "{:.3f}"),
    ("2-bar segments repeating one", "repeated_2_bars", "{:.3f}"),
    ("4-bar segments repeating one", "repeated_4_bars", "{:.3f}"),
    ("2-bar segments found elsewhere", "copied_2_bars", "{:.3f}"),
    ("4-bar segments found elsewhere", "copied_4_bars", "{:.3f}"),
]


def print_table(name, results, trained):
    """results: {model: evaluation.json}; trained: {model: 'N epochs, best B'}."""
    models = list(results)
    any_results = results[models[0]]
    print(f"\n{name}: {any_results['windows']} validation windows of {any_results['window_size']} steps")
    columns = models + ["training", "validation"]
    print(f"{'':34s}" + "".join(f"{c:>19s}" for c in columns))
    print(f"{'epochs in the budget':34s}" + "".join(f"{trained.get(m, '-'):>19s}" for m in models))
    bits = {m: r["prediction"]["model"]["bits_per_step"] for m, r in results.items()}
    print(f"{'bits per step (validation)':34s}" + "".join(f"{bits[m]:>19.3f}" for m in models))
    print(f"{'  against the 5-gram':34s}" + "".join(
        f"{bits[m] / r['prediction']['ngram']['bits_per_step']:>19.3f}" for m, r in results.items()))
    for label, key, form in ROWS:
        values = [r["music"]["generated"][key] for r in results.values()]
        values += [any_results["music"][side][key] for side in ["training", "validation"]]
        print(f"{label:34s}" + "".join(f"{'-' if v is None else form.format(v):>19s}" for v in values))
    return bits


def check_targets(bits, results):
    """Print each target of issue 18 and whether this folder meets it."""
    tuned = [m for m in results if m.startswith("fine-tuned")]
    best = min(tuned, key=lambda m: bits[m])
    folder = results[best]["music"]
    lines = [(f"{best}: bits per step below the shipped model's ({bits[best]:.3f} against {bits['shipped']:.3f})",
              bits[best] < bits["shipped"])]
    if "scratch" in bits:
        lines.insert(0, (f"{best}: bits per step at most {TARGET_BITS_RATIO} of scratch's "
                         f"({bits[best] / bits['scratch']:.3f})", bits[best] <= TARGET_BITS_RATIO * bits["scratch"]))
    for model, r in results.items():
        generated = r["music"]["generated"]
        held_ok = generated["melodies_with_a_4_bar_note"] <= folder["training"]["melodies_with_a_4_bar_note"]
        span = generated["mean_pitch_span_per_melody"] / folder["training"]["mean_pitch_span_per_melody"]
        scale = generated["in_scale_share"] / folder["training"]["in_scale_share"]
        copied = generated["copied_4_bars"] / max(folder["validation"]["copied_4_bars"], 1e-9)
        lines += [(f"{model}: melodies with a 4-bar note no more than the folder's tunes", held_ok),
                  (f"{model}: pitch span within 10% of the tunes' ({span:.2f}x)", abs(span - 1) <= TARGET_WITHIN),
                  (f"{model}: in-scale share within 10% of the tunes' ({scale:.2f}x)", abs(scale - 1) <= TARGET_WITHIN),
                  (f"{model}: 4-bar segments copied at most {TARGET_COPIED}x the validation tunes' ({copied:.2f}x)",
                   copied <= TARGET_COPIED)]
    for text, met in lines:
        print(f"  {'meets' if met else 'MISSES'}: {text}")


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isdir(SHARED):
        sys.exit(f"error: {SHARED} is not here; this benchmark reads the collections of ../shared/data")
    tmp = tempfile.mkdtemp(prefix="small_folder-")
    env = dict(os.environ, MIDI_GENERATOR_CACHE=os.path.join(tmp, "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    before = yardstick.measure_yardstick()  # this machine, now, and again at the end: times are relative to it
    print(yardstick.describe_yardstick(before))
    start = time.perf_counter()
    try:
        for name in args.folders:
            data_dir = link_files(os.path.join(SHARED, name), os.path.join(tmp, name), args.files)
            folder_flags = FOLDERS[name] + ["--max_hold", str(args.max_hold)]
            data_flags = ["--data_dir", data_dir] + folder_flags + ["--num_epochs", "1000"]
            print(f"\n== {name}: the first {args.files} files, {' '.join(folder_flags)}; "
                  f"{args.budget:.0f} s of training a model")
            runs = {} if args.skip_scratch else {"scratch": data_flags + RECOMMENDED}
            for rate in args.learning_rates:
                runs[f"fine-tuned {rate:g}"] = data_flags + ["--init_from", SHIPPED, "--learning_rate", str(rate)]
            results, trained = {}, {}
            for model, flags in runs.items():
                experiment_dir = os.path.join(tmp, f"{name}-{model.replace(' ', '-')}")
                seconds, _ = run(["train.py", "--experiment_dir", experiment_dir] + flags, env, budget=args.budget)
                trained[model] = epochs_of(experiment_dir)
                print(f"  {model}: trained {seconds:.0f} s, {trained[model]}")
                results[model] = measure(experiment_dir, args, env)
            like = os.path.join(tmp, f"{name}-{next(iter(runs)).replace(' ', '-')}")  # every model has its split
            shipped_dir = as_is(os.path.join(tmp, f"{name}-shipped"), like)
            results = {"shipped": measure(shipped_dir, args, env), **results}
            bits = print_table(name, results, trained)
            check_targets(bits, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    minutes = (time.perf_counter() - start) / 60
    print(f"\nThe whole benchmark took {minutes:.0f} minutes on {os.cpu_count()} cores; at its start and end the")
    print(yardstick.describe_yardstick(before) + f", and {yardstick.measure_yardstick():.2f} s at the end")


if __name__ == "__main__":
    main()
