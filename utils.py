"""Melodies -> windows, and the tf.data pipeline that makes training batches of them: the file
split, the windows, what a --lookback or --register model reads beside each window, and the batches.

TensorFlow is imported only inside the functions that need it, so worker processes that parse
MIDI, and scripts' --help, stay light.
"""
import math

import numpy as np

import midi_notes
import step_encoding

POSITION_BITS = 8  # a lookback model reads each step's index in its melody modulo 2**8 steps (16 bars), in
# binary: the low 4 bits are its place in the bar, the high 4 its bar's place in a form of up to 16 bars
# A lookback model that reads meters (config["meters"], experiments trained since meters are read) reads
# instead, by its melody's own meter, the step's place in its bar (BAR_BITS binary digits), its bar's place
# in a form of --form_bars bars (4 to 6 digits) and the meter, one-hot among the meters it was trained in
BAR_BITS = 6  # bars of up to 64 sixteenth notes
FORM_BITS = 6  # a position_code holds the bar's number in its melody up to 63, then 48 to 63 again
FORM_BARS = [16, 32, 64]  # --form_bars: past the form's end the bars count its last 16 again
DURATION_BITS = 6  # --durations: how long the current note or rest has lasted, 0 to 63 steps (more reads 63)


# ----------------------------------------------------------------------------
# Melodies -> windows, and the train/validation split


def split_files(files, window_size, seed=0, validation_fraction=0.2):
    """Files with at least one window -> (train, validation) lists, 80/20 by file, seeded.

    Byte-identical files (same sha1) always land on the same side.
    """
    usable = [f for f in files if any(len(m) and m[-1, 1] > window_size for m in f["melodies"])]
    shas = sorted({f["sha1"] for f in usable})
    if len(shas) < 2:
        return usable, []
    order = np.random.default_rng(seed).permutation(len(shas))
    n_val = min(len(shas) - 1, max(1, round(validation_fraction * len(shas))))
    val_shas = {shas[i] for i in order[:n_val]}
    return [f for f in usable if f["sha1"] not in val_shas], [f for f in usable if f["sha1"] in val_shas]


def files_to_steps(files, encoding="roll", endings=False):
    """All melodies of these files as step arrays, in file order; with endings, each followed by the
    end class (step_encoding.end_class), the target after its last step."""
    ending = [step_encoding.end_class(encoding)] if endings else []
    return [np.append(step_encoding.notes_to_steps(m, encoding), np.uint8(ending)).astype(np.uint8)
            for f in files for m in f["melodies"] if len(m)]


def files_to_meters(files):
    """The meter of each melody of files_to_steps: [numerator, denominator, offset], in the same order."""
    return [meter for f in files for m, meter in zip(f["melodies"], f["meters"]) if len(m)]


def position_code(index, bar, meter_id):
    """Where a step stands, as one integer: index (steps since the bar line before the melody's first
    note), bar (steps in its bar) and meter_id (numpy arrays) -> its place in the bar (BAR_BITS
    digits), its bar's number in the melody (FORM_BITS digits: 0 to 63, then 48 to 63 again, so that
    a 16-bar form keeps counting) and the meter, as lookback_features reads them."""
    number = index // bar
    return index % bar + 2 ** BAR_BITS * np.minimum(number, 48 + number % 16) + 2 ** (BAR_BITS + FORM_BITS) * meter_id


def meter_positions(meters, names):
    """(bar, meter_id, offset) of each melody, from files_to_meters and the meter names a model reads."""
    return [(midi_notes.bar_steps(meter), names.index(midi_notes.meter_name(meter)), meter[2]) for meter in meters]


def make_windows(melodies, window_size, history=0, meters=None):
    """Melodies -> (steps, starts): one flat uint8 array and the start of every window in it.

    Window k is steps[starts[k] : starts[k] + window_size] and its target, the step right after
    it, is steps[starts[k] + window_size]. No window crosses from one melody into the next.
    history > 0 (models with --lookback): each melody is preceded by at least `history` steps of
    rest (the silence before a tune), and melodies start 2**POSITION_BITS steps apart, so the steps a
    window's lookback reaches are always at hand, and a step's index in `steps` modulo 2**POSITION_BITS
    is its index in its melody modulo 16 bars. With meters (meter_positions, one per melody):
    (steps, starts, positions), positions (len(steps),) int32: the position_code of every step.
    """
    steps, runs, *positions = make_window_runs(melodies, window_size, history, meters)
    starts = np.concatenate([np.arange(first, first + count) for first, count in runs]
                            ) if len(runs) else np.zeros(0, np.int64)
    return (steps, starts, *positions)


def make_window_runs(melodies, window_size, history=0, meters=None):
    """As make_windows, but the windows of each melody as one run: (steps, runs), or with meters
    (steps, runs, positions).

    runs: (melodies, 2) int64 [first start, window count]; a melody's windows start at consecutive
    steps. 16 bytes a melody, where make_windows' starts take 8 bytes a window (200 MB for the 26
    million windows of 64 times the bundled tunes): what training holds, through make_dataset.
    """
    kept = [i for i, m in enumerate(melodies) if len(m) > window_size]
    melodies = [melodies[i] for i in kept]
    lengths = np.array([len(m) for m in melodies], dtype=np.int64)
    period = 2 ** POSITION_BITS
    before = -(-history // period) * period  # rest, in whole periods
    if history:
        melodies = [np.concatenate([np.zeros(before, np.uint8), m, np.zeros(-len(m) % period, np.uint8)])
                    for m in melodies]
    blocks = np.array([len(m) for m in melodies], dtype=np.int64)
    offsets = np.cumsum(blocks) - blocks + before  # where each melody's first window starts
    steps = np.concatenate(melodies) if melodies else np.zeros(0, np.uint8)
    runs = np.stack([offsets, lengths - window_size], axis=1)
    if meters is None:
        return steps, runs
    positions = np.zeros(len(steps), np.int32)
    for i, first, block in zip(kept, offsets, blocks):
        bar, meter_id, offset = meters[i]
        index = np.arange(-before, block - before) + offset  # from the bar line before the first note
        positions[first - before:first - before + block] = position_code(index, bar, meter_id)
    return steps, runs, positions
def windows_at(steps, starts, window_size, history=0):
    """(x, y) for the windows at these starts: x (n, history + window_size) classes, the `history`
    steps before each window included, and y (n,) the step right after the window."""
    x = steps[starts[:, None] + np.arange(-history, window_size)]
    return x, steps[starts + window_size]


def event_begins(steps, before, encoding="roll"):
    """Whether a note or rest begins at each step, given the step before: roll, where the class
    changes; onset, where a pitch is struck (class 2 and up) or a rest follows a note (a hold, 1,
    goes on). numpy arrays or TensorFlow tensors alike."""
    if encoding == "roll":
        return steps != before
    return (steps >= 2) | ((steps == 0) & (before != 0))


def step_durations(steps, encoding="roll"):
    """(len(steps),) int64: steps since the current note or rest began (event_begins), 0 on its first step."""
    steps = np.asarray(steps, np.int64)
    index = np.arange(len(steps))
    begins = event_begins(steps, np.concatenate([[-1], steps[:-1]]), encoding)
    return index - np.maximum.accumulate(np.where(begins, index, 0))


def repeat_runs(steps, lags):
    """(len(steps), K) int64: for each lag, how many steps in a row, up to and including each one,
    equal the step that lag before (0 where it differs; a step less than `lag` in never does)."""
    steps = np.asarray(steps, np.int64)
    index = np.arange(len(steps))
    runs = np.zeros((len(steps), len(lags)), np.int64)
    for k, lag in enumerate(lags):
        same = np.zeros(len(steps), bool)
        same[lag:] = steps[lag:] == steps[:-lag]
        runs[:, k] = index - np.maximum.accumulate(np.where(same, -1, index))
    return runs


def phrases_repeated(runs, lags):
    """repeat_runs -> (len, K) bool: whether the last `lag` steps up to each step repeat the `lag`
    steps before them, i.e. a phrase a lookback long has just been played twice in a row (and a
    third copy now goes on). numpy arrays or TensorFlow tensors alike."""
    return runs >= np.asarray(lags)


def lookback_features(current, lagged, position, num_classes, meters=0, duration=None, repeated=None, form_bars=16):
    """What a --lookback model reads at each step, in TensorFlow ops.

    current: (...) classes; lagged: (..., K) the classes `lookback` steps before each; position:
    (...) each step's index in its melody, or with meters (the number of meters the model reads)
    its position_code. Returns (..., num_classes + K + position_width(meters, durations, form_bars),
    and K more with repeated) float32: the step
    one-hot, whether it repeats the step each lookback before (Magenta's Lookback RNN 'repeating'
    flags), and its position: POSITION_BITS binary digits (Magenta's counter of the step in the bar,
    here extended to the bar in a 16-bar form), or with meters its place in its own bar and its
    bar's in a form of form_bars bars (past its end, counting its last 16 bars again), in binary,
    and its meter, one-hot. duration (--durations): (...) how long the
    step's note or rest has lasted, in binary; repeated (--repeats): (..., K) phrases_repeated.
    """
    import tensorflow as tf

    position = tf.cast(position, tf.int32)
    if meters:
        number = tf.bitwise.bitwise_and(tf.bitwise.right_shift(position, BAR_BITS), 2 ** FORM_BITS - 1)
        form = tf.where(number < form_bars, number, form_bars - 16 + number % 16)
        digits = BAR_BITS + int(math.log2(form_bars))
        code = position % 2 ** BAR_BITS + 2 ** BAR_BITS * form
    else:
        digits, code = POSITION_BITS, position
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(code[..., None], tf.range(digits)), 1)
    features = [tf.one_hot(current, num_classes), tf.cast(current[..., None] == lagged, tf.float32),
                tf.cast(bits, tf.float32)]
    if meters:
        features.append(tf.one_hot(tf.bitwise.right_shift(position, BAR_BITS + FORM_BITS), meters))
    if duration is not None:
        lasted = tf.minimum(tf.cast(duration, tf.int32), 2 ** DURATION_BITS - 1)[..., None]
        features.append(tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(lasted, tf.range(DURATION_BITS)), 1),
                                tf.float32))
    if repeated is not None:
        features.append(tf.cast(repeated, tf.float32))
    return tf.concat(features, axis=-1)


def position_width(meters=0, durations=False, form_bars=16):
    """Features of a step's position (and with durations, of its note's length) that lookback_features gives."""
    return (BAR_BITS + int(math.log2(form_bars)) + meters if meters else POSITION_BITS) + DURATION_BITS * durations


def model_meters(config):
    """The number of meters an experiment's model reads: those it was trained in, for a lookback
    model trained since meters are read; 0 for the others."""
    return len(config.get("meters") or []) if config.get("lookback") else 0


def register_features(recent, num_classes, first_pitch):
    """What a --register model weighs each class of the next step by, in TensorFlow ops.

    recent: (..., R) classes, the last R steps; first_pitch: the class of MIDI pitch 0 (classes
    below are rest and hold, the one above the 128 pitches the end). Returns (..., 2, num_classes)
    float32: how far each pitch lies beyond the lowest or highest note of those steps, in octaves (0
    within them, for rest, hold and end, and when no note sounded), and that distance times their
    span in octaves. The model learns how much a note beyond the range the melody keeps costs, and that it costs more the
    wider the range already is.
    """
    import tensorflow as tf

    recent = tf.cast(recent, tf.int32)
    is_note = (recent >= first_pitch) & (recent < first_pitch + 128)
    low = tf.reduce_min(tf.where(is_note, recent, num_classes), axis=-1, keepdims=True)  # (..., 1)
    high = tf.reduce_max(tf.where(is_note, recent, -1), axis=-1, keepdims=True)
    classes = tf.range(num_classes)  # (num_classes,)
    beyond = tf.maximum(tf.maximum(low - classes, classes - high), 0)  # semitones
    beyond = tf.where((classes >= first_pitch) & (classes < first_pitch + 128) & (high >= 0), beyond, 0)
    octaves = tf.cast(beyond, tf.float32) / 12
    span = tf.cast(tf.maximum(high - low, 0), tf.float32) / 12
    return tf.stack([octaves, octaves * span], axis=-2)


def history_steps(lookback=(), register=0):
    """Steps before each window that a model reads: its longest lookback, or its register."""
    return max([*lookback, register])


def model_history(config):
    """history_steps of an experiment's model, from its config."""
    return history_steps(config.get("lookback", []), config.get("register", 0))


def make_dataset(steps, starts, window_size, batch_size, num_classes, shuffle=False, transpose=0,
                 encoding="roll", seed=0, lookback=(), register=0, positions=None, meters=0, form_bars=16,
                 durations=False, repeats=False, targets=0, stride=1, last_only=False):
    """The windows as Keras trains on them: a tf.data pipeline of (x, y) batches.

    x: (batch, window_size, num_classes) float32 one-hot; y: (batch,) int32, the step right after.
    starts: (n,) window starts from make_windows, or (melodies, 2) runs from make_window_runs.
    Only the flat steps (1 byte each) and the runs are held; each batch is cut and one-hot
    encoded in TensorFlow ops, in parallel with training, so no Python runs per batch. With
    shuffle, every window is seen exactly once per epoch, in a new order each epoch: a permutation
    computed index by index (tf.random.experimental.index_shuffle), never held. transpose > 0
    shifts each window and its target by a random number of semitones in [-transpose, transpose],
    only as far as keeps all its pitches in 0..127.

    lookback (steps, from make_windows with a history of model_history steps): x is instead a dict of
    "steps": (batch, window_size, num_classes + K + position_width(meters)) lookback_features, and
    "lookback": (batch, K, num_classes) one-hot, the step each lookback before the target, which
    the model may copy; with register (steps, with lookback), also "register": (batch, 2,
    num_classes) register_features of the last `register` steps before the target. positions (with
    lookback, from make_windows with meters): the position_code of every step, for a model that reads
    `meters` meters and bars in a form of form_bars. durations (with lookback): the steps also say how long their note or rest has
    lasted (step_durations of the whole steps array, computed once). repeats (with lookback): the
    steps also say, for each lookback, whether a phrase that long has just been played twice in a row
    (phrases_repeated of the whole steps array, computed once).

    targets > 0 (train.py --targets, for train.make_trainer): the step after each of the window's last
    `targets` steps is a target, y (batch, targets), with "lookback" (batch, targets, K, num_classes)
    and "register" (batch, targets, 2, num_classes) given for each. stride: a melody's windows start
    this many steps apart (its last window still ends at its last step). last_only: batches of (x, y,
    weights), weights (batch, targets) counting only the step after the window, `targets` times so
    that the mean over all targets is its loss: the validation loss of a model trained without targets.
    """
    import tensorflow as tf

    lasted = tf.constant(np.minimum(step_durations(steps, encoding), 255).astype(np.uint8)) if durations else None
    repeated = tf.constant(phrases_repeated(repeat_runs(steps, lookback), lookback)) if repeats else None
    steps = tf.constant(steps)
    positions = None if positions is None else tf.constant(positions.astype(np.int32))
    history = history_steps(lookback, register)
    offsets = tf.range(-history, window_size + 1, dtype=tf.int64)  # history, the window and its target
    first_pitch = step_encoding.FIRST_PITCH[encoding]

    def transpose_batch(xy, random_seed):
        is_note = (xy >= first_pitch) & (xy < first_pitch + 128)  # not rest, hold or the end
        lowest = tf.reduce_min(tf.where(is_note, xy, 255), axis=1) - first_pitch
        highest = tf.reduce_max(tf.where(is_note, xy, -1), axis=1) - first_pitch
        has_notes = tf.reduce_any(is_note, axis=1)
        low = tf.where(has_notes, tf.maximum(-transpose, -lowest), 0)
        high = tf.where(has_notes, tf.minimum(transpose, 127 - highest), 0)
        uniform = tf.random.stateless_uniform(tf.shape(low), seed=tf.stack([random_seed, 0]))
        shift = low + tf.cast(uniform * tf.cast(high - low + 1, tf.float32), tf.int32)
        return tf.where(is_note, xy + shift[:, None], xy)

    def cut_batch(batch_starts, random_seed):
        xy = tf.cast(tf.gather(steps, batch_starts[:, None] + offsets), tf.int32)  # (batch, history + window_size + 1)
        if transpose:
            xy = transpose_batch(xy, random_seed)
        x, y = xy[:, history:-1], xy[:, -1]
        # where the step each target is: the one after the window, or after each of its last `targets` steps
        next_at = (tf.constant(history + window_size) if not targets
                   else history + 1 + tf.range(window_size - targets, window_size))
        if targets:
            y = tf.gather(xy, next_at, axis=1)  # (batch, targets)
        if not lookback:
            return weigh(tf.one_hot(x, num_classes), y)
        lags = tf.constant(lookback)
        lagged = tf.gather(xy, history + tf.range(window_size)[:, None] - lags, axis=1)  # (batch, window_size, K)
        at = batch_starts[:, None] + tf.range(window_size, dtype=tf.int64)  # (batch, window_size) where each step is
        position = at % 2 ** POSITION_BITS if positions is None else tf.gather(positions, at)
        candidates = tf.gather(xy, next_at[..., None] - lags, axis=1)  # (batch, K), or (batch, targets, K)
        duration = None if lasted is None else tf.gather(lasted, at)
        repeat = None if repeated is None else tf.gather(repeated, at)  # (batch, window_size, K)
        inputs = {"steps": lookback_features(x, lagged, position, num_classes, meters, duration, repeat, form_bars),
                  "lookback": tf.one_hot(candidates, num_classes)}
        if register:  # the `register` steps before each target: (batch, register), or (batch, targets, register)
            recent = tf.gather(xy, next_at[..., None] + tf.range(-register, 0), axis=1)
            inputs["register"] = register_features(recent, num_classes, first_pitch)
        return weigh(inputs, y)

    weights = tf.constant(np.eye(1, targets, targets - 1)[0] * targets if last_only else [], tf.float32)

    def weigh(inputs, y):
        return (inputs, y, tf.broadcast_to(weights, tf.shape(y))) if last_only else (inputs, y)

    starts = np.asarray(starts, np.int64)
    runs = starts if starts.ndim == 2 else np.stack([starts, np.ones_like(starts)], axis=1)  # runs of one window
    counts = -(-(runs[:, 1] - 1) // stride) + 1  # windows of each run, `stride` steps apart, and its last
    num_windows = int(counts.sum())
    run_firsts = tf.constant(runs[:, 0])  # (runs,) the start of each run's first window
    run_lasts = tf.constant(runs[:, 0] + runs[:, 1] - 1)  # (runs,) and of its last
    run_indices = tf.constant(np.cumsum(counts) - counts)  # (runs,) the number of its first among all windows
    # random seeds, new every pass over the data (epoch): one for its order, one per batch
    random_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def window_starts(indices, epoch_seed):
        """(batch,) window numbers -> their starts; with shuffle, through a permutation new each epoch."""
        if shuffle:
            indices = tf.random.experimental.index_shuffle(indices, tf.stack([epoch_seed, 0]),
                                                           tf.constant(num_windows - 1, tf.int64))
        run = tf.searchsorted(run_indices, indices, side="right") - 1
        return tf.minimum(tf.gather(run_firsts, run) + (indices - tf.gather(run_indices, run)) * stride,
                          tf.gather(run_lasts, run))

    def batch_starts(epoch_seed):
        return tf.data.Dataset.range(num_windows).batch(batch_size).map(lambda i: window_starts(i, epoch_seed))

    batches = random_seeds.take(1).flat_map(batch_starts)
    batches = batches.apply(tf.data.experimental.assert_cardinality(math.ceil(num_windows / batch_size)))
    return (tf.data.Dataset.zip(batches, random_seeds.skip(1))
            .map(cut_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
