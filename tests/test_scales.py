"""Promises of scales.py: the best-fitting scale, and moving a melody to a key."""
import numpy as np
import pytest

import scales

D_MAJOR_TUNE = [62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62]


def test_c_major_scale_is_all_in_its_best_scale():
    assert scales.in_scale_share([60, 62, 64, 65, 67, 69, 71, 72]) == 1.0
    assert scales.in_scale_share([57, 59, 60, 62, 64, 65, 67]) == 1.0  # A natural minor


def test_chromatic_scale_has_seven_of_twelve_notes_in_the_best_scale():
    assert scales.in_scale_share(np.arange(60, 72)) == pytest.approx(7 / 12)


def test_key_shift_moves_a_d_major_tune_to_c_and_to_any_named_key():
    assert scales.key_shift(D_MAJOR_TUNE, 0) == -2
    assert scales.key_shift(D_MAJOR_TUNE, scales.major_tonic(scales.parse_key("E minor"))) == 5  # onto G major's notes
    assert scales.key_shift(D_MAJOR_TUNE, scales.major_tonic(scales.parse_key("Bb major"))) == -4


def test_key_shift_stays_in_the_midi_range():
    assert scales.key_shift([122, 124, 126, 127], 9) == -5  # +7 would pass 127
    assert scales.key_shift([1, 2, 4, 6, 7, 9, 11], 0) == 10  # D major: -2 would go below 0


@pytest.mark.parametrize("name,row", [("D major", 2), ("e minor", 16), ("F# minor", 18), ("Bb major", 10)])
def test_key_names_are_read(name, row):
    assert scales.parse_key(name) == row


@pytest.mark.parametrize("name", ["H major", "D", "D dorian", ""])
def test_a_bad_key_name_says_how_to_write_one(name):
    with pytest.raises(ValueError, match="such as 'D major'"):
        scales.parse_key(name)
