"""A collection 16 and 64 times the bundled tunes: peak memory of loading and training start, parsing
rate over --n_jobs processes, and how long the melody cache of the largest folder takes to load.

    python benchmarks/scale.py                                     # 1x, 16x, 64x data/midi (5 to 10 minutes)
    python benchmarks/scale.py --multiples 1 4 --jobs 1 2 --repeats 1 --parse_passes 1  # a smoke run (about 1 minute)

The large collections are copies of the bundled tunes written into a temporary folder, each made
different by a text event ("copy k") added to its first track, so that every copy has its own sha1
and is cached, loaded and windowed as a file of its own; never the network. Parsing 66,000 files
would take most of an hour on two cores, so the benchmark writes each folder's melody cache itself
from one parse of the originals (a copy parses to its original's melodies; checked on a sample of
copies) and measures the parsing rate on the originals.

Each folder is measured in a subprocess of its own, so that its peak resident memory is its alone:
load the melodies through the cache (melody_cache.load_melodies), split, make the windows as train.py does
(train.files_to_windows) and the shuffled training dataset (utils.make_dataset), and pull --batches
batches from it.
Targets: peak memory at the largest multiple at most 1.5 times the smallest's; parsing at close to
n_jobs times the one-process rate (as far as the machine's cores allow); the cache of the largest
folder loaded in seconds.
"""
import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this script lives in benchmarks/; the project's modules live one folder up
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import melody_cache  # noqa: E402 -- needs the path above
import midi_notes  # noqa: E402
import step_encoding  # noqa: E402
import train  # noqa: E402
import utils  # noqa: E402
import yardstick  # noqa: E402

RESULT = "RESULT "  # a subprocess prints its figures on one line starting with this


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # data
    parser.add_argument("--data_dir", default=os.path.join(ROOT, "data", "midi"), help="folder of MIDI files to copy (default: the bundled data/midi)")
    parser.add_argument("--multiples", type=int, nargs="+", default=[1, 16, 64], help="copies of the data per folder; the first is the reference (default: %(default)s)")
    parser.add_argument("--window_size", type=int, default=20, help="window, in sixteenth notes (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=32, help="windows per batch (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=20, help="batches pulled from the training dataset (default: %(default)s)")
    # parsing
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4], help="--n_jobs values whose parsing rate is measured; the first is the reference (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="parsing runs per --n_jobs value, interleaved; the best counts (default: %(default)s)")
    parser.add_argument("--parse_passes", type=int, default=4, help="times each parsing run goes through the files, so the pool's start weighs on it as on a collection this many times larger (default: %(default)s)")
    parser.add_argument("--max_files_in_ram", type=int, default=25, help="files parsed and held at once (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the shuffle and the sample of copies checked (default: %(default)s)")
    # one folder, in a subprocess (set by this script itself)
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------
# One folder, in its own process: load, window, and pull the first batches


def run_folder(args):
    import tensorflow as tf  # imported first: the base memory every run pays

    tf.constant(0)  # start TensorFlow's runtime
    base_mib = peak_rss_mib()
    start = time.perf_counter()
    files = melody_cache.load_melodies(args.run, quiet=True)
    load_s = time.perf_counter() - start
    num_files = len(files)
    train_files, validation_files = utils.split_files(files, args.window_size, args.seed)
    del files  # as in train.py, only the split files are kept
    config = {"encoding": "roll", "window_size": args.window_size}
    (steps, runs), _ = train.files_to_windows(train_files, validation_files, config)
    dataset = utils.make_dataset(steps, runs, args.window_size, args.batch_size, step_encoding.NUM_CLASSES["roll"],
                                 shuffle=True, seed=args.seed)
    for _ in dataset.take(args.batches):
        pass
    first_batches_s = time.perf_counter() - start
    peak_mib = peak_rss_mib()
    start = time.perf_counter()  # the cache alone, once the memory is measured
    melody_cache.load_cache(melody_cache.cache_path(args.run))
    cache_s = time.perf_counter() - start
    print(RESULT + json.dumps({"files": num_files, "windows": int(runs[:, 1].sum()), "cache_s": cache_s,
                               "load_s": load_s, "first_batches_s": first_batches_s, "base_mib": base_mib,
                               "peak_mib": peak_mib}), flush=True)


def measure_folder(args, folder, cache_dir):
    """Run one folder in a fresh Python; returns its figures, or None if it failed."""
    command = [sys.executable, os.path.abspath(__file__), "--run", folder, "--window_size", str(args.window_size),
               "--batch_size", str(args.batch_size), "--batches", str(args.batches), "--seed", str(args.seed)]
    env = dict(os.environ, MIDI_GENERATOR_CACHE=cache_dir, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    print(f"  {folder} failed (exit status {done.returncode}):\n    " + "\n    ".join(done.stderr.splitlines()[-5:]))
    return None


# ----------------------------------------------------------------------------
# Copies of a collection, and their melody cache


def mark_copy(data, k):
    """MIDI file bytes with a text event "copy k" at the start of the first track: the same music."""
    at = data.index(b"MTrk") + 8  # after the chunk's name and its 4-byte length
    text = f"copy {k}".encode()
    event = b"\x00\xff\x01" + bytes([len(text)]) + text  # delta time 0, meta event 1 (text)
    length = int.from_bytes(data[at - 4:at], "big") + len(event)
    return data[:at - 4] + length.to_bytes(4, "big") + event + data[at:]


def write_copies(paths, data_dir, folder, multiple, parsed):
    """multiple copies of every file under folder/copyKK/; returns {sha1: parsed result} for the cache."""
    entries = {}
    for path, result in zip(paths, parsed):
        with open(path, "rb") as f:
            data = f.read()
        relative = os.path.relpath(path, data_dir)
        for k in range(multiple):
            copy = mark_copy(data, k)
            target = os.path.join(folder, f"copy{k:02d}", relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(copy)
            entries[hashlib.sha1(copy).hexdigest()] = result
    return entries


def check_copies(folder, entries, count, seed):
    """Parse a sample of copies for real: each must give what the cache written for it holds."""
    paths = random.Random(seed).sample(melody_cache.find_midi_files(folder), count)
    for path in paths:
        melodies, info = midi_notes.midi_to_notes(path)
        cached_melodies, cached_info = entries[melody_cache.hash_file(path)]
        same = info == cached_info and len(melodies) == len(cached_melodies) and all(
            np.array_equal(a, b) for a, b in zip(melodies, cached_melodies))
        if not same:
            sys.exit(f"error: {path} does not parse to its original's melodies; the benchmark cannot stand in for parsing")
    return len(paths)


# ----------------------------------------------------------------------------
# The benchmark


def measure_parsing(args, paths):
    """Files parsed per second at each --jobs value, the best of --repeats interleaved runs, each going
    --parse_passes times through the files; and the result of one pass."""
    rates = {}
    for _ in range(args.repeats):
        for n_jobs in args.jobs:
            start = time.perf_counter()
            parsed = melody_cache.parse_files(paths * args.parse_passes, n_jobs, args.max_files_in_ram, quiet=True)
            rates[n_jobs] = max(rates.get(n_jobs, 0), len(parsed) / (time.perf_counter() - start))
    return rates, parsed[:len(paths)]


def main(argv=None):
    args = parse_args(argv)
    if args.run:
        return run_folder(args)
    if not melody_cache.find_midi_files(args.data_dir):
        sys.exit(f"error: no .mid or .midi file under --data_dir {args.data_dir}")
    for name in ["window_size", "batch_size", "batches", "repeats", "parse_passes", "max_files_in_ram"]:
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name} must be at least 1, got {getattr(args, name)}")
    if min(args.multiples) < 1 or min(args.jobs) < 1:
        sys.exit("error: --multiples and --jobs must all be at least 1")
    data_dir = os.path.abspath(args.data_dir)
    paths = melody_cache.find_midi_files(data_dir)
    print(f"{len(paths)} MIDI files under {data_dir}; {os.cpu_count()} CPU cores; window {args.window_size}, "
          f"batch {args.batch_size}, {args.batches} batches pulled")
    print(yardstick.describe_yardstick(yardstick.measure_yardstick()))  # this machine, now: times are relative to it

    print(f"\nParsing {len(paths)} files {args.parse_passes} times over ({args.parse_passes * len(paths)} files a run) "
          f"with melody_cache.parse_files, the pool's start included, best of {args.repeats}:")
    rates, parsed = measure_parsing(args, paths)
    for n_jobs in args.jobs:
        print(f"  --n_jobs {n_jobs}: {rates[n_jobs]:6.0f} files/s, {rates[n_jobs] / rates[args.jobs[0]]:.2f}x "
              f"the rate of --n_jobs {args.jobs[0]}")

    tmp = tempfile.mkdtemp(prefix="scale-")
    os.environ["MIDI_GENERATOR_CACHE"] = cache_dir = os.path.join(tmp, "cache")  # never the user's cache
    results = {}
    try:
        print(f"\n{'multiple':>8} {'files':>8} {'train windows':>14} {'cache load':>11} {'load':>8} "
              f"{'to batches':>11} {'peak RSS':>10} {'above base':>11}")
        for multiple in args.multiples:
            folder = os.path.join(tmp, f"data{multiple}x")
            entries = write_copies(paths, data_dir, folder, multiple, parsed)
            melody_cache.save_cache(melody_cache.cache_path(folder), entries)
            checked = check_copies(folder, entries, min(20, len(entries)), args.seed)
            result = measure_folder(args, folder, cache_dir)
            if result:
                results[multiple] = result
                print(f"{multiple:>7}x {result['files']:>8,} {result['windows']:>14,} {result['cache_s']:>9.2f} s "
                      f"{result['load_s']:>6.2f} s {result['first_batches_s']:>9.2f} s {result['peak_mib']:>6,.0f} MiB "
                      f"{result['peak_mib'] - result['base_mib']:>7,.0f} MiB   ({checked} copies parsed and checked)",
                      flush=True)
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n'cache load': melody_cache.load_cache alone; 'load': melody_cache.load_melodies (hashing every file, then the cache);")
    print("'to batches': from the start of loading to the last batch pulled; 'above base': peak RSS minus the peak")
    print("after importing TensorFlow and starting it.")
    print("\nTargets")
    low, high = args.multiples[0], args.multiples[-1]
    if low in results and high in results and high != low:
        ratio = results[high]["peak_mib"] / results[low]["peak_mib"]
        print(f"  {'PASS' if ratio <= 1.5 else 'FAIL'}  peak RSS at {high}x is {ratio:.2f} times the {low}x figure "
              f"(needs <= 1.5)")
    for n_jobs in args.jobs[1:]:
        print(f"  ----  --n_jobs {n_jobs} parses at {rates[n_jobs] / rates[args.jobs[0]]:.2f}x the rate of "
              f"--n_jobs {args.jobs[0]} (at most min({n_jobs}, {os.cpu_count()} cores) on an idle machine)")
    if high in results:
        print(f"  ----  the cache of {results[high]['files']:,} files loads in {results[high]['cache_s']:.2f} s, "
              f"the whole folder (hashing every file too) in {results[high]['load_s']:.2f} s")


if __name__ == "__main__":
    main()
