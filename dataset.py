"""The training data as Keras sees it: batches of one-hot windows cut from flat step arrays."""
import math

import keras
import numpy as np

import utils


class WindowDataset(keras.utils.PyDataset):
    """Batches (x, y): x (batch, window_size, num_classes) float32 one-hot, y (batch,) next step.

    Only the melodies (1 byte per step) and the window starts are held; each batch is cut and
    one-hot encoded when Keras asks for it. With shuffle, every window is seen exactly once per
    epoch, in a new order each epoch.
    """

    def __init__(self, steps, starts, window_size, batch_size, num_classes, shuffle=False, transpose=0,
                 encoding="roll", seed=0, **kwargs):
        super().__init__(**kwargs)
        self.steps, self.starts = steps, starts
        self.window_size, self.batch_size = window_size, batch_size
        self.one_hot = np.eye(num_classes, dtype="float32")  # one_hot[x] looks up every step at once
        self.shuffle, self.transpose, self.encoding = shuffle, transpose, encoding
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(starts) if shuffle else starts

    def __len__(self):
        return math.ceil(len(self.starts) / self.batch_size)

    def __getitem__(self, index):
        starts = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x, y = utils.windows_at(self.steps, starts, self.window_size)
        if self.transpose:
            x, y = utils.transpose_windows(x, y, self.transpose, self.rng, self.encoding)
        return self.one_hot[x], y

    def on_epoch_end(self):
        if self.shuffle:
            self.order = self.rng.permutation(self.starts)
