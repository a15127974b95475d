"""How fast is sampling? The old one-predict-per-step sampler against sample.generate, the piano
rolls, and sample.py end to end against importing Keras.

    python benchmarks/sample_speed.py                                # about 3-4 minutes on 2 cores
    python benchmarks/sample_speed.py --ref_files 2 --ref_steps 10   # a quick smoke run

Every figure is measured in this one run, for a model of train.py's default flags and one of
README's recommended flags (RECOMMENDED), and, for the whole command, the model that ships, so
ratios between them hold even when other work shares the machine. Temporary files (a small copy of the
data, a tiny experiment, the melody cache, generated MIDI) go to a temp folder that is removed at
the end; experiments/ and the user's melody cache are never touched.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this script lives in benchmarks/; the project's modules are one folder up
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up notes quiet

import numpy as np  # noqa: E402

import media  # noqa: E402
import melody_cache  # noqa: E402
import sample  # noqa: E402
import step_encoding  # noqa: E402
import train  # noqa: E402
import utils  # noqa: E402
import yardstick  # noqa: E402

TARGET_SPEEDUP = 300  # sample.generate's first call against the old sampler, at least
TARGET_COMMAND_SECONDS = {"defaults": 15, "recommended": 10}  # the whole default `python sample.py`, under
TARGET_IMPORT_RATIO = {"": 2, " --wav": 3}  # the whole command against `python -c "import keras"`, at most
RECOMMENDED = ["--encoding", "onset", "--rnn_size", "128", "--window_size", "48", "--batch_size", "64",
               "--lookback", "16", "32", "48", "64", "96", "128", "192", "256", "--register", "256",
               "--endings", "--durations", "--repeats"]  # README's recommended model (--normalize_key changes
# the data, not the model; --targets, --batch_size and --learning_rate how it is trained)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the default job, as sample.py runs it
    parser.add_argument("--num_files", type=int, default=10, help="files generated at once (default: %(default)s)")
    parser.add_argument("--file_length", type=int, default=1000, help="length of each file, in sixteenth notes (default: %(default)s)")
    # the old sampler, timed on a shorter job and scaled up
    parser.add_argument("--ref_files", type=int, default=10, help="files the old sampler generates (default: %(default)s)")
    parser.add_argument("--ref_steps", type=int, default=30, help="steps of each file the old sampler generates (default: %(default)s)")
    # the end-to-end run
    parser.add_argument("--train_files", type=int, default=20, help="MIDI files of data/midi copied for the tiny training run (default: %(default)s)")
    parser.add_argument("--skip_command", action="store_true", help="skip (c) and (d), the train.py and sample.py subprocesses")
    return parser.parse_args(argv)


def make_config(flags):
    """train.py's config for these flags, plus the number of classes train.py derives from the encoding."""
    config = vars(train.build_parser().parse_args(flags))
    config["num_classes"] = step_encoding.NUM_CLASSES[config["encoding"]] + config["endings"]
    return config


def window_inputs(melody, window_size, lookback, num_classes, register=0, encoding="roll", durations=False,
                  repeats=False):
    """model.predict's input for the window that ends the melody so far, built in numpy as the
    old design would: one-hot steps, and for a lookback model its features and candidates (and the
    register features of its last `register` steps, with durations how long each step's note or
    rest has lasted, with repeats whether each lookback's phrase has just been played twice)."""
    one_hot = np.eye(num_classes, dtype=np.float32)
    end = len(melody)
    window = melody[end - window_size:]
    if not lookback:
        return one_hot[window][None]  # (1, window_size, num_classes)
    at = np.arange(end - window_size, end)  # each step's index in the melody
    same = np.array([[melody[i] == melody[i - lag] for lag in lookback] for i in at], dtype=np.float32)
    position = ((at[:, None] >> np.arange(utils.POSITION_BITS)) & 1).astype(np.float32)  # binary digits
    features = [one_hot[window], same, position]
    if durations:
        lasted = np.minimum(utils.step_durations(melody, encoding)[at], 2 ** utils.DURATION_BITS - 1)
        features.append(((lasted[:, None] >> np.arange(utils.DURATION_BITS)) & 1).astype(np.float32))
    if repeats:
        features.append(utils.phrases_repeated(utils.repeat_runs(melody, lookback), lookback)[at].astype(np.float32))
    steps = np.concatenate(features, axis=1)
    inputs = {"steps": steps[None], "lookback": one_hot[[melody[end - lag] for lag in lookback]][None]}
    if register:
        inputs["register"] = utils.register_features(np.array(melody[end - register:])[None], num_classes,
                                                     step_encoding.FIRST_PITCH[encoding]).numpy()
    return inputs


def old_generate(model, seeds, file_length, temperature, rng, lookback=(), register=0, encoding="roll", durations=False,
                 repeats=False):
    """The old design: one model.predict per generated step per file, batch 1, on the last window_size steps.

    seeds: (num_files, history + window_size) classes. Returns (num_files, file_length) classes.
    """
    window_size = seeds.shape[1] - utils.history_steps(lookback, register)
    num_classes = model.output_shape[-1]
    generated = []
    for seed in seeds:
        melody = list(seed)
        for _ in range(file_length):
            x = window_inputs(melody, window_size, lookback, num_classes, register, encoding, durations, repeats)
            probabilities = model.predict(x, verbose=0)[0].astype(np.float64) ** (1 / temperature)
            melody.append(rng.choice(num_classes, p=probabilities / probabilities.sum()))
        generated.append(melody[len(seed):])
    return np.array(generated)


def bundled_tunes(count, length, encoding):
    """count stretches of `length` steps of the tunes in data/midi, one tune after another."""
    files = melody_cache.load_melodies(os.path.join(REPO, "data", "midi"), quiet=True,
                                       subset=[f"{name}.mid" for name in ["ashover1", "jigs1", "reelsa-c1", "waltzes1"]])
    steps = np.concatenate(utils.files_to_steps(files, encoding) * count)  # repeated, if they are too few
    return steps[:count * length].reshape(count, length)


def timed(function, *args):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def matmul_gflops(n=1024, repeats=20):
    """The machine's float32 matrix-multiply speed in GFLOP/s: the fastest of repeated (n, n) @ (n, n) products."""
    import tensorflow as tf
    a = tf.random.normal((n, n))
    tf.matmul(a, a).numpy()  # warm up
    fastest = min(timed(lambda: tf.matmul(a, a).numpy())[1] for _ in range(repeats))  # seconds
    return 2 * n ** 3 / fastest / 1e9


def run_command(command, env):
    """Run a command from the repository root; (seconds, output). Exits with its output if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed with exit status {done.returncode}:\n{done.stdout}{done.stderr}")
    return seconds, done.stdout


def time_command(args, tmp, name, flags):
    """(c): train an experiment with these flags for one epoch on a small copy of the data, then time
    the default `python sample.py` on it."""
    env = dict(os.environ)  # MIDI_GENERATOR_CACHE already points into tmp
    data_dir = os.path.join(tmp, "data")
    if not os.path.isdir(data_dir):
        os.makedirs(data_dir)
        for path in melody_cache.find_midi_files(os.path.join(REPO, "data", "midi"))[:args.train_files]:
            shutil.copy(path, data_dir)
    experiment_dir = os.path.join(tmp, f"experiment-{name}")
    seconds, _ = run_command([sys.executable, "train.py", "--data_dir", data_dir, "--experiment_dir", experiment_dir,
                              "--num_epochs", "1", "-m", "benchmarks/sample_speed.py"] + flags, env)
    print(f"  small experiment: train.py {' '.join(flags) or '(defaults)'}, 1 epoch on {args.train_files} files, "
          f"took {seconds:.1f} s")

    # what importing keras alone costs: the floor of any command that loads a model
    import_seconds, _ = run_command([sys.executable, "-c", "import keras"], env)
    for wav in TARGET_IMPORT_RATIO:
        save_dir = os.path.join(tmp, f"generated-{name}{wav.strip()}")
        seconds, _ = run_command([sys.executable, "sample.py", "--experiment_dir", experiment_dir,
                                  "--save_dir", save_dir, "--seed", "0"] + wav.split(), env)
        written = len([name for name in os.listdir(save_dir) if name.endswith(".mid")])
        ratio = seconds / import_seconds
        print(f"  python sample.py --seed 0{wav or ' (default flags)'}: {seconds:.1f} s wall, {written} files written; "
              f"python -c 'import keras' alone: {import_seconds:.1f} s -> {ratio:.1f} times it")
        if not wav:
            verdict = "meets" if seconds < TARGET_COMMAND_SECONDS[name] else "MISSES"
            print(f"  target: under {TARGET_COMMAND_SECONDS[name]} s -> {verdict} it")
        verdict = "meets" if ratio <= TARGET_IMPORT_RATIO[wav] else "MISSES"
        print(f"  target: at most {TARGET_IMPORT_RATIO[wav]} times importing keras -> {verdict} it")


def time_shipped(tmp):
    """(d): the default `python sample.py` (and with --wav) on the model that ships, against importing keras.

    A first, untimed run parses its validation files into the temporary melody cache, as a user's first
    run would once; the timed runs then find them there."""
    env, shipped = dict(os.environ), os.path.join("experiments", "pretrained")
    command = [sys.executable, "sample.py", "--experiment_dir", shipped, "--seed", "0"]
    run_command(command + ["--save_dir", os.path.join(tmp, "shipped-warm")], env)
    import_seconds, _ = run_command([sys.executable, "-c", "import keras"], env)
    for wav in TARGET_IMPORT_RATIO:
        seconds, _ = run_command(command + ["--save_dir", os.path.join(tmp, f"shipped{wav.strip()}")] + wav.split(), env)
        ratio = seconds / import_seconds
        verdict = "meets" if ratio <= TARGET_IMPORT_RATIO[wav] else "MISSES"
        print(f"  python sample.py --experiment_dir {shipped}{wav}: {seconds:.1f} s wall; python -c 'import keras' "
              f"alone: {import_seconds:.1f} s -> {ratio:.1f} times it; target: at most {TARGET_IMPORT_RATIO[wav]} "
              f"times -> {verdict} it")


def measure(args, tmp, name, flags):
    """(a), (b), the arithmetic and (c) for a model of train.py with these flags."""
    import keras

    config = make_config(flags)
    window_size, num_classes, lookback = config["window_size"], config["num_classes"], config["lookback"]
    register, history = config["register"], utils.model_history(config)
    keras.utils.set_random_seed(0)
    model = train.build_model(config)  # untrained weights: the time per step does not depend on them
    print(f"\n== {name}: {config['num_layers']} x {config['cell'].upper()}({config['rnn_size']}), "
          f"window_size {window_size}, {config['encoding']} encoding, {num_classes} classes"
          + (f", lookback {' '.join(map(str, lookback))}" if lookback else "")
          + (f", register {register}" if register else ""))
    rng = np.random.default_rng(0)
    seeds = rng.integers(0, num_classes, size=(args.num_files, history + window_size))
    positions = np.full(args.num_files, history)  # each row's history is the start of its melody
    job_steps = args.num_files * args.file_length  # generated steps in the default job

    # (a) the old sampler on a short job, scaled linearly to the default job
    encoding, durations, repeats = config["encoding"], config["durations"], config.get("repeats", False)
    model.predict(window_inputs(list(seeds[0]), window_size, lookback, num_classes, register, encoding, durations,
                                repeats), verbose=0)  # tracing
    _, seconds = timed(old_generate, model, seeds[:args.ref_files], args.ref_steps, 1.0, rng, lookback, register,
                       encoding, durations, repeats)
    old_per_step = seconds / (args.ref_files * args.ref_steps)  # seconds per generated step per file
    old_total = old_per_step * job_steps
    print(f"(a) old sampler, one model.predict per step, batch 1: {args.ref_files} files x {args.ref_steps} "
          f"steps in {seconds:.1f} s")
    print(f"  {old_per_step * 1000:.1f} ms per step -> {args.num_files} files x {args.file_length} steps: "
          f"{old_total:.0f} s (scaled)")

    # (b) the project's sampler on the default job
    run = lambda length: sample.generate(model, seeds, length, 1.0, rng, lookback, positions, register,  # noqa: E731
                                         encoding=encoding, durations=durations, repeats=repeats)
    generated, first = timed(run, args.file_length)
    _, second = timed(run, args.file_length)
    _, fixed = timed(run, 1)  # tracing and set-up: the same for any length
    loop = max(second - fixed, 1e-9)  # seconds in the compiled loop itself
    print(f"(b) sample.generate, {args.num_files} files x {args.file_length} steps in one batch:")
    print(f"  first call (tracing included, as every run of sample.py pays): {first:.2f} s")
    print(f"  second call (steady state; generate builds a new tf.function, so it traces again): {second:.2f} s")
    print(f"  a 1-step call (tracing and set-up alone): {fixed:.2f} s -> the loop itself: {loop:.2f} s")
    speedup = old_total / first
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
    print(f"Speed-up (a)/(b): {speedup:.0f}x on the first call, {old_total / second:.0f}x on the second; "
          f"target: at least {TARGET_SPEEDUP}x on the first call -> {verdict} it")

    # the piano rolls sample.py draws beside the files, of tunes as a trained model writes them (an
    # untrained one's notes span all 128 pitches): together they must cost less than the loop
    tunes = bundled_tunes(args.num_files, window_size + args.file_length, config["encoding"])
    _, drawing = timed(lambda: [media.steps_to_png(os.path.join(tmp, f"{name}-{i}.png"), tune[:window_size],
                                                   tune[window_size:], config["encoding"], title="benchmark")
                                for i, tune in enumerate(tunes)])
    verdict = "meets" if drawing < loop else "MISSES"
    print(f"Piano rolls of {args.num_files} files of bundled tunes (media.steps_to_png): {drawing:.2f} s, "
          f"{drawing / args.num_files * 1000:.0f} ms each; target: less than the loop's {loop:.2f} s -> {verdict} it")

    # arithmetic: every generated step runs the LSTM over window_size steps for each file, then the dense layers
    rnn_size, batch, features = config["rnn_size"], args.num_files, model.inputs[0].shape[-1]
    lstm_flop = 2 * (window_size * batch) * ((features + rnn_size) * 4 * rnn_size)  # per generated step
    dense_flop = 2 * batch * rnn_size * (num_classes + len(lookback) + 2 * bool(register))  # per generated step
    gflop = (lstm_flop + dense_flop) * args.file_length / 1e9
    print(f"Arithmetic: {gflop:.1f} GFLOP for the default job ({lstm_flop / 1e6:.2f} MFLOP LSTM + "
          f"{dense_flop / 1e6:.2f} MFLOP dense per step); {gflop / loop:.1f} GFLOP/s over the loop alone")

    # (c) the whole command, as a user runs it
    if not args.skip_command:
        print(f"(c) the whole command, in a subprocess (cache and experiment under {tmp}):")
        time_command(args, tmp, name, flags)
    return gflop / loop


def main(argv=None):
    args = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="sample_speed-")
    os.environ["MIDI_GENERATOR_CACHE"] = os.path.join(tmp, "cache")  # for this process and every subprocess
    try:
        rates = [measure(args, tmp, name, flags) for name, flags in [("defaults", []), ("recommended", RECOMMENDED)]]
        if not args.skip_command:
            print("(d) the whole command on the model that ships, in a subprocess:")
            time_shipped(tmp)
        peak = matmul_gflops()
        print(f"\nThis machine's float32 matmul (1024 x 1024, TensorFlow, best of 20): {peak:.1f} GFLOP/s; the loops run "
              f"at {rates[0] / peak:.0%} (defaults) and {rates[1] / peak:.0%} (recommended) of it")
        print(yardstick.describe_yardstick(yardstick.measure_yardstick()))  # this machine, now: times are relative to it
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
