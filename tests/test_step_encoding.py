"""Promises of step_encoding.py: both encodings, and the round trip through MIDI."""
import numpy as np

import step_encoding
from conftest import notes_of, write_midi


def test_encoding_round_trip_through_midi(tmp_path):
    notes = [(0, 4, 60), (4, 6, 62), (8, 9, 0), (9, 12, 127), (12, 13, 64)]
    path = write_midi(tmp_path / "a.mid", [notes])
    (melody,) = notes_of(path)
    assert melody.tolist() == [list(n) for n in notes]
    for encoding in ["roll", "onset"]:
        steps = step_encoding.notes_to_steps(melody, encoding)
        assert len(steps) == 13
        back = tmp_path / f"{encoding}.mid"
        step_encoding.steps_to_midi(steps, encoding=encoding).write(str(back))
        (again,) = notes_of(str(back))
        assert again.tolist() == [list(n) for n in notes]


def test_roll_encoding_is_rest_zero_and_pitch_plus_one():
    steps = step_encoding.notes_to_steps(np.array([[0, 2, 60], [3, 4, 61]]))
    assert steps.tolist() == [61, 61, 0, 62]


def test_onset_encoding_keeps_repeated_notes_that_roll_merges():
    notes = np.array([[0, 2, 60], [2, 4, 60]])
    assert step_encoding.steps_to_notes(step_encoding.notes_to_steps(notes, "roll"), "roll").tolist() == [[0, 4, 60]]
    assert step_encoding.steps_to_notes(step_encoding.notes_to_steps(notes, "onset"), "onset").tolist() == notes.tolist()
