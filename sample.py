"""Generate new melodies with a checkpoint of an experiment, its latest unless told otherwise.

    python sample.py --experiment_dir experiments/pretrained --wav  # the model that ships, with audio
    python sample.py --num_files 10                                # latest experiment, 10 files
    python sample.py --experiment_dir experiments/01 --temperature 0.8 --seed 1
    python sample.py --prime_file my_tune.mid --midi_instrument Flute --tempo 100
    python sample.py --continue_file my_opening.mid --num_files 5  # five ways to finish your tune
    python sample.py --meter 6/8                                   # jigs: seeds in 6/8, files written in it
"""
import argparse
import os
import sys
import time

import numpy as np
import pretty_midi

import checkpoints
import media
import melody_cache
import midi_notes
import safe_write
import scales
import step_encoding
import tensorflow_start
import utils

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up notes quiet
MIN_TUNE_BARS = 4  # a model trained with --endings cannot end a file sooner: shorter is not a tune


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # experiment
    parser.add_argument("--experiment_dir", default=None, help="experiment to sample from (default: the highest-numbered one in experiments/)")
    parser.add_argument("--checkpoint", default="latest", help="latest, best (lowest validation loss) or an epoch number (default: %(default)s)")
    parser.add_argument("--data_dir", default=None, help="folder holding the experiment's validation files, which seed the melodies (default: the experiment's --data_dir, data/midi unless trained on another)")
    parser.add_argument("--prime_file", default=None, help="seed every melody from random windows of this MIDI file instead")
    parser.add_argument("--continue_file", default=None, help="finish this opening instead: each file is its melody (its lead, taken as the experiment takes melodies) and then what the model writes after it, in the opening's own key")
    parser.add_argument("--meter", default=None, help="time signature of every file, such as 4/4, 6/8 or 3/4: seeds come from melodies in it, and the files are written in it (default: each file in its seed's meter; the opening's with --continue_file)")
    # output
    parser.add_argument("--save_dir", default=None, help="folder for the generated files; numbering goes on after files already there (default: generated/ inside the experiment)")
    parser.add_argument("--num_files", type=int, default=10, help="number of files to generate (default: %(default)s)")
    parser.add_argument("--file_length", type=int, default=1000, help="length of each file, in sixteenth notes, seed not included; for a model trained with --endings the longest, as it ends each file where the tune ends, never within its first 4 bars (default: %(default)s)")
    parser.add_argument("--midi_instrument", default="Acoustic Grand Piano", help="General MIDI instrument, by name or program number 0-127 (default: %(default)s)")
    parser.add_argument("--wav", action="store_true", help="also write N.wav beside each N.mid, played by the instruments of a General MIDI soundfont (see README)")
    parser.add_argument("--tempo", type=float, default=None, help="tempo of the written files, in quarter notes per minute (default: the experiment's, else 120)")
    parser.add_argument("--key", default=None, help="write each melody in this key, such as 'D major' or 'E minor': it is moved from the major or minor scale it fits best (default: as generated)")
    # sampling
    parser.add_argument("--temperature", type=float, default=1.0, help="below 1 sharper, above 1 more adventurous, 0 always the most likely step (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="same seed, model and flags give identical files (default: a random one, printed)")
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def parse_instrument(name):
    """General MIDI program number of an instrument name or number."""
    if name.strip().isdigit() and int(name) <= 127:
        return int(name)
    try:
        return pretty_midi.instrument_name_to_program(name)
    except ValueError:
        sys.exit(f"error: unknown --midi_instrument {name!r}; give a General MIDI name such as "
                 f"'Acoustic Grand Piano' or 'Flute', or a program number 0-127")


def load_seed_melodies(config, data_dir, prime_file):
    """Melodies to draw seed windows from, the prime file's or the validation files': (melodies, the
    meter of each, the file of each)."""
    window_size, encoding, options = config["window_size"], config["encoding"], midi_notes.melody_options(config)
    if prime_file:
        if not os.path.isfile(prime_file):
            sys.exit(f"error: --prime_file {prime_file} does not exist")
        melodies, info = step_encoding.midi_to_steps(prime_file, encoding, **options)
        if info["skipped"]:
            sys.exit(f"error: cannot use --prime_file {prime_file}: {info['skipped']}")
        if not any(len(m) > window_size for m in melodies):
            sys.exit(f"error: --prime_file {prime_file} has no melody longer than the experiment's window "
                     f"of {window_size} sixteenth notes; choose a longer file")
        return melodies, info["meters"], [prime_file] * len(melodies)
    files = []
    if os.path.isdir(data_dir):  # only the validation files are read (parsed once, then cached)
        files = melody_cache.load_melodies(data_dir, quiet=True, subset=config["files"]["validation"], **options)
    melodies = utils.files_to_steps(files, encoding)
    if not any(len(m) > window_size for m in melodies):
        sys.exit(f"error: the experiment's validation files are not under {data_dir}; "
                 f"pass --data_dir with the folder it was trained on, or --prime_file")
    names = [os.path.join(data_dir, f["path"]) for f in files for m in f["melodies"] if len(m)]
    return melodies, utils.files_to_meters(files), names


def keep_meter(config, melodies, meters, names, meter, where):
    """The seed melodies in the meter asked for (--meter), and for a model that reads meters, in one it
    was trained in; a one-line error naming the meters there are when none is left."""
    window_size = config["window_size"]
    found = sorted({midi_notes.meter_name(m) for m, steps in zip(meters, melodies) if len(steps) > window_size})
    known = config.get("meters") or found  # experiments trained before meters were read: the seeds' meters
    if meter and meter not in known:
        sys.exit(f"error: --meter {meter}: the experiment's {'training melodies' if config.get('meters') else where} "
                 f"are in {', '.join(known)}; choose one of them")
    wanted = {meter} if meter else set(known) if utils.model_meters(config) else None
    kept = [i for i, m in enumerate(meters) if wanted is None or midi_notes.meter_name(m) in wanted]
    if not any(len(melodies[i]) > window_size for i in kept):
        sys.exit(f"error: no melody of {where} longer than the window is in {meter or ', '.join(known)}; they are in "
                 f"{', '.join(found)}: choose one of those, or --prime_file a tune in {meter or 'one of the first'}")
    return [melodies[i] for i in kept], [meters[i] for i in kept], [names[i] for i in kept]


def load_opening(config, path, meter):
    """The melody of --continue_file, as the experiment takes melodies (its lead, when it has several),
    its meter, and the semitones it was moved by: for an experiment with --normalize_key, the model
    hears it in C major or A minor, and the file is written back in its own key. The part after its
    last change of time signature, when it changes."""
    window_size = config["window_size"]
    if not os.path.isfile(path):
        sys.exit(f"error: --continue_file {path} does not exist")
    melodies, info = step_encoding.midi_to_steps(path, config["encoding"], **dict(midi_notes.melody_options(config),
                                                                                    tracks="lead", normalize_key=False))
    if info["skipped"]:
        sys.exit(f"error: cannot use --continue_file {path}: {info['skipped']}")
    if not melodies:
        sys.exit(f"error: cannot use --continue_file {path}: {info['track_table'][0]['reason']}")
    melody, opening_meter = melodies[-1], info["meters"][-1]
    name = midi_notes.meter_name(opening_meter)
    if len(melodies) > 1:
        print(f"{path} changes time signature; continuing its last part, {len(melody)} sixteenth notes in {name}")
    if meter and meter != name:
        sys.exit(f"error: --continue_file {path} is in {name}, not --meter {meter}; drop --meter to finish it in {name}")
    if utils.model_meters(config) and name not in config["meters"]:
        sys.exit(f"error: --continue_file {path} is in {name}; the model was trained in {', '.join(config['meters'])}")
    if len(melody) < window_size:
        sys.exit(f"error: --continue_file {path} gives {len(melody)} sixteenth notes of melody, from its first note; "
                 f"the model reads {window_size} before it writes: give an opening at least that long "
                 f"({window_size / midi_notes.bar_steps(opening_meter):g} bars of {name})")
    shift = 0
    if config.get("normalize_key"):  # as midi_notes.choose_melodies moves the training melodies
        shift = scales.key_shift(step_encoding.steps_to_notes(melody, config["encoding"])[:, 2], 0) or 0
    return step_encoding.transpose_steps(melody, shift, config["encoding"]), opening_meter, shift


def opening_seeds(config, opening, meter, num_files):
    """(seeds, positions) that continue the opening: its last window after the history the model reads
    (the opening before it, and the silence before a tune), at that window's place in the opening
    (counted from the bar line before it, for a model that reads meters)."""
    history, window_size = utils.model_history(config), config["window_size"]
    seed = np.concatenate([np.zeros(history, np.uint8), opening])[-(history + window_size):]
    first = len(opening) - window_size + (meter[2] if utils.model_meters(config) else 0)
    return np.tile(seed, (num_files, 1)), np.full(num_files, first)


def find_window_sources(melodies, names, window_size, starts, chosen):
    """{seed_melody: file, seed_melody_step: step in its melody} where each chosen window starts.

    starts: every window start of utils.make_windows(melodies, ...), melody by melody, step by step.
    """
    kept = [(len(m) - window_size, name) for m, name in zip(melodies, names) if len(m) > window_size]
    first_window = np.cumsum([0] + [count for count, _ in kept])  # of each kept melody, in starts
    index = np.searchsorted(starts, chosen)
    melody = np.searchsorted(first_window, index, side="right") - 1
    return [{"seed_melody": kept[m][1], "seed_melody_step": int(k - first_window[m])} for m, k in zip(melody, index)]


def generate(model, seeds, file_length, temperature, rng, lookback=(), positions=None, register=0, meters=None,
             end_class=None, min_steps=None, encoding="roll", durations=False, repeats=False, form_bars=16):
    """Continue each seed window by file_length steps, as one batch.

    seeds: (batch, history + window_size) classes: the window, after history steps (the longest
    lookback or the register, whichever is more; none without lookback); positions: (batch,) each
    window's first step's index in its melody (only its value modulo 2**utils.POSITION_BITS counts),
    or for a model that reads meters, counted from the bar line before the melody's first note, with
    meters: ((batch,) steps in each bar, (batch,) meter ids, the number of meters the model reads), and
    form_bars its --form_bars.
    end_class (a model trained with --endings): a file that draws it has ended, and goes on drawing
    it; the loop stops once every file has; it is never drawn before a file's min_steps (batch,)
    steps, the other classes keeping their proportions. durations (--durations): the model also reads
    how long each step's note or rest has lasted, counted from the seed's first step (utils.step_durations
    of the seed, then step by step). repeats (--repeats): the model also reads whether each lookback's
    phrase has just been played twice in a row, counted from the seed's first step as durations are.
    Returns (batch, file_length) uint8 classes. Each step is drawn from the model's output on
    exactly the last window_size steps, as model.predict on that window would give it, but all in
    one compiled loop (see README: "How sampling works").
    """
    import keras
    import tensorflow as tf

    cells = [layer.cell for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    dense = model.get_layer("next_step") if lookback else model.layers[-1]
    gate = model.get_layer("copy_gates") if lookback else None  # (rnn_size, K): how much to copy each lookback
    cost = model.get_layer("register_gates") if register else None  # (rnn_size, 2): what leaving the range costs
    batch, seed_length = seeds.shape
    history = utils.history_steps(lookback, register)
    window_size = seed_length - history
    num_classes = dense.units
    first_pitch = step_encoding.FIRST_PITCH[encoding]
    lags = list(lookback)
    # lane j holds the window that started at a step t with t % window_size == j: row r is lane r // batch
    lane_of_row = tf.repeat(tf.range(window_size), batch)

    def read(steps, lasted, runs, t):
        """What the model reads at window step t: (batch, features), from the steps so far (and how long each lasted)."""
        token = steps.read(history + t)
        if not lookback:
            return tf.one_hot(token, num_classes)
        lagged = tf.stack([steps.read(history + t - lag) for lag in lags], axis=1)  # (batch, K)
        position = codes[:, t] if meters else positions + t
        duration = lasted.read(history + t) if durations else None
        repeated = utils.phrases_repeated(runs.read(history + t), lags) if repeats else None
        return utils.lookback_features(token, lagged, position, num_classes, meters[2] if meters else 0, duration,
                                       repeated, form_bars)

    @tf.function
    def run(seeds, uniforms, seed_durations, seed_runs):
        states = [cell.get_initial_state(window_size * batch) for cell in cells]
        states = [s if isinstance(s, (list, tuple)) else [s] for s in states]
        # steps[i]: (batch,) the i-th step of history, seed window, then what is generated
        steps = tf.TensorArray(tf.int32, size=seed_length + file_length, clear_after_read=False,
                               element_shape=[batch]).scatter(tf.range(seed_length), tf.transpose(seeds))
        # lasted[i]: (batch,) how long the note or rest of step i has lasted (only with durations)
        lasted = tf.TensorArray(tf.int32, size=seed_length + file_length, clear_after_read=False,
                                element_shape=[batch]).scatter(tf.range(seed_length), tf.transpose(seed_durations))
        # runs[i]: (batch, K) steps in a row, up to step i, equal to the step each lookback before (only with repeats)
        runs = tf.TensorArray(tf.int32, size=seed_length + file_length, clear_after_read=False,
                              element_shape=[batch, len(lags)]).scatter(tf.range(seed_length),
                                                                        tf.transpose(seed_runs, [1, 0, 2]))
        ended = tf.zeros([batch], tf.bool)
        for t in tf.range(window_size + file_length - 1):
            if tf.reduce_all(ended):
                break
            # the lane whose window starts at step t forgets everything, then all lanes read step t
            keep = tf.cast(lane_of_row != t % window_size, tf.float32)[:, None]
            x = tf.tile(read(steps, lasted, runs, t), [window_size, 1])  # (window_size * batch, features)
            new_states = []
            for cell, state in zip(cells, states):
                x, state = cell(x, [s * keep for s in state], training=False)
                new_states.append(state if isinstance(state, (list, tuple)) else [state])
            states = new_states
            # the lane that started window_size - 1 steps ago has now read a whole window
            if t + 1 >= window_size:
                h = tf.reshape(x, [window_size, batch, -1])[(t + 1) % window_size]  # (batch, rnn_size)
                logits = tf.matmul(h, dense.kernel) + dense.bias
                if lookback:  # copy_gates: weight on the class found each lookback before the next step
                    gates = tf.matmul(h, gate.kernel) + gate.bias  # (batch, K)
                    candidates = tf.stack([steps.read(history + t + 1 - lag) for lag in lags], axis=1)
                    logits += tf.einsum("bk,bkc->bc", gates, tf.one_hot(candidates, num_classes))
                if register:  # register_gates: weight on how far each pitch lies beyond the recent range
                    recent = tf.transpose(steps.gather(tf.range(history + t + 1 - register, history + t + 1)))
                    weights = tf.matmul(h, cost.kernel) + cost.bias  # (batch, 2)
                    logits += tf.einsum("bk,bkc->bc", weights, utils.register_features(recent, num_classes, first_pitch))
                if end_class is not None:  # no end before min_steps
                    too_soon = (t + 1 - window_size < min_steps)[:, None] & (tf.range(num_classes) == end_class)[None]
                    logits = tf.where(too_soon, -np.inf, logits)
                if temperature == 0:
                    token = tf.argmax(logits, axis=1, output_type=tf.int32)
                else:
                    # inverse-CDF sampling: no 'probabilities do not sum to 1' from float32 softmax
                    cdf = tf.cumsum(tf.nn.softmax(logits / temperature), axis=1)
                    u = uniforms[t + 1 - window_size] * cdf[:, -1]
                    count = tf.reduce_sum(tf.cast(cdf < u[:, None], tf.int32), axis=1)
                    token = tf.minimum(count, num_classes - 1)
                if end_class is not None:
                    ended |= token == end_class
                    token = tf.where(ended, end_class, token)
                if durations:
                    before = steps.read(history + t)
                    lasted = lasted.write(history + t + 1, tf.where(utils.event_begins(token, before, encoding), 0,
                                                                    lasted.read(history + t) + 1))
                if repeats:
                    lagged = tf.stack([steps.read(history + t + 1 - lag) for lag in lags], axis=1)  # (batch, K)
                    runs = runs.write(history + t + 1, tf.where(token[:, None] == lagged, runs.read(history + t) + 1, 0))
                steps = steps.write(history + t + 1, token)
        return tf.transpose(steps.gather(tf.range(seed_length, seed_length + file_length)))

    positions = np.zeros(batch, np.int64) if positions is None else np.asarray(positions, np.int64)
    if meters:  # (batch, window_size + file_length): the position_code of every step the model reads
        bars, meter_ids = (np.asarray(m, np.int64)[:, None] for m in meters[:2])
        codes = tf.constant(utils.position_code(positions[:, None] + np.arange(window_size + file_length), bars,
                                                meter_ids), tf.int32)
    positions = tf.constant(positions, tf.int32)
    min_steps = tf.constant(np.zeros(batch) if min_steps is None else min_steps, tf.int32)
    uniforms = rng.random((file_length, batch), dtype=np.float32)
    seed_durations = np.stack([utils.step_durations(row, encoding) for row in seeds])
    seed_runs = np.stack([utils.repeat_runs(row, lags) for row in seeds])  # (batch, seed_length, K)
    generated = run(tf.constant(seeds, tf.int32), tf.constant(uniforms), tf.constant(seed_durations, tf.int32),
                    tf.constant(seed_runs, tf.int32)).numpy().astype(np.uint8)
    if end_class is not None:  # the steps left when the loop stopped, every file having ended, are the end too
        generated[np.cumsum(generated == end_class, axis=1) > 0] = end_class
    return generated


def cut_endings(generated, end_class):
    """(batch, file_length) classes from generate -> (each file up to its end class, with the rests
    before it dropped, so it ends with its last note; whether each ended)."""
    cut, ended = [], []
    for steps in generated:
        at = np.flatnonzero(steps == end_class)
        melody = steps[:at[0]] if len(at) else steps
        if len(at):
            notes = np.flatnonzero(melody != 0)  # the last step that is not a rest
            melody = melody[:notes[-1] + 1] if len(notes) else melody
        cut.append(melody)
        ended.append(bool(len(at)))
    return cut, ended


def move_to_key(seed_steps, steps, tonic, encoding):
    """A generated melody moved from the scale it fits best onto the major scale of `tonic` (or its
    relative minor), within the MIDI range; its seed, drawn in the picture, moves with it.

    Returns (seed_steps, steps), or None when the melody spans too wide to move within 0..127.
    """
    shift = scales.key_shift(step_encoding.steps_to_notes(steps, encoding)[:, 2], tonic)
    if shift is None:
        return None
    return step_encoding.transpose_steps(seed_steps, shift, encoding), step_encoding.transpose_steps(steps, shift, encoding)


def next_free_number(save_dir):
    """1 for an empty folder, else one more than the highest N.mid in it."""
    numbers = [int(name[:-4]) for name in os.listdir(save_dir) if name.endswith(".mid") and name[:-4].isdigit()]
    return max(numbers, default=0) + 1


def check_args(args):
    """Every flag is checked before any work starts; returns (key or None, General MIDI program)."""
    for name in ["num_files", "file_length"]:
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name} must be at least 1, got {getattr(args, name)}")
    if args.temperature < 0:
        sys.exit(f"error: --temperature must be 0 or above, got {args.temperature}")
    if args.tempo is not None and not args.tempo > 0:
        sys.exit(f"error: --tempo must be above 0 quarter notes per minute, got {args.tempo}")
    if args.meter:
        try:
            args.meter = midi_notes.meter_name(midi_notes.parse_meter(args.meter))  # ' 6 / 8' -> '6/8'
        except ValueError as e:
            sys.exit(f"error: --meter {e}")
    if args.prime_file and args.continue_file:
        sys.exit("error: --prime_file and --continue_file both choose what the model begins from; pass one of them")
    try:
        key = scales.parse_key(args.key) if args.key else None
    except ValueError as e:
        sys.exit(f"error: --key {e}")
    return key, parse_instrument(args.midi_instrument)


def check_soundfont(wav):
    if wav and not os.path.isfile(media.find_soundfont()):
        sys.exit(f"error: the soundfont {media.find_soundfont()} named by the SOUNDFONT environment variable "
                 f"does not exist; point SOUNDFONT at a General MIDI .sf2 file, or unset it")


def choose_seeds(config, melodies, meters, num_files, rng):
    """A random window of the seed melodies for each file, the generated file beginning on a bar line
    of its seed melody -> (seeds, chosen starts, every start, positions).

    seeds: (num_files, history + window_size) classes; a lookback model reads the seed window as a
    tune's opening, silence before it, so that it builds its phrases on the seed instead of
    reciting the rest of the seed's tune. starts: every window start of utils.make_windows;
    positions: the utils.position_code of every step, by the meter ids of meter_names(meters).
    """
    window_size, history = config["window_size"], utils.model_history(config)
    steps, starts, positions = utils.make_windows(melodies, window_size, history,
                                                  utils.meter_positions(meters, meter_names(config, meters)))
    on_bar_line = starts[positions[starts + window_size] % 2 ** utils.BAR_BITS == 0]
    chosen = rng.choice(on_bar_line if len(on_bar_line) else starts, size=num_files)
    seeds, _ = utils.windows_at(steps, chosen, window_size)
    return np.pad(seeds, ((0, 0), (history, 0))), chosen, starts, positions


def meter_names(config, meters):
    """Meter names by id: those the model reads, else those of these melodies (a model that does not
    read meters seeds from melodies in any meter, even one its training melodies were not in)."""
    return config["meters"] if utils.model_meters(config) else sorted({midi_notes.meter_name(m) for m in meters})


def seed_meters(config, names, chosen, positions):
    """(meter of each chosen window, as [numerator, denominator], and for generate: its positions, and
    its meters when the model reads them). A window is read as the tune's first bar: its first step
    stands in its bar as in the seed melody."""
    codes = positions[chosen].astype(np.int64)
    meters = [midi_notes.parse_meter(names[code >> (utils.BAR_BITS + utils.FORM_BITS)]) for code in codes]
    in_bar = codes % 2 ** utils.BAR_BITS
    if not utils.model_meters(config):
        return meters, chosen % midi_notes.STEPS_PER_BAR, None  # older lookback models count bars of 16 from the first note
    bars = np.array([midi_notes.bar_steps(m) for m in meters])
    return meters, in_bar, (bars, codes >> (utils.BAR_BITS + utils.FORM_BITS), len(config["meters"]))


def write_files(args, config, origin, seeds, generated, sources, meters, key, program, opening=False):
    """N.mid, N.json, N.png (and N.wav) for each generated melody, then index.html; returns the .mid paths.

    seeds: what each melody began from, drawn in grey; with opening, it is written into the file too,
    and begins on a bar line. meters: [numerator, denominator] of each file, its time signature.
    """
    encoding = config["encoding"]
    save_dir = args.save_dir or os.path.join(origin["experiment_dir"], "generated")
    os.makedirs(save_dir, exist_ok=True)
    first = next_free_number(save_dir)
    written, wavs = [], []
    pool = media.start_wav_pool() if args.wav else None  # N.wav is rendered while the next files are drawn
    for i, (seed_steps, melody, source, meter) in enumerate(zip(seeds, generated, sources, meters)):
        path = os.path.join(save_dir, f"{first + i}.mid")
        if key is not None:
            moved = move_to_key(seed_steps, melody, scales.major_tonic(key), encoding)
            if moved is None:
                print(f"  {path}: its notes span too wide to move to --key {args.key} within MIDI pitches "
                      f"0..127; written as generated")
            seed_steps, melody = moved or (seed_steps, melody)
        written_steps = np.concatenate([seed_steps, melody]) if opening else melody
        midi = step_encoding.steps_to_midi(written_steps, qpm=origin["tempo"], program=program, encoding=encoding,
                                           meter=meter)
        safe_write.write_atomic(path, midi.write)
        media.save_origin(path, dict(origin, meter=midi_notes.meter_name(meter), **source))
        # the picture shows the seed (not in the MIDI file) or the opening before what the model wrote
        media.steps_to_png(path[:-4] + ".png", seed_steps, melody, encoding,
                           title=f"{path} ({'opening' if opening else 'seed'} in grey)",
                           seed_label="opening (in the file)" if opening else "seed (not in the file)",
                           meter=meter, seed_in_file=opening)
        if args.wav:
            wavs.append(pool.submit(media.midi_file_to_wav, path, media.find_soundfont()))  # SOUNDFONT as it is now
        print(f"  wrote {path}, .json, .png")
        written.append(path)
    if args.wav:
        with pool:
            for path, wav in zip(written, wavs):
                try:
                    synthesizer = wav.result()
                except RuntimeError as e:  # an unreadable soundfont
                    sys.exit(f"error: cannot make {path[:-4]}.wav: {str(e).splitlines()[0][:200]}")
        print(f"  wrote {len(wavs)} .wav files beside them; audio made with {synthesizer}")
    media.write_index(save_dir)
    print(f"Open {os.path.join(save_dir, 'index.html')} in a browser to look and listen")
    return written


def start_from_opening(config, args):
    """--continue_file: every file continues the opening, written from the bar line before it ->
    ((seeds, positions, meters for generate, what each file begins with, sources, meter of each
    file), the semitones the model hears the opening moved by: what it writes moves back by them)."""
    opening, meter, shift = load_opening(config, args.continue_file, args.meter)
    seeds, positions = opening_seeds(config, opening, meter, args.num_files)
    meters = ((np.full(args.num_files, midi_notes.bar_steps(meter)),
               np.full(args.num_files, config["meters"].index(midi_notes.meter_name(meter))), len(config["meters"]))
              if utils.model_meters(config) else None)
    written = step_encoding.transpose_steps(opening, -shift, config["encoding"])  # the opening as given
    shown = np.tile(np.concatenate([np.zeros(meter[2], np.uint8), written]), (args.num_files, 1))
    return (seeds, positions, meters, shown, [{"continue_file": args.continue_file}] * args.num_files,
            [meter[:2]] * args.num_files), shift


def start_from_seeds(config, melodies, melody_meters, names, num_files, rng):
    """A random window of the seed melodies for each file, read as the first bar of a tune -> as
    start_from_opening, what each file begins with being its seed (not written into it)."""
    seeds, chosen, starts, step_positions = choose_seeds(config, melodies, melody_meters, num_files, rng)
    file_meters, positions, meters = seed_meters(config, meter_names(config, melody_meters), chosen, step_positions)
    sources = find_window_sources(melodies, names, config["window_size"], starts, chosen)
    return seeds, positions, meters, seeds[:, utils.model_history(config):], sources, file_meters


def generate_melodies(args, config, checkpoint, start, seed, rng):
    """What the model writes after each seed -> (melodies, sources): with --endings, each up to where
    it ended, its source saying whether it did."""
    seeds, positions, meters, _, sources, file_meters = start
    endings = config.get("endings", False)
    print(f"Sampling {args.num_files} files of {'at most ' * endings}{args.file_length} sixteenth notes from "
          f"{checkpoint} (seed {seed}, temperature {args.temperature})")
    model = checkpoints.load_checkpoint(checkpoint, compile=False)
    end_class = step_encoding.end_class(config["encoding"]) if endings else None
    min_steps = [MIN_TUNE_BARS * midi_notes.bar_steps(meter) for meter in file_meters]
    with tensorflow_start.tensorflow_notes_dropped():  # one about int32 kernels, the first time the loop runs
        generated = generate(model, seeds, args.file_length, args.temperature, rng, config.get("lookback", []),
                             positions=positions, register=config.get("register", 0), meters=meters,
                             end_class=end_class, min_steps=min_steps, encoding=config["encoding"],
                             durations=config.get("durations", False), repeats=config.get("repeats", False),
                             form_bars=config.get("form_bars", 16))
    if not endings:
        return generated, sources
    generated, ended = cut_endings(generated, end_class)
    print(f"{sum(ended)} of {args.num_files} files ended before {args.file_length} sixteenth notes")
    return generated, [dict(source, ended=done) for source, done in zip(sources, ended)]


def main(argv=None):
    args = parse_args(argv)
    key, program = check_args(args)
    experiment_dir, checkpoint = checkpoints.find_experiment(args.experiment_dir, args.checkpoint)
    config = checkpoints.load_config(experiment_dir)
    shift = 0  # semitones the model hears the opening moved by
    if args.continue_file:
        start, shift = start_from_opening(config, args)
    else:
        where = args.prime_file or "the validation files"
        melodies = keep_meter(config, *load_seed_melodies(config, args.data_dir or config["data_dir"], args.prime_file),
                              args.meter, where)
    check_soundfont(args.wav)
    seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(2**31))
    rng = np.random.default_rng(seed)
    if not args.continue_file:
        start = start_from_seeds(config, *melodies, args.num_files, rng)

    tensorflow_start.import_keras()
    generated, sources = generate_melodies(args, config, checkpoint, start, seed, rng)
    generated = [step_encoding.transpose_steps(m, -shift, config["encoding"]) for m in generated]

    # files: what made them, kept beside each in N.json for index.html, and what each began from
    origin = {"experiment_dir": experiment_dir, "checkpoint": os.path.basename(checkpoint), "seed": seed,
              "temperature": args.temperature, "midi_instrument": pretty_midi.program_to_instrument_name(program),
              "tempo": args.tempo or config.get("qpm") or 120.0, "written": time.strftime("%Y-%m-%d %H:%M")}
    shown, file_meters = start[3], start[5]
    return write_files(args, config, origin, shown, generated, sources, file_meters, key, program,
                       opening=bool(args.continue_file))


if __name__ == "__main__":
    main()
