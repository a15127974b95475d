"""Never lose work, never hang: bad input, bad flags, interruption and resume."""
import os
import shutil
import signal
import subprocess
import sys
import time

import hypothesis.strategies as st
import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import checkpoints
import midi_notes
import sample
import step_encoding
import train
from conftest import error_of, scale_melody, shared, write_midi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--rnn_size", "8", "--window_size", "8", "--batch_size", "16"]


def run_script(args, env_cache, timeout=120):
    """Run a script as a user would; returns the finished process."""
    env = dict(os.environ, MIDI_GENERATOR_CACHE=env_cache, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


# ----------------------------------------------------------------------------
# bad input


def test_bad_and_corrupt_files_are_skipped_and_training_completes(melody_dir, tmp_path, capsys):
    for folder in ["bad", "corrupt-realworld"]:
        shutil.copytree(shared(folder), os.path.join(melody_dir, folder))
    experiment = train.main(["--data_dir", melody_dir, "--experiment_dir", str(tmp_path / "exp"),
                             "--num_epochs", "1"] + TINY)
    out = capsys.readouterr().out
    assert len(checkpoints.list_checkpoints(experiment)) == 1
    skipped = [line for line in out.splitlines() if line.startswith("  skipped ")]
    assert len(skipped) == 10 and all(": " in line for line in skipped)
    for name in ["01_zero_bytes.mid", "02_random_bytes.mid", "07_drums_only_ch10.mid",
                 "08_fully_polyphonic_piano.mid", "18a_tick_over_1e7_rejected.mid"]:
        assert sum(name in line for line in skipped) == 1, name
    recovered = [line for line in out.splitlines() if line.startswith("  recovered ")]
    assert len(recovered) == 5  # 17_data_byte_over_127.mid and the 4 real-world files, clipped
    assert "5 recovered" in out and "10 skipped" in out


def test_folder_with_no_usable_melody_stops_at_once_with_a_clear_message(tmp_path):
    data = tmp_path / "unusable"
    data.mkdir()
    (data / "noise.mid").write_bytes(os.urandom(300))
    write_midi(data / "drums.mid", [scale_melody(64)], is_drum=True)
    write_midi(data / "chords.mid", [[(s, s + 4, 60) for s in range(0, 64, 4)] + [(s, s + 4, 64) for s in range(0, 64, 4)]])
    write_midi(data / "short.mid", [scale_melody(6)])
    result = run_script(["train.py", "--data_dir", str(data), "--experiment_dir", str(tmp_path / "exp")],
                        str(tmp_path / "cache"), timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    (message,) = result.stderr.strip().splitlines()
    assert message.startswith("error: no melody under") and "--window_size" in message
    assert not os.path.exists(tmp_path / "exp")  # nothing is left behind


def test_a_file_too_long_for_memory_is_refused_before_allocating(tmp_path):
    # 2 notes, 300,000 sixteenth notes apart: a roll of it would be mostly silence
    path = write_midi(tmp_path / "long.mid", [[(0, 1, 60), (300_000, 300_001, 62)]], resolution=8)
    melodies, info = midi_notes.midi_to_notes(path)
    assert melodies == [] and "over the 200000 limit" in info["skipped"]


def test_a_file_with_too_many_notes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(midi_notes, "MAX_NOTES", 20)
    melodies, info = midi_notes.midi_to_notes(write_midi(tmp_path / "many.mid", [scale_melody(64)]))
    assert melodies == [] and "32 notes, over the 20 limit" in info["skipped"]


midi_bytes = st.binary(max_size=400)
note_lists = st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 400), st.integers(0, 127),
                                st.integers(0, 15)), max_size=40)


def notes_to_mido(notes, ticks_per_beat, tempo):
    """Random notes (start_tick, length_ticks, pitch, channel) -> a mido file in one track."""
    events = []
    for start, length, pitch, channel in notes:
        events.append((start, mido.Message("note_on", note=pitch, velocity=80, channel=channel)))
        events.append((start + length, mido.Message("note_off", note=pitch, channel=channel)))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    now = 0
    for tick, message in sorted(events, key=lambda e: e[0]):
        track.append(message.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    return midi


def assert_melodies_on_the_grid(melodies, info):
    assert isinstance(melodies, list)
    if info["skipped"]:
        assert melodies == [] and isinstance(info["skipped"], str)
    for notes in melodies:
        assert notes.dtype == np.int32 and notes.shape[1] == 3 and notes[0, 0] == 0
        assert np.all(notes[:, 1] > notes[:, 0])  # every note keeps at least a step
        assert np.all(notes[1:, 0] >= notes[:-1, 1])  # monophonic: each ends before the next starts
        assert np.all((notes[:, 2] >= 0) & (notes[:, 2] <= 127))
        steps = step_encoding.notes_to_steps(notes)
        assert len(steps) == notes[-1, 1] and steps.max() <= 128


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=midi_bytes)
def test_loader_never_raises_on_random_bytes(tmp_path, data):
    path = tmp_path / "random.mid"
    path.write_bytes(b"MThd" + data if data[:1] == b"\x00" else data)
    assert_melodies_on_the_grid(*midi_notes.midi_to_notes(str(path)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=note_lists, ticks_per_beat=st.sampled_from([1, 24, 96, 480, 960]),
       tempo=st.sampled_from([1, 500_000, 16_777_215]), polyphony=st.sampled_from(midi_notes.POLYPHONY))
def test_loader_returns_melodies_on_the_grid_or_a_skip_for_any_valid_midi(tmp_path, notes, ticks_per_beat, tempo,
                                                                          polyphony):
    path = str(tmp_path / "valid.mid")
    notes_to_mido(notes, ticks_per_beat, tempo).save(path)
    assert_melodies_on_the_grid(*midi_notes.midi_to_notes(path, polyphony=polyphony))


# ----------------------------------------------------------------------------
# flags


@pytest.mark.parametrize("flags,message", [
    (["--rnn_size", "0"], "--rnn_size must be at least 1, got 0"),
    (["--window_size", "-3"], "--window_size must be at least 1, got -3"),
    (["--batch_size", "0"], "--batch_size must be at least 1"),
    (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    (["--learning_rate", "0"], "--learning_rate must be above 0"),
    (["--data_dir", "no/such/folder"], "--data_dir no/such/folder is not a folder"),
    (["--register", "256"], "--register works with --lookback"),
    (["--durations"], "--durations works with --lookback"),
    (["--repeats"], "--repeats works with --lookback"),
    (["--form_bars", "64"], "--form_bars works with --lookback"),
    (["--targets", "21"], "--targets must be 0 (off) or a number of steps up to --window_size 20, got 21"),
    (["--lookback", "16", "--register", "-1"], "--register takes steps back of at least 1"),
])
def test_bad_train_flags_are_one_line_errors(flags, message, tmp_path):
    text = error_of(lambda: train.main(flags + ["--experiment_dir", str(tmp_path / "exp")]))
    assert text.startswith("error: ") and message in text and "\n" not in text
    assert not os.path.exists(tmp_path / "exp")


def test_empty_data_dir_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    text = error_of(lambda: train.main(["--data_dir", str(tmp_path / "empty")]))
    assert text.startswith("error: no .mid, .midi or .rmi file under")


def test_bad_flag_exits_non_zero_without_a_traceback(tmp_path):
    result = run_script(["train.py", "--dropout", "1.5"], str(tmp_path / "cache"), timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: --dropout must be in [0, 1), got 1.5"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A tiny experiment trained for 2 epochs, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("shared")
    os.environ["MIDI_GENERATOR_CACHE"] = str(root / "cache")
    data = root / "midi"
    data.mkdir()
    for i in range(6):
        write_midi(data / f"tune{i}.mid", [scale_melody(64, offset=i)])
    path = train.main(["--data_dir", str(data), "--experiment_dir", str(root / "exp"), "--num_epochs", "2",
                       "-m", "first"] + TINY)
    return path


def test_bad_sample_flags_are_one_line_errors(experiment, tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    short = write_midi(tmp_path / "short.mid", [scale_melody(6)])
    cases = [
        (["--midi_instrument", "Kazoo Deluxe"], "unknown --midi_instrument 'Kazoo Deluxe'"),
        (["--prime_file", str(tmp_path / "broken.mid")], "cannot use --prime_file"),
        (["--prime_file", short], "has no melody longer than the experiment's window of 8"),
        (["--prime_file", str(tmp_path / "missing.mid")], "does not exist"),
        (["--num_files", "0"], "--num_files must be at least 1"),
        (["--temperature", "-1"], "--temperature must be 0 or above"),
        (["--meter", "6/8"], "--meter 6/8: the experiment's training melodies are in 4/4; choose one of them"),
        (["--meter", "7/32"], "--meter 7/32: its bar is not a whole number of sixteenth notes"),
        (["--continue_file", short, "--meter", "3/4"], "is in 4/4, not --meter 3/4"),
    ]
    for flags, message in cases:
        text = error_of(lambda: sample.main(["--experiment_dir", experiment] + flags))
        assert text.startswith("error: ") and message in text and "\n" not in text, text


def test_sample_without_any_experiment_suggests_the_shipped_one_or_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert error_of(lambda: sample.main([])) == ("error: no experiment in experiments/; hear the one that ships with: "
                                                 "python sample.py --experiment_dir experiments/pretrained, "
                                                 "or train one: python train.py")


def test_a_missing_or_broken_soundfont_is_a_one_line_error(experiment, tmp_path, monkeypatch):
    flags = ["--experiment_dir", experiment, "--num_files", "1", "--file_length", "8", "--wav",
             "--save_dir", str(tmp_path / "out")]
    monkeypatch.setenv("SOUNDFONT", str(tmp_path / "missing.sf2"))
    text = error_of(lambda: sample.main(flags))
    assert text.startswith("error: the soundfont ") and "SOUNDFONT" in text and "\n" not in text, text
    (tmp_path / "broken.sf2").write_bytes(b"RIFF garbage")
    monkeypatch.setenv("SOUNDFONT", str(tmp_path / "broken.sf2"))
    text = error_of(lambda: sample.main(flags))
    assert text.startswith("error: cannot make ") and "\n" not in text, text


def test_checkpoint_holding_code_is_refused_by_safe_mode(experiment, tmp_path):
    import keras
    copy = str(tmp_path / "exp")
    shutil.copytree(experiment, copy)
    model = keras.Sequential([keras.Input((8, 129)), keras.layers.Lambda(lambda x: x * 2), keras.layers.LSTM(8),
                              keras.layers.Dense(129, activation="softmax")])
    for _, path in checkpoints.list_checkpoints(copy):
        os.remove(path)
    model.save(os.path.join(copy, "checkpoints", "epoch001-val_loss1.0000.keras"))
    text = error_of(lambda: sample.main(["--experiment_dir", copy, "--num_files", "1", "--file_length", "4"]))
    assert text.startswith("error: cannot load") and "\n" not in text
    # a whole file that safe mode refuses is not damaged: it stays where it is
    assert [e for e, _ in checkpoints.list_checkpoints(copy)] == [1]
    assert not os.path.exists(os.path.join(copy, "checkpoints", "damaged"))


def cut_in_half(path):
    """Keep the first half of a file, as a full disk or an interrupted copy leaves it; returns its bytes."""
    with open(path, "rb") as f:
        data = f.read()[:os.path.getsize(path) // 2]
    with open(path, "wb") as f:
        f.write(data)
    return data


@pytest.mark.parametrize("script", ["sample", "evaluate"])
def test_a_cut_short_latest_checkpoint_is_moved_aside_and_the_one_before_is_used(script, experiment, tmp_path, capsys):
    import evaluate
    copy = str(tmp_path / "exp")
    shutil.copytree(experiment, copy)
    (_, first), (_, latest) = checkpoints.list_checkpoints(copy)
    cut = cut_in_half(latest)
    if script == "sample":
        sample.main(["--experiment_dir", copy, "--num_files", "1", "--file_length", "4"])
    else:
        assert evaluate.main(["--experiment_dir", copy, "--max_windows", "100"])["checkpoint"] == first
    out = capsys.readouterr().out
    damaged = os.path.join(copy, "checkpoints", "damaged", os.path.basename(latest))
    assert open(damaged, "rb").read() == cut  # moved, never deleted
    (moved,) = [line for line in out.splitlines() if "damaged" in line]
    assert moved.startswith(f"Moved {latest} into ")
    assert checkpoints.list_checkpoints(copy) == [(1, first)]
    if script == "sample":
        assert f"from {first}" in out


def test_resume_after_a_cut_short_latest_checkpoint_trains_on_from_the_one_before(experiment, tmp_path, capsys):
    copy = str(tmp_path / "exp")
    shutil.copytree(experiment, copy)
    latest = checkpoints.list_checkpoints(copy)[-1][1]
    cut_in_half(latest)
    train.main(["--experiment_dir", copy, "--num_epochs", "3"])
    out = capsys.readouterr().out
    assert f"Moved {latest} into " in out and f"Resuming {copy} after epoch 1 of 3" in out
    assert [e for e, _ in checkpoints.list_checkpoints(copy)] == [1, 2, 3]
    assert os.listdir(os.path.join(copy, "checkpoints", "damaged")) == [os.path.basename(latest)]


def test_ctrl_c_while_keras_saves_a_checkpoint_still_stops_training(melody_dir, tmp_path, monkeypatch):
    from keras.src.saving import saving_lib

    # Keras' saving catches every exception for a moment (a bare except around its memory check),
    # a KeyboardInterrupt included: a Ctrl-C in that moment used to be lost and training went on
    memory_check = saving_lib.is_memory_sufficient

    def ctrl_c_during_the_memory_check(model):
        os.kill(os.getpid(), signal.SIGINT)
        return memory_check(model)

    monkeypatch.setattr(saving_lib, "is_memory_sufficient", ctrl_c_during_the_memory_check)
    experiment = str(tmp_path / "exp")
    text = error_of(lambda: train.main(["--data_dir", melody_dir, "--experiment_dir", experiment,
                                        "--num_epochs", "3"] + TINY))
    assert text.startswith("\nInterrupted: 1 complete epoch checkpoints kept")
    assert text.endswith(f"resume with: python train.py --experiment_dir {experiment}")
    assert [e for e, _ in checkpoints.list_checkpoints(experiment)] == [1]


# ----------------------------------------------------------------------------
# resume, interruption, NaN


def test_resume_refuses_flags_that_would_change_the_model(experiment):
    text = error_of(lambda: train.main(["--experiment_dir", experiment, "--rnn_size", "16"]))
    assert text.startswith(f"error: {experiment} was trained with --rnn_size 8; a resume cannot change it")
    text = error_of(lambda: train.main(["--experiment_dir", experiment, "-m", "other"]))
    assert "--message first" in text


def test_resume_with_more_epochs_trains_on_and_never_rewrites_config_or_message(experiment, tmp_path, capsys):
    copy = str(tmp_path / "exp")
    shutil.copytree(experiment, copy)
    before = {name: open(os.path.join(copy, name), "rb").read() for name in ["config.json", "message.txt"]}
    train.main(["--experiment_dir", copy])
    assert "already trained 2 of 2 epochs" in capsys.readouterr().out
    train.main(["--experiment_dir", copy, "--num_epochs", "3"])
    assert "Resuming" in capsys.readouterr().out
    assert [e for e, _ in checkpoints.list_checkpoints(copy)] == [1, 2, 3]
    assert {name: open(os.path.join(copy, name), "rb").read() for name in before} == before
    with open(os.path.join(copy, "history.csv")) as f:
        assert [line.split(",")[0] for line in f.read().split()[1:]] == ["0", "1", "2"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_finished_epochs_and_resume_completes_the_rest(signum, melody_dir, tmp_path):
    import keras
    experiment = str(tmp_path / "exp")
    env = dict(os.environ, MIDI_GENERATOR_CACHE=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    args = [sys.executable, "train.py", "--data_dir", melody_dir, "--experiment_dir", experiment,
            "--num_epochs", "40", "--batch_size", "2", "--rnn_size", "8", "--window_size", "8", "-m", "keep me"]
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(checkpoints.list_checkpoints(experiment)) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and "Traceback" not in stderr
    assert f"resume with: python train.py --experiment_dir {experiment}" in stderr
    kept = checkpoints.list_checkpoints(experiment)
    assert 2 <= len(kept) < 40
    for _, path in kept:
        keras.saving.load_model(path)  # every completed epoch's checkpoint is whole
    config = open(os.path.join(experiment, "config.json"), "rb").read()

    result = subprocess.run([sys.executable, "train.py", "--experiment_dir", experiment], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Resuming {experiment} after epoch {kept[-1][0]} of 40" in result.stdout
    assert [e for e, _ in checkpoints.list_checkpoints(experiment)] == list(range(1, 41))
    assert open(os.path.join(experiment, "config.json"), "rb").read() == config
    assert open(os.path.join(experiment, "message.txt")).read() == "keep me\n"
    assert not os.listdir(os.path.join(experiment, "checkpoints", "incomplete"))


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(experiment, tmp_path, monkeypatch):
    import keras
    copy = str(tmp_path / "exp")
    shutil.copytree(experiment, copy)
    load_model = keras.saving.load_model

    def load_poisoned(path, **kwargs):  # the resumed model's weights turn to NaN, as after a blow-up
        model = load_model(path, **kwargs)
        model.layers[-1].bias.assign(np.full(129, np.nan, np.float32))
        return model

    monkeypatch.setattr(keras.saving, "load_model", load_poisoned)
    text = error_of(lambda: train.main(["--experiment_dir", copy, "--num_epochs", "4"]))
    assert text.startswith("error: the training loss became NaN; the last good checkpoint is ")
    assert text.endswith("try a lower --learning_rate or --grad_clip") and "epoch002" in text
    assert [e for e, _ in checkpoints.list_checkpoints(copy)] == [1, 2]
    assert not os.listdir(os.path.join(copy, "checkpoints", "incomplete"))
