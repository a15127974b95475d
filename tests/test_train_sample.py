"""End to end: train.py then sample.py on tiny data with a tiny model."""
import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest

import checkpoints
import media
import melody_cache
import midi_notes
import sample
import step_encoding
import tensorflow_start
import train
import utils
from conftest import notes_of, scale_melody, write_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--rnn_size", "8", "--window_size", "8", "--batch_size", "16"]


@pytest.fixture
def trained(melody_dir, tmp_path):
    """A tiny experiment trained for 2 epochs on 6 files."""
    experiment = str(tmp_path / "exp")
    train.main(["--data_dir", melody_dir, "--experiment_dir", experiment, "--num_epochs", "2", "-m", "tiny run"] + TINY)
    return experiment


def test_train_writes_a_self_describing_experiment(trained, melody_dir):
    names = sorted(os.listdir(os.path.join(trained, "checkpoints")))
    assert names[:2] == ["epoch001-val_loss" + names[0][17:], "epoch002-val_loss" + names[1][17:]]
    assert [e for e, _ in checkpoints.list_checkpoints(trained)] == [1, 2]
    config = checkpoints.load_config(trained)
    for flag, value in vars(train.parse_args([])[0]).items():
        assert flag in config, flag
    assert config["window_size"] == 8 and config["num_classes"] == 129 and config["data_dir"] == melody_dir
    assert len(config["files"]["train"]) == 5 and len(config["files"]["validation"]) == 1
    with open(os.path.join(trained, "message.txt")) as f:
        assert f.read() == "tiny run\n"
    with open(os.path.join(trained, "history.csv")) as f:
        assert len(f.read().strip().splitlines()) == 3  # header + 2 epochs
    assert os.listdir(os.path.join(trained, "tensorboard-logs"))


def test_sample_writes_playable_files_on_the_grid(trained):
    written = sample.main(["--experiment_dir", trained, "--num_files", "3", "--file_length", "40", "--seed", "1",
                           "--midi_instrument", "Flute", "--tempo", "90"])
    assert [os.path.basename(p) for p in written] == ["1.mid", "2.mid", "3.mid"]
    for path in written:
        midi = pretty_midi.PrettyMIDI(path)
        assert midi.get_tempo_changes()[1].tolist() == [pytest.approx(90.0, abs=1e-3)]  # whole microseconds
        (instrument,) = midi.instruments
        assert instrument.program == pretty_midi.instrument_name_to_program("Flute")
        sixteenth = midi.resolution // 4  # ticks
        for note in instrument.notes:
            assert midi.time_to_tick(note.start) % sixteenth == 0 and midi.time_to_tick(note.end) % sixteenth == 0
        step = 60 / 90 / 4
        assert instrument.notes[-1].end <= 40 * step + 1e-6


def test_sample_never_overwrites_earlier_files(trained):
    first = sample.main(["--experiment_dir", trained, "--num_files", "2", "--file_length", "16", "--seed", "1"])
    before = [open(p, "rb").read() for p in first]
    second = sample.main(["--experiment_dir", trained, "--num_files", "2", "--file_length", "16", "--seed", "2"])
    assert [os.path.basename(p) for p in second] == ["3.mid", "4.mid"]
    assert [open(p, "rb").read() for p in first] == before


def test_same_seed_gives_identical_files(trained, tmp_path):
    args = ["--experiment_dir", trained, "--num_files", "2", "--file_length", "50", "--seed", "7"]
    a = sample.main(args + ["--save_dir", str(tmp_path / "a")])
    b = sample.main(args + ["--save_dir", str(tmp_path / "b")])
    c = sample.main(["--experiment_dir", trained, "--num_files", "2", "--file_length", "50", "--seed", "8",
                     "--save_dir", str(tmp_path / "c")])
    read = lambda paths: [open(p, "rb").read() for p in paths]  # noqa: E731
    assert read(a) == read(b)
    assert read(a) != read(c)


@pytest.mark.parametrize("cell,num_layers", [("lstm", 2), ("gru", 1), ("rnn", 1)])
def test_sampler_probabilities_match_model_predict_on_each_window(cell, num_layers):
    import keras
    import tensorflow as tf
    config = {"cell": cell, "num_layers": num_layers, "rnn_size": 8, "window_size": 5, "num_classes": 129,
              "dropout": 0.2, "grad_clip": 5.0, "learning_rate": None, "optimizer": "adam"}
    keras.utils.set_random_seed(0)
    model = train.build_model(config)
    for w in model.weights:  # make the model far from uniform so a wrong window would show
        w.assign(np.random.default_rng(1).normal(0, 0.8, w.shape))
    seeds = np.random.default_rng(2).integers(0, 129, (3, 5))
    generated = sample.generate(model, seeds, 12, 1.0, np.random.default_rng(3))
    melody = np.concatenate([seeds, generated], axis=1)
    windows = np.stack([melody[:, t:t + 5] for t in range(12)], axis=1).reshape(-1, 5)
    expected = model.predict(np.eye(129, dtype="float32")[windows], verbose=0)
    # the sampler's probabilities: the same loop's softmax, read back through temperature 1 logits
    cells = [layer.cell for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    got = []
    for row in windows:
        states = [c.get_initial_state(1) for c in cells]
        states = [s if isinstance(s, (list, tuple)) else [s] for s in states]
        for token in row:
            x = tf.one_hot([token], 129)
            for i, c in enumerate(cells):
                x, new = c(x, states[i])
                states[i] = new if isinstance(new, (list, tuple)) else [new]
        got.append(tf.nn.softmax(x @ model.layers[-1].kernel + model.layers[-1].bias)[0])
    np.testing.assert_allclose(np.array(got), expected, atol=1e-5)
    # and the tokens drawn are exactly those inverse-CDF sampling gives on model.predict's output
    u = np.random.default_rng(3).random((12, 3), dtype=np.float32).T.reshape(-1)
    cdf = np.cumsum(expected, axis=1)
    drawn = np.minimum((cdf < (u * cdf[:, -1])[:, None]).sum(axis=1), 128)
    assert np.mean(drawn == generated.reshape(-1)) > 0.97  # float32 ties at a CDF edge may differ


def test_temperature_zero_always_takes_the_most_likely_step(trained):
    import keras
    model = keras.saving.load_model(checkpoints.list_checkpoints(trained)[-1][1])
    seeds = np.random.default_rng(0).integers(0, 129, (2, 8))
    generated = sample.generate(model, seeds, 6, 0.0, np.random.default_rng(0))
    melody = np.concatenate([seeds, generated], axis=1)
    for t in range(6):
        p = model.predict(np.eye(129, dtype="float32")[melody[:, t:t + 8]], verbose=0)
        assert p.argmax(axis=1).tolist() == generated[:, t].tolist()


def test_sample_uses_the_latest_experiment_by_number(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("experiments")
    os.rename(trained, "experiments/09")
    os.makedirs("experiments/10")  # a folder that is not an experiment is passed over
    config = checkpoints.load_config("experiments/09")
    assert checkpoints.find_experiment(None)[0] == os.path.join("experiments", "09")
    os.makedirs("experiments/11")
    with open("experiments/11/config.json", "w") as f:
        json.dump(config, f)
    with pytest.raises(SystemExit, match="experiments/11 has no checkpoint yet"):
        checkpoints.find_experiment(None)


def test_sample_says_when_the_latest_checkpoint_is_not_the_best_and_evaluate_takes_the_same_flag(trained, capsys):
    import evaluate
    first, second = [path for _, path in checkpoints.list_checkpoints(trained)]
    best = first.replace(first[first.index("val_loss"):], "val_loss0.0001.keras")  # epoch 1 now looks best
    os.rename(first, best)
    flags = ["--experiment_dir", trained, "--num_files", "1", "--file_length", "4", "--seed", "1"]
    sample.main(flags)
    out = capsys.readouterr().out
    assert f"from {second}" in out
    (hint,) = [line for line in out.splitlines() if "not the best" in line]
    assert "(epoch 1, 0.0001)" in hint and hint.endswith("pass --checkpoint best")
    sample.main(flags + ["--checkpoint", "best"])
    out = capsys.readouterr().out
    assert f"from {best}" in out and "not the best" not in out
    assert evaluate.main(["--experiment_dir", trained, "--checkpoint", "1"])["checkpoint"] == best
    for which, message in [("3", f"{trained} has no checkpoint of epoch 3; it has epochs 1-2: pass one of them"),
                           ("last", "--checkpoint must be latest, best or an epoch number, got 'last'")]:
        with pytest.raises(SystemExit) as raised:
            sample.main(flags + ["--checkpoint", which])
        assert str(raised.value.code) == "error: " + message + (" to --checkpoint" if which == "3" else "")


def test_scripts_print_only_their_own_lines_and_one_line_per_epoch_to_a_file(melody_dir, tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    experiment = str(tmp_path / "exp")
    runs = [["train.py", "--data_dir", melody_dir, "--experiment_dir", experiment, "--num_epochs", "2"] + TINY,
            ["sample.py", "--experiment_dir", experiment, "--num_files", "1", "--file_length", "8"]]
    outputs = []
    for args in runs:
        result = subprocess.run([sys.executable] + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        stderr = result.stderr.splitlines()
        if any(os.path.exists(p) for p in tensorflow_start.NVIDIA_DEVICES):  # there, TensorFlow's CUDA errors are kept
            stderr = [line for line in stderr if not re.search("|".join(tensorflow_start.NO_GPU_NOTES), line)]
        assert stderr == []
        outputs.append(result.stdout)
    epochs = outputs[0][outputs[0].index("Epoch 1/2\n"):].splitlines()[:4]
    assert "\r" not in outputs[0] and epochs[2] == "Epoch 2/2"
    assert all(re.match(r"^\d+/\d+ - \d+s - .* - val_loss: ", line) for line in epochs[1::2])


def test_sample_writes_a_piano_roll_beside_each_file_and_audio_on_request(trained, tmp_path):
    import wave
    written = sample.main(["--experiment_dir", trained, "--num_files", "2", "--file_length", "32", "--seed", "1",
                           "--tempo", "120", "--wav", "--save_dir", str(tmp_path / "out")])
    for path in written:
        with open(path[:-4] + ".png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        with wave.open(path[:-4] + ".wav") as f:
            seconds = f.getnframes() / f.getframerate()
        last_end = pretty_midi.PrettyMIDI(path).get_end_time()
        assert last_end - 0.01 <= seconds <= 32 * 0.125 + 2  # the whole melody, plus a release tail
    assert sorted(os.listdir(tmp_path / "out")) == ["1.json", "1.mid", "1.png", "1.wav", "2.json", "2.mid", "2.png", "2.wav",
                                                    "index.html"]


def test_prime_file_seeds_every_melody(trained, tmp_path, monkeypatch):
    prime = write_midi(tmp_path / "prime.mid", [[(s, s + 1, 40) for s in range(12)]])  # a low E, repeated
    seen = []
    real = sample.generate
    monkeypatch.setattr(sample, "generate", lambda model, seeds, *a, **kw: seen.append(seeds) or real(model, seeds, *a, **kw))
    sample.main(["--experiment_dir", trained, "--num_files", "2", "--file_length", "8", "--seed", "3",
                 "--prime_file", prime, "--save_dir", str(tmp_path / "out")])
    (seeds,) = seen
    assert seeds.shape == (2, 8) and np.all(seeds == 40 + 1)  # roll class of pitch 40
    assert sorted(os.listdir(tmp_path / "out")) == ["1.json", "1.mid", "1.png", "2.json", "2.mid", "2.png", "index.html"]
    assert media.load_origin(str(tmp_path / "out" / "1.mid"))["seed_melody"] == prime


# ----------------------------------------------------------------------------
# --lookback: a model that sees, and may copy, the steps a bar or more before

LOOKBACK = ["--encoding", "onset", "--lookback", "3", "7"]


@pytest.mark.parametrize("register", [0, 12])
def test_lookback_model_trains_resumes_and_round_trips_through_its_checkpoint(melody_dir, tmp_path, register):
    import keras
    experiment = str(tmp_path / "exp")
    train.main(["--data_dir", melody_dir, "--experiment_dir", experiment, "--num_epochs", "1"] + TINY + LOOKBACK
               + ["--register", str(register)])
    with open(os.path.join(experiment, "config.json")) as f:
        assert (json.load(f)["lookback"], utils.model_history(checkpoints.load_config(experiment))) == ([3, 7], register or 7)
    train.main(["--experiment_dir", experiment, "--num_epochs", "2"])  # resumes from epoch 1
    (_, first), (_, second) = checkpoints.list_checkpoints(experiment)
    model = keras.saving.load_model(second, safe_mode=True)  # stock layers only: no registration, no code
    config = checkpoints.load_config(experiment)
    assert config["meters"] == ["4/4"]  # a lookback model reads the meters of its training melodies
    steps, starts, positions = utils.make_windows([np.arange(2, 40, dtype=np.uint8)], 8, utils.model_history(config),
                                                  meters=[(16, 0, 0)])
    data = utils.make_dataset(steps, starts, 8, 16, 130, lookback=[3, 7], register=register, positions=positions,
                              meters=1)
    before = keras.saving.load_model(first, safe_mode=True).predict(data, verbose=0)
    after = model.predict(data, verbose=0)
    assert np.allclose(after.sum(axis=1), 1, atol=1e-5) and not np.allclose(before, after)  # epoch 2 trained on
    assert model.inputs[0].shape[1:] == (8, 130 + 2 + utils.position_width(1)) and config["num_classes"] == 130
    assert [tuple(i.shape[1:]) for i in model.inputs[1:]] == [(2, 130)] + [(2, 130)] * bool(register)
    written = sample.main(["--experiment_dir", experiment, "--num_files", "2", "--file_length", "40", "--seed", "1"])
    assert len(written) == 2 and all(midi_notes.midi_to_notes(path)[0] for path in written)


@pytest.mark.parametrize("meters, durations, repeats, form_bars", [(None, False, False, 16),
                                                                  (["4/4", "6/8", "3/4"], False, False, 64),
                                                                  (["4/4"], True, True, 32)])
@pytest.mark.parametrize("register", [0, 9])
@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_lookback_sampler_draws_what_model_predict_gives_on_each_window(temperature, register, meters, durations,
                                                                        repeats, form_bars):
    import keras
    lookback, window_size, length = [3, 7], 5, 12
    config = {"cell": "lstm", "num_layers": 1, "rnn_size": 8, "window_size": window_size, "num_classes": 130,
              "dropout": 0.2, "grad_clip": 5.0, "learning_rate": None, "optimizer": "adam", "lookback": lookback,
              "register": register, "meters": meters, "durations": durations,
              "repeats": repeats, "form_bars": form_bars}
    # with three meters, each file in its own (4/4, 6/8, 3/4); else all in 4/4
    bars, meter_ids = ((np.array([16, 12, 12]), np.array([0, 1, 2])) if meters and len(meters) == 3
                       else (np.full(3, 16), np.zeros(3, int)))
    # with three meters, the windows cross the form's last bar line, where its last 16 bars begin to count again
    offset = (form_bars - 1) * bars - 3 if meters and len(meters) == 3 else np.zeros(3, int)
    history = utils.model_history(config)
    keras.utils.set_random_seed(0)
    model = train.build_model(config)
    for w in model.weights:  # far from uniform, and copy gates that matter, so a wrong input would show
        w.assign(np.random.default_rng(1).normal(0, 0.8, w.shape))
    seeds = np.random.default_rng(2).integers(0, 130, (3, history + window_size))
    if durations:  # rests and holds that go on for several steps, so that lengths grow
        seeds[:, ::2] = np.random.default_rng(4).integers(0, 2, seeds[:, ::2].shape)
        dense = model.get_layer("next_step")
        dense.bias.assign(dense.bias.numpy() + np.where(np.arange(130) < 2, 4.0, 0.0))
    if repeats:  # mostly rests, so that phrases played twice in a row come up in what is generated too, and
        # flags that weigh on every gate of the LSTM, so that a wrong flag changes what is drawn
        dense.bias.assign(dense.bias.numpy() + np.where(np.arange(130) == 0, 3.0, 0.0))
        lstm = next(layer for layer in model.layers if isinstance(layer, keras.layers.LSTM))
        lstm.cell.kernel.assign(np.concatenate([lstm.cell.kernel.numpy()[:-len(lookback)],
                                                8 * lstm.cell.kernel.numpy()[-len(lookback):]]))
    generated = sample.generate(model, seeds, length, temperature, np.random.default_rng(3), lookback,
                                positions=history + offset, register=register,
                                meters=(bars, meter_ids, len(meters)) if meters else None, encoding="onset",
                                durations=durations, repeats=repeats, form_bars=form_bars)
    # model.predict on every window the sampler saw, cut from each whole melody as training cuts them
    expected, flags = [], []  # flags: (steps, K) phrases_repeated of each window step, and of those generated
    for r, row in enumerate(np.concatenate([seeds, generated], axis=1).astype(np.uint8)):
        starts = np.arange(history, history + length)  # the window before generated step t starts at history + t
        positions = utils.position_code(np.arange(len(row)) + offset[r], bars[r], meter_ids[r]) if meters else None
        data = utils.make_dataset(row, starts, window_size, 64, 130, lookback=lookback, register=register,
                                  positions=positions, meters=len(meters) if meters else 0, form_bars=form_bars,
                                  encoding="onset", durations=durations, repeats=repeats)
        flags.append(utils.phrases_repeated(utils.repeat_runs(row, lookback), lookback)[history:])
        expected.append(model.predict(data, verbose=0))
    expected = np.concatenate(expected)  # (3 * length, 130)
    if repeats:  # phrases played twice in a row, and not, both read: the flags are exercised
        assert np.concatenate(flags).any() and not np.concatenate(flags).all()
    if temperature == 0:
        assert np.array_equal(expected.argmax(axis=1), generated.reshape(-1))
    else:
        u = np.random.default_rng(3).random((length, 3), dtype=np.float32).T.reshape(-1)
        cdf = np.cumsum(expected, axis=1)
        drawn = np.minimum((cdf < (u * cdf[:, -1])[:, None]).sum(axis=1), 129)
        assert np.mean(drawn == generated.reshape(-1)) > 0.97  # float32 ties at a CDF edge may differ


# ----------------------------------------------------------------------------
# what sample.py writes beside the melodies, and the model that ships


def test_each_file_records_what_made_it_and_the_page_keeps_every_run(trained, melody_dir, tmp_path, monkeypatch):
    seen = []
    real = sample.generate
    monkeypatch.setattr(sample, "generate", lambda model, seeds, *a, **kw: seen.append(seeds) or real(model, seeds, *a, **kw))
    out = str(tmp_path / "out")
    sample.main(["--experiment_dir", trained, "--num_files", "3", "--file_length", "16", "--seed", "5", "--save_dir", out])
    sample.main(["--experiment_dir", trained, "--num_files", "2", "--file_length", "16", "--seed", "6", "--save_dir", out,
                 "--temperature", "0.5"])
    (checkpoint,) = [os.path.basename(p) for e, p in checkpoints.list_checkpoints(trained) if e == 2]
    for number, seed_window in zip(range(1, 6), np.concatenate(seen)):
        origin = media.load_origin(os.path.join(out, f"{number}.mid"))
        assert origin["experiment_dir"] == trained and origin["checkpoint"] == checkpoint
        assert (origin["seed"], origin["temperature"]) == ((5, 1.0) if number <= 3 else (6, 0.5))
        # the seed window is the named validation file's melody from the named step
        (melody,), _ = step_encoding.midi_to_steps(origin["seed_melody"])
        assert os.path.dirname(origin["seed_melody"]) == melody_dir
        assert np.array_equal(melody[origin["seed_melody_step"]:][:8], seed_window)
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        page = f.read()
    assert all(f'href="{n}.mid"' in page for n in range(1, 6)) and "temperature <b>1.0</b>" in page


@pytest.mark.parametrize("history", [0, 7])
def test_window_sources_name_the_melody_and_step_each_window_comes_from(history):
    rng = np.random.default_rng(0)
    melodies = [rng.integers(2, 130, n).astype(np.uint8) for n in [30, 5, 41, 12]]  # 5 is too short for a window
    names = ["a.mid", "b.mid", "c.mid", "c.mid"]
    steps, starts = utils.make_windows(melodies, 8, history)
    sources = sample.find_window_sources(melodies, names, 8, starts, starts)
    by_name = {"a.mid": [melodies[0]], "c.mid": [melodies[2], melodies[3]]}
    for start, source in zip(starts, sources):
        window = steps[start:start + 8]
        step = source["seed_melody_step"]
        assert any(np.array_equal(m[step:step + 8], window) for m in by_name[source["seed_melody"]])
    assert [s["seed_melody"] for s in sources].count("c.mid") == (41 - 8) + (12 - 8)


def test_shipped_model_loads_in_safe_mode_matches_the_code_and_samples_from_its_validation_files(tmp_path, monkeypatch):
    import keras
    monkeypatch.chdir(ROOT)  # as on a fresh clone: its config names data/midi
    shipped = checkpoints.SHIPPED_EXPERIMENT
    ((_, checkpoint),) = checkpoints.list_checkpoints(shipped)  # one checkpoint, the one sample.py picks
    model = keras.saving.load_model(checkpoint, safe_mode=True, compile=False)
    config = checkpoints.load_config(shipped)
    assert config["num_classes"] == step_encoding.NUM_CLASSES[config["encoding"]] + config.get("endings", False)
    assert config["steps_per_quarter"] == midi_notes.STEPS_PER_QUARTER
    built = train.build_model(config)  # what this code makes of the config: the same inputs and output
    assert [tuple(x.shape) for x in model.inputs] == [tuple(x.shape) for x in built.inputs]
    assert model.output_shape == built.output_shape == (None, config["num_classes"])
    tracked = [os.path.join(shipped, name) for name in ["config.json", "history.csv", "message.txt"]] + [checkpoint]
    assert sum(os.path.getsize(path) for path in tracked) < 5 * 2**20  # small enough to keep in git
    written = sample.main(["--experiment_dir", shipped, "--num_files", "2", "--file_length", "32", "--seed", "0",
                           "--save_dir", str(tmp_path / "out")])
    for path in written:
        assert os.path.dirname(media.load_origin(path)["seed_melody"]) == "data/midi"
        assert pretty_midi.PrettyMIDI(path).instruments[0].notes


# ----------------------------------------------------------------------------
# which melodies an experiment learns: --polyphony, --tracks, --normalize_key, data.csv

D_MAJOR = [62, 64, 66, 67, 69, 71, 73, 74]


def d_major_piano(length):
    """One piano track: eighth notes walking a D major scale over held D major chords."""
    tune = [(s, s + 2, D_MAJOR[(s // 2) % 8] + 12) for s in range(0, length, 2)]
    return tune + [(bar, bar + 16, p) for bar in range(0, length, 16) for p in (50, 54, 57)]


@pytest.fixture
def mixed_dir(tmp_path):
    """Piano pieces with chords, a band file (bass, lead, drums), a tune too short, a broken file."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(4):
        write_midi(folder / f"piano{i}.mid", [d_major_piano(64 + 16 * i)])
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    for name, is_drum, notes in [("Bass", False, [(s, s + 2, 38) for s in range(0, 64, 2)]),
                                 ("Flute", False, [(s, s + 4, 74 + s % 5) for s in range(0, 64, 4)]),
                                 ("Drums", True, [(s, s + 1, 36) for s in range(0, 64, 4)])]:
        instrument = pretty_midi.Instrument(0, is_drum=is_drum, name=name)
        instrument.notes += [pretty_midi.Note(100, p, s * 0.125, e * 0.125) for s, e, p in notes]
        midi.instruments.append(instrument)
    midi.write(str(folder / "band.mid"))
    write_midi(folder / "short.mid", [[(0, 2, 60), (2, 4, 62)]])
    (folder / "broken.mid").write_bytes(b"not midi")
    return str(folder)


def test_experiment_records_its_melody_options_and_lists_every_track_with_its_reason(mixed_dir, tmp_path):
    experiment = train.main(["--data_dir", mixed_dir, "--experiment_dir", str(tmp_path / "exp"), "--num_epochs", "1",
                             "--polyphony", "highest", "--tracks", "lead", "--normalize_key"] + TINY)
    config = checkpoints.load_config(experiment)
    assert (config["polyphony"], config["tracks"], config["normalize_key"]) == ("highest", "lead", True)
    with open(os.path.join(experiment, "data.csv")) as f:
        rows = [(r["file"], r["track"], r["used"], r["reason"]) for r in csv.DictReader(f)]
    assert sorted(rows) == sorted(
        [(f"piano{i}.mid", "0", "yes", "polyphonic, highest notes kept") for i in range(4)]
        + [("band.mid", "0", "no", "not the lead"), ("band.mid", "1", "yes", "monophonic"),
           ("band.mid", "2", "no", "drum track"),
           ("short.mid", "0", "no", "monophonic, but no longer than the window of 8 steps"),
           ("broken.mid", "", "no", "file skipped: not a MIDI file (no MThd header)")])
    # the melodies learned: the piano's top line, moved from D major to C major
    (piano,) = [f for f in melody_cache.load_melodies(mixed_dir, quiet=True, **midi_notes.melody_options(config))
                if f["path"] == "piano0.mid"]
    assert piano["melodies"][0][:8, 2].tolist() == [p + 10 for p in D_MAJOR]  # C5 major, not D5


def test_prime_file_and_evaluate_use_the_experiments_polyphony(mixed_dir, tmp_path, monkeypatch):
    experiment = train.main(["--data_dir", mixed_dir, "--experiment_dir", str(tmp_path / "exp"), "--num_epochs", "1",
                             "--polyphony", "highest"] + TINY)
    prime = write_midi(tmp_path / "prime.mid", [[(0, 16, 48), (0, 16, 52)]])  # one long chord
    seen = []
    real = sample.generate
    monkeypatch.setattr(sample, "generate", lambda model, seeds, *a, **kw: seen.append(seeds) or real(model, seeds, *a, **kw))
    sample.main(["--experiment_dir", experiment, "--num_files", "1", "--file_length", "8", "--seed", "1",
                 "--prime_file", prime])
    assert np.all(seen[0] == 52 + 1)  # the chord's top note, roll class
    import evaluate
    results = evaluate.main(["--experiment_dir", experiment, "--data_dir", mixed_dir])
    windows = checkpoints.load_config(experiment)["windows"]  # the piano pieces' too, which discard would drop
    assert results["windows_total"] == windows["train"] + windows["validation"]


def test_sample_writes_the_key_it_is_asked_for(trained, tmp_path, monkeypatch):
    tune = np.array([p + 1 for p in D_MAJOR for _ in range(2)], np.uint8)  # roll classes, D major
    monkeypatch.setattr(sample, "generate", lambda model, seeds, file_length, *a, **kw: np.tile(tune, (len(seeds), 4)))
    written = sample.main(["--experiment_dir", trained, "--num_files", "2", "--file_length", "64", "--seed", "1",
                           "--key", "E minor", "--save_dir", str(tmp_path / "out")])
    for path in written:
        pitches = [n.pitch for n in pretty_midi.PrettyMIDI(path).instruments[0].notes]
        assert pitches[:8] == [p + 5 for p in D_MAJOR]  # E minor has the notes of G major: D moves up to G
    with pytest.raises(SystemExit, match="error: --key 'E dorian' is not a key"):
        sample.main(["--experiment_dir", trained, "--key", "E dorian"])


@pytest.mark.parametrize("cell,lookback", [("lstm", []), ("gru", []), ("lstm", [16])])
def test_recurrent_layers_keep_the_fused_gpu_kernel(cell, lookback):
    import keras
    config = {"cell": cell, "num_layers": 2, "rnn_size": 8, "window_size": 5, "num_classes": 129, "dropout": 0.2,
              "grad_clip": 5.0, "learning_rate": None, "optimizer": "adam", "lookback": lookback}
    layers = [layer for layer in train.build_model(config).layers if isinstance(layer, keras.layers.RNN)]
    assert len(layers) == 2
    for layer in layers:  # what Keras needs to run the layer on cuDNN's fused kernel when a GPU is visible
        options = layer.get_config()
        assert options["activation"] == "tanh" and options["recurrent_activation"] == "sigmoid"
        assert options["recurrent_dropout"] == 0 and not options["unroll"] and options["use_bias"]
        assert layer.use_cudnn == "auto" and options.get("reset_after", True)


def test_continue_file_writes_the_whole_opening_then_what_the_model_writes_after_its_last_window(trained, tmp_path,
                                                                                                  monkeypatch):
    opening = write_midi(tmp_path / "opening.mid", [scale_melody(24, offset=3)])
    seen = []
    real = sample.generate
    monkeypatch.setattr(sample, "generate", lambda model, seeds, *a, **kw: seen.append((seeds, kw)) or real(model, seeds, *a, **kw))
    written = sample.main(["--experiment_dir", trained, "--continue_file", opening, "--num_files", "2",
                           "--file_length", "40", "--seed", "0", "--save_dir", str(tmp_path / "out")])
    (given,) = notes_of(opening)
    (seeds, options), = seen
    assert np.all(seeds == step_encoding.notes_to_steps(given)[-8:])  # the opening's last window, in every file
    assert options["positions"].tolist() == [24 - 8] * 2  # where that window stands in the tune
    for path in written:
        (melody,), _ = midi_notes.midi_to_notes(path)
        assert melody[:len(given) - 1].tolist() == given[:-1].tolist()  # note for note; the last may be held on
        assert melody[len(given) - 1, [0, 2]].tolist() == given[-1, [0, 2]].tolist()
        assert melody[-1, 1] <= 24 + 40
        assert media.load_origin(path)["continue_file"] == opening


def test_continue_file_is_heard_in_c_by_a_normalize_key_model_and_written_back_in_its_own_key(melody_dir, tmp_path,
                                                                                              monkeypatch):
    experiment = str(tmp_path / "exp")
    train.main(["--data_dir", melody_dir, "--experiment_dir", experiment, "--num_epochs", "1", "--normalize_key"] + TINY)
    in_d = [(s, e, p + 2) for s, e, p in scale_melody(24)]  # D major
    opening = write_midi(tmp_path / "opening.mid", [in_d])
    seen = []
    real = sample.generate
    monkeypatch.setattr(sample, "generate", lambda model, seeds, *a, **kw: seen.append(seeds) or real(model, seeds, *a, **kw))
    written = sample.main(["--experiment_dir", experiment, "--continue_file", opening, "--num_files", "2",
                           "--file_length", "40", "--seed", "0", "--save_dir", str(tmp_path / "out")])
    (given,) = notes_of(opening)
    in_c = given - [0, 0, 2]
    assert np.all(seen[0] == step_encoding.notes_to_steps(in_c)[-8:])  # the model hears it in C major
    for path in written:
        (melody,), _ = midi_notes.midi_to_notes(path)
        assert melody[:len(given) - 1].tolist() == given[:-1].tolist()  # written back in D, note for note


def test_an_opening_shorter_than_the_window_is_a_one_line_error_saying_how_long_it_must_be(trained, tmp_path):
    short = write_midi(tmp_path / "short.mid", [scale_melody(6)])
    with pytest.raises(SystemExit) as raised:
        sample.main(["--experiment_dir", trained, "--continue_file", short, "--save_dir", str(tmp_path / "out")])
    message = str(raised.value.code)
    assert "gives 6 sixteenth notes" in message and "at least that long" in message and "8 before" in message
    assert "\n" not in message and not os.path.exists(tmp_path / "out")
