"""The stall at the end of every epoch: deleting a tf.data iterator with autotuning on and off.

    python benchmarks/epoch_end_stall.py                            # both, 60 s of paced reading each (about 3 minutes)
    python benchmarks/epoch_end_stall.py --seconds 10                # a quick smoke run

Keras makes a new iterator over the training data every epoch and deletes the old one; at the end
of fit it deletes the last. With autotuning (tf.data's default) deleting it waits for the tuning
thread to wake, which sleeps longer the longer the iterator has run. train.py turns autotuning off;
this prints, for each setting, the windows per second of a pass read as fast as possible, and the
seconds that deleting an iterator takes after --seconds of reading at a training pace.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this script lives in benchmarks/; the project's modules live one folder up
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import melody_cache  # noqa: E402 -- needs the path above
import step_encoding  # noqa: E402
import tensorflow_start  # noqa: E402
import utils  # noqa: E402
import yardstick  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=os.path.join(ROOT, "data", "midi"), help="MIDI files (default: the bundled tunes)")
    parser.add_argument("--seconds", type=float, default=60, help="how long each iterator is read at a training pace before it is deleted (default: %(default)s)")
    parser.add_argument("--passes", type=int, default=3, help="passes read as fast as possible with each setting, alternately (default: %(default)s)")
    parser.add_argument("--step_ms", type=float, default=6, help="pause after each batch, as a training step takes, in milliseconds (default: %(default)s)")
    return parser.parse_args(argv)


def make_training_data(steps, starts, autotune):
    """train.py's training dataset (default flags), with tf.data autotuning on or off."""
    import tensorflow as tf
    data = utils.make_dataset(steps, starts, 20, 32, step_encoding.NUM_CLASSES["roll"], shuffle=True)
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return data.with_options(options)


def main(argv=None):
    args = parse_args(argv)
    files = melody_cache.load_melodies(args.data_dir, quiet=True)
    train_files, _ = utils.split_files(files, 20)
    steps, starts = utils.make_windows(utils.files_to_steps(train_files), 20)
    tensorflow_start.import_keras()
    print(f"{len(starts)} training windows from {len(train_files)} files under {args.data_dir}")
    print(yardstick.describe_yardstick(yardstick.measure_yardstick()))  # this machine, now: times are relative to it
    datasets = {autotune: make_training_data(steps, starts, autotune) for autotune in [True, False]}
    speeds = {True: 0, False: 0}
    for _ in range(args.passes):  # alternately, best of each: these machines are noisy
        for autotune, data in datasets.items():
            began = time.time()
            for _ in data:
                pass
            speeds[autotune] = max(speeds[autotune], len(starts) / (time.time() - began))
    stalls = {}
    for autotune, data in datasets.items():
        iterator, began, batches = iter(data), time.time(), 0
        while time.time() - began < args.seconds and next(iterator, None) is not None:
            batches += 1
            time.sleep(args.step_ms / 1000)
        began = time.time()
        del iterator
        stalls[autotune] = time.time() - began
        print(f"autotune {'on ' if autotune else 'off'}: {speeds[autotune]:8.0f} windows/s read as fast as possible "
              f"(best of {args.passes}); after {batches} batches at a training pace, deleting the iterator took "
              f"{stalls[autotune]:.2f} s")
    print(f"reading speed, autotuning off / on: {speeds[False] / speeds[True]:.2f}")
    print(f"stall with autotuning on minus off: {stalls[True] - stalls[False]:.2f} s per epoch")


if __name__ == "__main__":
    main()
