"""A yardstick for this machine: the time of a fixed piece of training work, measured in the same run
as a benchmark's other figures, so that a slow machine can be told from a slow program.

    python benchmarks/yardstick.py      # about 10 seconds on 2 cores, TensorFlow's start included

The work: STEPS training steps of an LSTM of 128 units (README's recommended size) on random
windows of 48 steps, 64 windows a batch, each step 400 numbers wide (about what the recommended
model reads), after one step that is not timed (it compiles the graph). A benchmark prints its
times beside it, and as multiples of it.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project's modules

import numpy as np  # noqa: E402

import tensorflow_start  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up notes quiet

STEPS = 20
SHAPE = (64, 48, 400)  # (batch, window_size, features)
UNITS = 128
CLASSES = 130


def measure_yardstick(steps=STEPS):
    """Seconds that `steps` training steps of the yardstick's LSTM take here, now."""
    keras = tensorflow_start.import_keras()
    rng = np.random.default_rng(0)
    x = rng.random(SHAPE, dtype=np.float32)
    y = rng.integers(0, CLASSES, SHAPE[0])
    model = keras.Sequential([keras.Input(SHAPE[1:]), keras.layers.LSTM(UNITS),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)  # compiles the training step: not part of the work
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return time.perf_counter() - start


def describe_yardstick(seconds, steps=STEPS):
    """One line that says what the yardstick measured and how long it took."""
    return (f"yardstick: {steps} training steps of an LSTM of {UNITS} units on batches of {SHAPE[0]} "
            f"windows of {SHAPE[1]} steps took {seconds:.2f} s ({1000 * seconds / steps:.0f} ms a step) "
            f"on {os.cpu_count()} CPU cores")


if __name__ == "__main__":
    print(describe_yardstick(measure_yardstick()))
