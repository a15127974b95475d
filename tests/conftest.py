"""Tiny MIDI files built in code, and a private melody cache for every test."""
import os
import sys

import pretty_midi
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import midi_notes  # noqa: E402 -- needs the path above

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def write_midi(path, tracks, qpm=120.0, resolution=220, is_drum=False, time_signatures=()):
    """tracks: list of [(start_step, end_step, pitch), ...] in sixteenth notes; time_signatures:
    [(step, numerator, denominator), ...]; returns path."""
    midi = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=qpm)
    step = 60.0 / qpm / 4
    midi.time_signature_changes = [pretty_midi.TimeSignature(n, d, at * step) for at, n, d in time_signatures]
    for notes in tracks:
        instrument = pretty_midi.Instrument(program=0, is_drum=is_drum)
        for start, end, pitch in notes:
            instrument.notes.append(pretty_midi.Note(100, pitch, start * step, end * step))
        midi.instruments.append(instrument)
    midi.write(str(path))
    return str(path)


def notes_of(path):
    melodies, info = midi_notes.midi_to_notes(path)
    assert info["skipped"] is None, info
    return melodies


def scale_melody(length, offset=0):
    """A monophonic melody of `length` sixteenth notes: eighth notes walking a C major scale."""
    pitches = [60, 62, 64, 65, 67, 69, 71, 72]
    return [(s, s + 2, pitches[(s // 2 + offset) % len(pitches)]) for s in range(0, length, 2)]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDI_GENERATOR_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def melody_dir(tmp_path):
    """A folder of 6 distinct monophonic files of 64 sixteenth notes each."""
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(6):
        write_midi(folder / f"tune{i}.mid", [scale_melody(64, offset=i)])
    return str(folder)


def error_of(call):
    """The message of the SystemExit a call raises."""
    with pytest.raises(SystemExit) as raised:
        call()
    return str(raised.value.code)


def shared(name):
    """Path of a real collection in ../shared/data, or skip the test when it is absent."""
    path = os.path.abspath(os.path.join(SHARED_DATA, name))
    if not os.path.isdir(path):
        pytest.skip(f"{path} is not here")
    return path
