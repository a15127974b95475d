"""Major and minor scales: which one a melody fits best, and moving a melody to another key.

Pitches are MIDI note numbers; a pitch class is the pitch modulo 12 (0 = C, 1 = C#, ..., 11 = B).
"""
import re

import numpy as np

PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MAJOR = [0, 2, 4, 5, 7, 9, 11]  # semitones above the tonic
MINOR = [0, 2, 3, 5, 7, 8, 10]  # natural minor
# (24, 12): row k is the major scale on tonic k, row 12 + k the minor scale on tonic k
SCALES = np.array([[(pc - tonic) % 12 in scale for pc in range(12)]
                   for scale in [MAJOR, MINOR] for tonic in range(12)], dtype=np.int64)
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def scale_counts(pitches):
    """(24,) how many of these notes lie in each scale of SCALES."""
    return SCALES @ np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12)


def in_scale_share(pitches):
    """Share of notes in the best-fitting of the 24 major and natural minor scales.

    A natural minor scale has the notes of its relative major (A minor, C major), so 12 of the 24
    keys are distinct note sets; both are tried all the same.
    """
    return float(scale_counts(pitches).max() / len(pitches)) if len(pitches) else float("nan")


def major_tonic(scale):
    """Pitch class of the major scale with the notes of SCALES row `scale` (a minor's relative major)."""
    return scale if scale < 12 else (scale - 12 + 3) % 12


def key_shift(pitches, tonic):
    """Semitones that move the best-fitting scale of these pitches onto the major scale of `tonic`
    (or its relative minor): the nearest to 0 that keeps every pitch in 0..127; None if none does."""
    pitches = np.asarray(pitches, dtype=np.int64)
    if not len(pitches):
        return 0
    shift = (tonic - major_tonic(int(np.argmax(scale_counts(pitches)))) + 6) % 12 - 6  # in -6..5
    fits = [s for s in sorted([shift, shift - 12, shift + 12], key=abs)
            if pitches.min() + s >= 0 and pitches.max() + s <= 127]
    return fits[0] if fits else None


def transpose_notes(notes, shift):
    """(n, 3) [start_step, end_step, pitch] notes moved by shift semitones, as a new array."""
    notes = notes.copy()
    notes[:, 2] += shift
    return notes


def parse_key(name):
    """'D major', 'E minor', 'F# minor', 'Bb major' -> SCALES row; ValueError for anything else."""
    match = re.fullmatch(r"\s*([a-gA-G])\s*([#b]?)\s+(major|minor)\s*", name, flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"{name!r} is not a key; write a note and major or minor, such as 'D major' or 'F# minor'")
    letter, accidental, mode = match.groups()
    tonic = (NOTE_NAMES[letter.lower()] + {"#": 1, "b": -1, "": 0}[accidental]) % 12
    return tonic + (12 if mode.lower() == "minor" else 0)

