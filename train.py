"""Train a stacked LSTM to predict the next sixteenth note of monophonic MIDI melodies.

    python train.py --data_dir data/midi                      # a new experiment in experiments/NN
    python train.py --rnn_size 8 --num_epochs 1 -m "smoke"    # a quick smoke run
    python train.py --experiment_dir experiments/01           # resume an interrupted experiment
    tensorboard --logdir experiments                          # watch and compare runs
"""
import argparse
import collections
import csv
import math
import os
import shutil
import signal
import sys

import numpy as np

import checkpoints
import data_report
import distribute
import melody_cache
import midi_notes
import step_encoding
import tensorflow_start
import utils

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up notes quiet

# flags a resume may change: they do not touch the model or the data split
RESUME_FLAGS = {"experiment_dir", "num_epochs", "patience", "n_jobs", "max_files_in_ram", "distribute"}
# --init_from: the source experiment's model and encoding; a new experiment takes them, and refuses a flag
# that says otherwise (dropout only acts in training: the new experiment takes the source's unless given)
SOURCE_FLAGS = ["encoding", "endings", "window_size", "lookback", "form_bars", "register", "durations", "repeats",
                "normalize_key", "cell", "rnn_size", "num_layers"]
OPTIMIZERS = ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"]
CELLS = ["lstm", "gru", "rnn"]
VALIDATION_BATCH = 256  # windows per validation batch, at least


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # data
    parser.add_argument("--data_dir", default="data/midi", help="folder searched recursively for .mid/.midi/.rmi files (default: %(default)s)")
    parser.add_argument("--polyphony", choices=midi_notes.POLYPHONY, default="discard", help="a track where notes sound together: discard it, or keep its highest note at each step (default: %(default)s)")
    parser.add_argument("--tracks", choices=midi_notes.TRACKS, default="all", help="learn every track that gives a melody, or only each file's lead: the highest median pitch among its melodies with at least a quarter of the notes of its busiest (default: %(default)s)")
    parser.add_argument("--normalize_key", action="store_true", help="move each melody to C major or A minor, by the major or minor scale it fits best (default: off)")
    parser.add_argument("--max_hold", type=int, default=0, metavar="STEPS", help="a note held longer than this many sixteenth notes ends there, and a longer rest loses whole bars until it fits, e.g. 32 for 2 bars (default: %(default)s, off)")
    parser.add_argument("--window_size", type=int, default=20, help="steps the model sees to predict the next one, in sixteenth notes (default: %(default)s)")
    parser.add_argument("--encoding", choices=list(step_encoding.NUM_CLASSES), default="roll", help="roll: 129 classes, rest or pitch sounding; onset: 130, also tells a struck note from a held one (default: %(default)s)")
    parser.add_argument("--endings", action="store_true", help="learn where tunes end: one class more, the target after each melody's last step, so that sample.py ends each file where its tune ends (default: off)")
    parser.add_argument("--transpose", type=int, default=0, help="shift each training window by a random number of semitones in [-N, N] (default: %(default)s, off)")
    parser.add_argument("--n_jobs", "-j", type=int, default=1, help="processes that parse MIDI files not yet in the cache (default: %(default)s)")
    parser.add_argument("--max_files_in_ram", type=int, default=25, help="MIDI files parsed and held at once while loading; parsed melodies are kept as 1 byte per step (default: %(default)s)")
    # model
    parser.add_argument("--rnn_size", type=int, default=64, help="units in each recurrent layer (default: %(default)s)")
    parser.add_argument("--num_layers", type=int, default=1, help="stacked recurrent layers (default: %(default)s)")
    parser.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent layer type (default: %(default)s)")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout rate after each recurrent layer, in [0, 1) (default: %(default)s)")
    parser.add_argument("--lookback", type=int, nargs="*", default=[], metavar="STEPS", help="steps back, in sixteenth notes, whose note the model sees and may copy, e.g. 16 32 64 128 for 1, 2, 4 and 8 bars; also gives it the step's place in its bar and the bar's in the form (--form_bars) (default: none)")
    parser.add_argument("--form_bars", type=int, choices=utils.FORM_BARS, default=16, help="with --lookback: bars of the form in which the model reads each bar's place; past its end, its last 16 bars count again; 32 or 64 tell it how far into a tune it is, which --endings can learn from (default: %(default)s)")
    parser.add_argument("--register", type=int, default=0, metavar="STEPS", help="with --lookback: steps back, in sixteenth notes, whose lowest and highest notes the model sees as the melody's range, and learns how much a note beyond it costs, e.g. 256 for 16 bars (default: %(default)s, off)")
    parser.add_argument("--durations", action="store_true", help="with --lookback: each step also says how long its note or rest has lasted, in sixteenth notes up to 63 (default: off)")
    parser.add_argument("--repeats", action="store_true", help="with --lookback: each step also says, for each lookback, whether the phrase that long before it has just been played twice in a row, so the model can tell a part played again from a loop (default: off)")
    # training
    parser.add_argument("--num_epochs", type=int, default=10, help="passes over every training window (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=32, help="windows per gradient step, over all replicas together (default: %(default)s)")
    parser.add_argument("--targets", type=int, default=0, metavar="STEPS", help="learn the next step after each of the last STEPS steps of a window at once, with a melody's windows STEPS steps apart: one pass over a window gives STEPS targets instead of one, e.g. 24 (default: %(default)s, off: the step after each window only, windows one step apart)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="(default: %(default)s)")
    parser.add_argument("--learning_rate", type=float, default=None, help="initial learning rate (default: the optimizer's own, 0.001 for adam)")
    parser.add_argument("--grad_clip", type=float, default=5.0, help="clip the global norm of the gradients to this; 0 turns clipping off (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the file split, initial weights and shuffling (default: %(default)s)")
    parser.add_argument("--patience", type=int, default=0, help="stop once the validation loss has not improved for this many epochs, counted across resumes (default: %(default)s, off: train every --num_epochs)")
    parser.add_argument("--init_from", default=None, metavar="EXPERIMENT_DIR", help="start from the model of this experiment (its weights, model and encoding flags) and train it on --data_dir, e.g. experiments/pretrained (default: none, a new model)")
    parser.add_argument("--init_checkpoint", default="best", help="with --init_from: its checkpoint to start from, latest, best (lowest validation loss) or an epoch number (default: %(default)s)")
    parser.add_argument("--distribute", choices=distribute.DISTRIBUTE, default="none", help="none: one device (a GPU when visible); mirrored: every GPU of this machine; multi_worker: the machines named in TF_CONFIG (default: %(default)s)")
    # output
    parser.add_argument("--experiment_dir", default=None, help="folder for checkpoints, logs and config; an existing experiment is resumed (default: a new experiments/NN)")
    parser.add_argument("--message", "-m", default=None, help="a note about this run, saved to message.txt")
    return parser


def parse_args(argv=None):
    """Parsed flags, and the set of flags the user actually gave."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unset = build_parser()  # the same flags with no defaults: what is not None was given
    for action in unset._actions:
        action.default = None
    return args, {name for name, value in vars(unset.parse_args(argv)).items() if value is not None}


def check_args(args):
    """Every flag is checked before any work starts; a bad one is a one-line error."""
    for name in ["window_size", "rnn_size", "num_layers", "num_epochs", "batch_size", "n_jobs", "max_files_in_ram"]:
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name} must be at least 1, got {getattr(args, name)}")
    if not 0 <= args.dropout < 1:
        sys.exit(f"error: --dropout must be in [0, 1), got {args.dropout}")
    if args.learning_rate is not None and not args.learning_rate > 0:
        sys.exit(f"error: --learning_rate must be above 0, got {args.learning_rate}")
    if not args.grad_clip >= 0:
        sys.exit(f"error: --grad_clip must be 0 (off) or above, got {args.grad_clip}")
    if any(steps < 1 for steps in args.lookback):
        sys.exit(f"error: --lookback takes steps back of at least 1 sixteenth note, got {args.lookback}")
    if args.register < 0:
        sys.exit(f"error: --register takes steps back of at least 1 sixteenth note, or 0 for off, got {args.register}")
    for name, off in [("register", 0), ("durations", False), ("repeats", False), ("form_bars", 16)]:
        if getattr(args, name) != off and not args.lookback and not args.init_from:  # --init_from: the source's
            sys.exit(f"error: --{name} works with --lookback, the model that reads the steps before its window; "
                     f"add, for example, --lookback 16 32 64 128")
    if not 0 <= args.transpose <= 127:
        sys.exit(f"error: --transpose must be in [0, 127] semitones, got {args.transpose}")
    if args.max_hold and args.max_hold < midi_notes.STEPS_PER_BAR:
        sys.exit(f"error: --max_hold must be 0 (off) or at least a bar, {midi_notes.STEPS_PER_BAR} sixteenth notes, "
                 f"got {args.max_hold}")
    if not 0 <= args.targets <= args.window_size:
        sys.exit(f"error: --targets must be 0 (off) or a number of steps up to --window_size {args.window_size}, "
                 f"got {args.targets}")
    if args.patience < 0:
        sys.exit(f"error: --patience must be 0 (off) or a number of epochs, got {args.patience}")
    if args.init_checkpoint not in ("latest", "best") and not args.init_checkpoint.isdigit():
        sys.exit(f"error: --init_checkpoint must be latest, best or an epoch number, got {args.init_checkpoint!r}")


def check_data_dir(data_dir):
    if not os.path.isdir(data_dir):
        sys.exit(f"error: --data_dir {data_dir} is not a folder; point it at your MIDI files")
    if not melody_cache.find_midi_files(data_dir):
        sys.exit(f"error: no .mid, .midi or .rmi file under --data_dir {data_dir}; add MIDI files or choose another folder")


def read_experiment(args, given):
    """Return (config, resuming): the config of the experiment to resume, or of a new one."""
    path = args.experiment_dir
    if path and os.path.exists(os.path.join(path, "config.json")):
        config = checkpoints.load_config(path)
        for name in sorted(given - RESUME_FLAGS):  # a flag newer than the experiment has its default there
            if getattr(args, name) != config.get(name, build_parser().get_default(name)):
                sys.exit(f"error: {path} was trained with --{name} {config.get(name)}; a resume cannot change it "
                         f"(drop --{name}, or start a new experiment)")
        config.update({name: getattr(args, name) for name in given & RESUME_FLAGS})
        return config, True
    if path and os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        sys.exit(f"error: {path} exists and is not an experiment (no config.json); choose another --experiment_dir")
    config = dict(vars(args))
    if config["init_from"]:
        take_source_model(config, given)
    elif "init_checkpoint" in given:
        sys.exit("error: --init_checkpoint chooses a checkpoint of --init_from's experiment; add --init_from")
    return config, False


def show_flag(value):
    """A flag's value as typed: [16, 32] -> '16 32'."""
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def take_source_model(config, given):
    """--init_from: the source experiment's model and encoding flags go into config, with the path of
    the checkpoint whose weights the new model starts from (initial_weights); never its checkpoints."""
    source, which = config["init_from"], config["init_checkpoint"]
    if not os.path.exists(os.path.join(source, "config.json")):
        sys.exit(f"error: --init_from {source} is not an experiment (no config.json); pass a folder made by "
                 f"train.py, such as experiments/pretrained")
    chosen = checkpoints.choose_checkpoint(source, which, set_aside=False)  # the source is not ours to change
    if chosen is None:
        kept = checkpoints.list_checkpoints(source)
        sys.exit(f"error: --init_from {source} has no checkpoint to start from" if not kept else
                 f"error: --init_from {source} has no whole checkpoint of epoch {which}; it has epochs "
                 f"{checkpoints.describe_epochs([e for e, _ in kept])}: pass one of them to --init_checkpoint")
    source_config = checkpoints.load_config(source)
    config["meters"] = source_config.get("meters")  # the meters its model reads; none for older experiments
    for name in SOURCE_FLAGS:
        value = source_config.get(name, build_parser().get_default(name))  # older experiments: the defaults
        if name in given and config[name] != value:
            sys.exit(f"error: --{name} {show_flag(config[name])} contradicts the model of --init_from {source}, "
                     f"trained with --{name} {show_flag(value)}; drop --{name}, or train a new model without --init_from")
        config[name] = value
    if "dropout" not in given:
        config["dropout"] = source_config.get("dropout", config["dropout"])
    config["initial_weights"] = chosen[1]


def start_model(config):
    """A new model: built from the config and, with --init_from, given the weights of the source's checkpoint."""
    model = build_model(config)
    if config.get("initial_weights"):
        source = checkpoints.load_checkpoint(config["initial_weights"], compile=False)
        try:
            model.set_weights(source.get_weights())
        except ValueError as e:
            sys.exit(f"error: the weights of {config['initial_weights']} do not fit this experiment's model: "
                     f"{str(e).splitlines()[0][:200]}")
    return model


def load_data(config, resuming):
    """Melodies of the data folder -> (train, validation, totals, all files), as recorded in the config."""
    files = melody_cache.load_melodies(config["data_dir"], config["n_jobs"], config["max_files_in_ram"],
                                **midi_notes.melody_options(config))
    totals = data_report.summarize_files(files)
    if resuming:
        by_path = {f["path"]: f for f in files}
        train = [by_path[p] for p in config["files"]["train"] if p in by_path]
        validation = [by_path[p] for p in config["files"]["validation"] if p in by_path]
        missing = len(config["files"]["train"]) + len(config["files"]["validation"]) - len(train) - len(validation)
        if missing:
            print(f"Warning: {missing} files of this experiment are no longer under {config['data_dir']}")
    else:
        train, validation = utils.split_files(files, config["window_size"], config["seed"])
    if not train:
        sys.exit(f"error: no melody under {config['data_dir']} is longer than --window_size {config['window_size']} "
                 f"sixteenth notes ({totals['files']} files, {totals['skipped']} skipped); "
                 f"add monophonic MIDI files, pass --polyphony highest, or lower --window_size")
    if not validation:
        sys.exit(f"error: only one usable MIDI file under {config['data_dir']}; at least 2 are needed so that "
                 f"one can be held out for validation")
    return train, validation, totals, files


def count_meters(files):
    """{meter name: melodies} of these files, the most common first."""
    names = [midi_notes.meter_name(meter) for meter in utils.files_to_meters(files)]
    return dict(collections.Counter(names).most_common())


def files_to_windows(train_files, validation_files, config):
    """((steps, runs) of the training windows, and of the validation ones), as utils.make_window_runs;
    for a model that reads meters, (steps, runs, positions), of the melodies in the meters it reads.

    Once the melodies are steps (1 byte each), the files let go of their notes (12 bytes each,
    views into the melody cache) before the windows are made: a large collection's peak memory is
    then its notes, not its notes and its windows together.
    """
    windows = []
    for side, files in (("training", train_files), ("validation", validation_files)):
        melodies = utils.files_to_steps(files, config["encoding"], config.get("endings", False))
        meters = utils.files_to_meters(files)
        for f in files:
            f["melodies"] = None
        if not utils.model_meters(config):
            windows.append(utils.make_window_runs(melodies, config["window_size"], utils.model_history(config)))
            continue
        known = [midi_notes.meter_name(meter) in config["meters"] for meter in meters]
        if not all(known):  # meters the training melodies lack, or that the model of --init_from was not trained in
            whose = "the model of --init_from" if config.get("init_from") else "the training melodies"
            print(f"Left out of {side}: {known.count(False)} melodies in meters the model does not read "
                  f"(it reads those of {whose}: {', '.join(config['meters'])})")
        melodies = [m for m, ok in zip(melodies, known) if ok]
        positions = utils.meter_positions([meter for meter, ok in zip(meters, known) if ok], config["meters"])
        windows.append(utils.make_window_runs(melodies, config["window_size"], utils.model_history(config), positions))
    return windows


def build_model(config):
    """num_layers stacked recurrent layers, each followed by Dropout, then a Dense softmax.

    With --lookback (after Magenta's Lookback RNN): each step's input also says whether it repeats
    the step each lookback before, and where the step stands (utils.lookback_features); and a second Dense head
    (copy_gates) adds a weight to the logit of the class found each lookback before the next step,
    the role of the Lookback RNN's 'repeat 1 bar ago' labels, so that "play again what was played
    a phrase ago" is one confident decision rather than 129 classes to get right. With --register,
    a third head (register_gates) weighs how far each pitch lies beyond the range of the last
    `register` steps (utils.register_features), so that a melody keeps its register instead of
    wandering off with a stray note or a slow drift.
    """
    import keras
    cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}[config["cell"]]
    num_classes, window_size, lookback = config["num_classes"], config["window_size"], config.get("lookback", [])
    extra = (len(lookback) * (1 + config.get("repeats", False))
             + utils.position_width(utils.model_meters(config), config.get("durations", False),
                                    config.get("form_bars", 16))
             if lookback else 0)  # the repeat flags, the position (the note's length, the phrases played twice)
    steps = keras.Input((window_size, num_classes + extra), name="steps")
    x = steps
    for i in range(config["num_layers"]):
        x = cell(config["rnn_size"], return_sequences=i < config["num_layers"] - 1)(x)
        x = keras.layers.Dropout(config["dropout"])(x)
    if not lookback:
        model = keras.Model(steps, keras.layers.Dense(num_classes, activation="softmax")(x))
    else:
        candidates = keras.Input((len(lookback), num_classes), name="lookback")  # one-hot: what each lookback holds
        logits = keras.layers.Dense(num_classes, name="next_step")(x)
        gates = keras.layers.Dense(len(lookback), name="copy_gates")(x)  # (batch, K): how much to copy each
        copied = keras.layers.Dot(axes=1)([gates, candidates])  # (batch, num_classes): gate k on class k's lookback
        inputs, terms = [steps, candidates], [logits, copied]
        if config.get("register"):
            ranges = keras.Input((2, num_classes), name="register")  # how far beyond the range, and that times the span
            weights = keras.layers.Dense(2, name="register_gates")(x)  # (batch, 2): how much each costs
            inputs, terms = inputs + [ranges], terms + [keras.layers.Dot(axes=1)([weights, ranges])]
        outputs = keras.layers.Activation("softmax")(keras.layers.Add()(terms))
        model = keras.Model(inputs, outputs)
    options = {"global_clipnorm": config["grad_clip"] or None}
    if config["learning_rate"]:
        options["learning_rate"] = config["learning_rate"]
    optimizer = keras.optimizers.get({"class_name": config["optimizer"], "config": options})
    # sparse categorical cross-entropy: the categorical cross-entropy, with targets as class indices
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_trainer(model, config):
    """--targets: the model's layers and weights, giving after each of a window's last `targets` steps
    the distribution over the step after it, for the batches of utils.make_dataset(targets=...).

    (batch, window_size, features) steps -> (batch, targets, num_classes); with --lookback and
    --register, their inputs are given for each target, (batch, targets, K or 2, num_classes).
    Training it trains the model, whose checkpoints sample.py and evaluate.py read as any other's:
    the last recurrent layer, which gives only its last step there, is run here on its own cell,
    with every step's output.
    """
    import keras

    targets, num_classes, lookback = config["targets"], config["num_classes"], config.get("lookback", [])
    steps = keras.Input(model.inputs[0].shape[1:], name="steps")
    x = steps
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    for layer, dropout in zip(recurrent, dropouts):
        layer = layer if layer.return_sequences else keras.layers.RNN(layer.cell, return_sequences=True)
        x = dropout(layer(x))  # (batch, window_size, rnn_size)
    x = keras.layers.Cropping1D((config["window_size"] - targets, 0))(x)  # (batch, targets, rnn_size)
    if not lookback:
        trainer = keras.Model(steps, model.layers[-1](x))
    else:
        def per_step(gates, values):  # (batch, targets, K), (batch, targets, K, num_classes)
            return keras.layers.Lambda(lambda t: keras.ops.einsum("btk,btkc->btc", *t))([gates, values])

        candidates = keras.Input((targets, len(lookback), num_classes), name="lookback")
        inputs = [steps, candidates]
        terms = [model.get_layer("next_step")(x), per_step(model.get_layer("copy_gates")(x), candidates)]
        if config.get("register"):
            ranges = keras.Input((targets, 2, num_classes), name="register")
            inputs.append(ranges)
            terms.append(per_step(model.get_layer("register_gates")(x), ranges))
        trainer = keras.Model(inputs, keras.layers.Activation("softmax")(keras.layers.Add()(terms)))
    # the model's optimizer, so that its checkpoints keep the state a resume goes on from; the
    # validation windows weighed as make_dataset says, the accuracy too
    trainer.compile(optimizer=model.optimizer, loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    return trainer


def save_checkpoint(model, experiment_dir, epoch, logs):
    """Save the model (the one sample.py reads, never a --targets trainer) with its optimizer as
    checkpoints/epochNNN-val_lossL.keras, unless its loss is NaN.

    It is written into checkpoints/incomplete/, then renamed: the rename is atomic, so a checkpoint
    under checkpoints/ is always whole, and an interrupted write is never picked by sample.py.
    """
    if not np.isfinite((logs or {}).get("loss", np.nan)):
        return
    name = f"epoch{epoch + 1:03d}-val_loss{logs['val_loss']:.4f}.keras"
    staging = os.path.join(experiment_dir, "checkpoints", "incomplete", name)
    model.save(staging)
    os.replace(staging, os.path.join(experiment_dir, "checkpoints", name))


def catch_interrupts():
    """Make Ctrl-C (SIGINT) and SIGTERM raise KeyboardInterrupt; returns a check for a Keras callback.

    Keras' model saving catches every exception, KeyboardInterrupt included, for a few milliseconds
    of each checkpoint; the check raises again a signal that arrived then, once Keras is done saving.
    """
    received = []

    def interrupt(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    def raise_if_interrupted(*args, logs=None):
        if received:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    return raise_if_interrupted


def describe_experiment(config, train_files, validation_files, totals, windows, keras):
    """Record in a new experiment's config what it learns from: classes, tempo, windows, files, software."""
    qpms = [f["qpm"] for f in train_files if f["qpm"]]
    config.update(
        num_classes=step_encoding.NUM_CLASSES[config["encoding"]] + config.get("endings", False),
        steps_per_quarter=midi_notes.STEPS_PER_QUARTER,
        qpm=float(np.median(qpms)) if qpms else 120.0,
        windows=windows,
        files={"train": [f["path"] for f in train_files], "validation": [f["path"] for f in validation_files]},
        data_summary=totals,
        versions={"keras": keras.__version__, "numpy": np.__version__},
    )


def start_experiment(config, data_table):
    """Make a new experiment's folder (its path goes into the config) and write what describes it.

    Made only once the data is known to be usable, so a bad --data_dir leaves nothing behind.
    """
    experiment_dir = config["experiment_dir"] = checkpoints.make_experiment_dir(config["experiment_dir"])
    checkpoints.save_config(experiment_dir, config)
    data_report.write_data_table(os.path.join(experiment_dir, "data.csv"), data_table)
    print(f"What was used from each file and track, and why: {experiment_dir}/data.csv")
    if config["message"]:
        with open(os.path.join(experiment_dir, "message.txt"), "w") as f:
            f.write(config["message"] + "\n")


def make_datasets(config, train_windows, val_windows):
    """tf.data pipelines of the training windows (shuffled, transposed) and of the validation windows."""
    import tensorflow as tf

    options = dict(window_size=config["window_size"],
                   num_classes=config["num_classes"], encoding=config["encoding"],
                   lookback=config.get("lookback", []), register=config.get("register", 0),
                   meters=utils.model_meters(config), form_bars=config.get("form_bars", 16),
                   durations=config.get("durations", False),
                   repeats=config.get("repeats", False))
    targets = config.get("targets", 0)

    def dataset(windows, **more):  # windows: (steps, runs), or (steps, runs, positions) for a model that reads meters
        steps, runs, positions = (*windows, None)[:3]
        return utils.make_dataset(steps, runs, positions=positions, **options, **more)

    # --targets: training windows `targets` steps apart, each giving as many targets; validation scores
    # the step after each window, one step apart, as without it. Validation batches are larger: they
    # only run forward, and a CPU runs an LSTM over 256 windows at once in about two thirds of the time 64 take
    train_data = dataset(train_windows, batch_size=config["batch_size"], shuffle=True, transpose=config["transpose"],
                         seed=config["seed"], targets=targets, stride=max(targets, 1))
    val_data = dataset(val_windows, batch_size=max(config["batch_size"], VALIDATION_BATCH), targets=targets,
                       last_only=bool(targets))
    pipeline = tf.data.Options()
    # multi_worker: every worker runs the same pipeline and keeps its share of each batch
    pipeline.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # no tf.data autotuning: deleting an autotuned iterator waits for its tuning thread to wake,
    # about 20 s at the start of every epoch and before "Done" on the bundled tunes, for no speed-up
    pipeline.autotune.enabled = False
    return train_data.with_options(pipeline), val_data.with_options(pipeline)


def epochs_since_best(experiment_dir, done):
    """(lowest validation loss of the first `done` epochs, epochs trained since it), or None before any.

    Read from history.csv, which keeps each epoch's loss whole (a checkpoint's name rounds it).
    """
    losses = {}  # 0-based epoch -> validation loss; a later row of an epoch trained again wins
    path = os.path.join(experiment_dir, "history.csv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if int(row["epoch"]) < done and math.isfinite(float(row["val_loss"])):
                    losses[int(row["epoch"])] = float(row["val_loss"])
    if not losses:
        return None
    best = min(losses, key=lambda epoch: (losses[epoch], epoch))
    return losses[best], done - 1 - best


def make_early_stopping(keras, patience, before):
    """Keras' EarlyStopping, told on a resume what the epochs before it scored (before: epochs_since_best),
    since it starts each fit afresh."""
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, verbose=1)
    if not before:
        return [stop]

    def restore(logs=None):  # runs after EarlyStopping's own on_train_begin has reset it
        stop.best, stop.wait = before

    return [stop, keras.callbacks.LambdaCallback(on_train_begin=restore)]


def make_callbacks(keras, model, config, backup_dir, chief, before, steps_per_epoch, raise_if_interrupted):
    """Every worker backs up and stops on NaN (and, with --patience, early); only the chief writes
    checkpoints and logs."""
    experiment_dir = config["experiment_dir"]
    callbacks = [
        keras.callbacks.BackupAndRestore(backup_dir, save_freq=min(1000, steps_per_epoch), double_checkpoint=True),
        keras.callbacks.TerminateOnNaN(),
    ]
    if chief:
        os.makedirs(os.path.join(experiment_dir, "checkpoints", "incomplete"), exist_ok=True)
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: save_checkpoint(model, experiment_dir, epoch, logs)))
    callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5))
    if config.get("patience"):
        callbacks += make_early_stopping(keras, config["patience"], before)
    if chief:
        callbacks += [
            keras.callbacks.CSVLogger(os.path.join(experiment_dir, "history.csv"), append=True),
            keras.callbacks.TensorBoard(os.path.join(experiment_dir, "tensorboard-logs")),
        ]
    callbacks.append(keras.callbacks.LambdaCallback(on_train_batch_end=raise_if_interrupted,
                                                    on_epoch_end=raise_if_interrupted, on_train_end=raise_if_interrupted))
    return callbacks


def main(argv=None):
    args, given = parse_args(argv)
    check_args(args)
    config, resuming = read_experiment(args, given)
    config.setdefault("distribute", "none")  # experiments made before --distribute existed
    distribute.check_distribute(config)
    check_data_dir(config["data_dir"])
    chief = distribute.is_chief(config["distribute"])
    raise_if_interrupted = catch_interrupts()

    # data: melodies, then windows of them
    train_files, validation_files, totals, files = load_data(config, resuming)
    if not resuming and "meters" not in config:  # a new experiment learns the meters of its training melodies
        config["meters"] = list(count_meters(train_files))
    print("Meters of the training melodies: " + ", ".join(f"{name} {count}" for name, count in
                                                           count_meters(train_files).items()))
    data_table = data_report.make_data_table(files, train_files, validation_files, config["window_size"])
    train_windows, val_windows = files_to_windows(train_files, validation_files, config)  # (steps, runs) each
    windows = {"train": int(train_windows[1][:, 1].sum()), "validation": int(val_windows[1][:, 1].sum())}
    print(f"Windows of {config['window_size']} steps: {windows['train']} for training from {len(train_files)} "
          f"files, {windows['validation']} for validation from {len(validation_files)} files")

    # the experiment: the devices, the folder and what describes it
    keras = tensorflow_start.import_keras()  # imported late: parsing and flag errors above stay fast
    strategy = distribute.make_strategy(config["distribute"])
    print(f"Training on {strategy.num_replicas_in_sync} replicas (--distribute {config['distribute']}), "
          f"{config['batch_size']} windows per step in all")
    if not resuming:
        describe_experiment(config, train_files, validation_files, totals, windows, keras)
        if chief:
            start_experiment(config, data_table)
    experiment_dir = config["experiment_dir"]
    keras.utils.set_random_seed(config["seed"])
    train_data, val_data = make_datasets(config, train_windows, val_windows)

    # model: a new one, or the latest whole checkpoint of the experiment being resumed (the chief
    # sets a damaged one aside first; other workers only pass over it)
    latest = checkpoints.choose_checkpoint(experiment_dir, "latest", set_aside=chief)
    done = latest[0] if latest else 0
    with strategy.scope():  # the variables are made here, one copy per replica
        model = checkpoints.load_checkpoint(latest[1]) if latest else start_model(config)
        trainer = make_trainer(model, config) if config.get("targets") else model  # what fit trains
    if done >= config["num_epochs"]:
        print(f"{experiment_dir} has already trained {done} of {config['num_epochs']} epochs; "
              f"pass a larger --num_epochs to train on")
        return experiment_dir
    before = epochs_since_best(experiment_dir, done)
    if config.get("patience") and before and before[1] >= config["patience"]:
        print(f"{experiment_dir} stopped early: its validation loss has not improved for {before[1]} epochs "
              f"(--patience {config['patience']}); its best checkpoint is epoch {done - before[1]}")
        return experiment_dir
    if resuming:
        print(f"Resuming {experiment_dir} after epoch {done} of {config['num_epochs']}, "
              f"with its own settings from config.json")
    if config["distribute"] == "multi_worker":
        distribute.work_around_keras_multi_worker(trainer, train_data)
    model.summary()

    # training: every worker trains; only the chief writes checkpoints and logs
    backup_dir = distribute.prepare_backup(experiment_dir, done, chief)
    callbacks = make_callbacks(keras, model, config, backup_dir, chief, before, int(train_data.cardinality()),
                               raise_if_interrupted)
    try:
        # one line per epoch when the output goes to a file, not a bar redrawn after every step
        history = trainer.fit(train_data, validation_data=val_data, epochs=config["num_epochs"],
                            initial_epoch=done, callbacks=callbacks, shuffle=False,  # the dataset shuffles itself
                            verbose=1 if sys.stdout.isatty() else 2)
    except KeyboardInterrupt:
        kept = checkpoints.list_checkpoints(experiment_dir)
        sys.exit(f"\nInterrupted: {len(kept)} complete epoch checkpoints kept in {experiment_dir}/checkpoints; "
                 f"resume with: python train.py --experiment_dir {experiment_dir}")
    finally:
        if not chief:
            shutil.rmtree(os.path.dirname(backup_dir), ignore_errors=True)  # the private copy of the backup
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        kept = checkpoints.list_checkpoints(experiment_dir)
        last = kept[-1][1] if kept else "none"
        sys.exit(f"error: the training loss became NaN; the last good checkpoint is {last}; "
                 f"try a lower --learning_rate or --grad_clip")
    print(f"Done: checkpoints in {experiment_dir}/checkpoints; "
          f"generate with: python sample.py --experiment_dir {experiment_dir}")
    return experiment_dir


if __name__ == "__main__":
    main()
