"""Melodies as one class per step, and back: notes <-> steps <-> MIDI.

A melody is a uint8 array of class indices, one per sixteenth-note step:
  roll encoding:  0 = rest, p + 1 = pitch p sounding                    (129 classes)
  onset encoding: 0 = rest, 1 = the note before goes on, p + 2 = pitch p starts  (130 classes)
A model trained with --endings has one class more, the last: "the tune has ended" (end_class).
"""
import numpy as np
import pretty_midi

import midi_notes

NUM_CLASSES = {"roll": 129, "onset": 130}
FIRST_PITCH = {"roll": 1, "onset": 2}  # the class of MIDI pitch 0: those below are rest (and hold)


def end_class(encoding):
    """The class after a tune's last step, for models trained with --endings: the one after the 128 pitches."""
    return NUM_CLASSES[encoding]


# ----------------------------------------------------------------------------
# Notes <-> steps <-> MIDI


def notes_to_steps(notes, encoding="roll"):
    """(n, 3) [start_step, end_step, pitch] monophonic notes -> (length,) uint8 classes."""
    length = int(notes[-1, 1])
    marks = np.full(length, -1, dtype=np.int16)  # -1: same class as the step before
    ends = notes[:, 1]
    marks[ends[ends < length]] = 0  # a rest starts where a note ends ...
    marks[notes[:, 0]] = notes[:, 2] + FIRST_PITCH[encoding]  # ... unless a note starts there
    steps = marks[np.maximum.accumulate(np.where(marks >= 0, np.arange(length), 0))]  # carry each mark on
    if encoding == "onset":
        steps[(marks < 0) & (steps >= 2)] = 1  # after its first step, a note is held
    return steps.astype(np.uint8)


def steps_to_notes(steps, encoding="roll"):
    """(length,) classes -> (n, 3) int64 [start_step, end_step, pitch]; the last note is kept."""
    steps = np.asarray(steps, dtype=np.int64)
    if encoding == "roll":
        change = np.flatnonzero(np.diff(steps, prepend=-1))  # a new note where the class changes
        ends = np.append(change[1:], len(steps))
        keep = steps[change] > 0
        return np.stack([change[keep], ends[keep], steps[change][keep] - 1], axis=1)
    # onset: a note starts at a class >= 2 and goes on over the holds (1) after it
    starts = np.flatnonzero(steps >= 2)
    boundaries = np.append(np.flatnonzero(steps != 1), len(steps))  # where a note or rest starts
    ends = boundaries[np.searchsorted(boundaries, starts, side="right")]
    return np.stack([starts, ends, steps[starts] - 2], axis=1)


def steps_to_midi(steps, qpm=120.0, program=0, encoding="roll", velocity=90, meter=midi_notes.DEFAULT_METER):
    """Classes, one per sixteenth note -> a one-instrument PrettyMIDI at `qpm` quarter notes a minute,
    whose time signature is meter ([numerator, denominator]) from its first step, a bar line."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(int(meter[0]), int(meter[1]), 0.0))
    instrument = pretty_midi.Instrument(program=program)
    seconds_per_step = 60.0 / qpm / midi_notes.STEPS_PER_QUARTER
    for start, end, pitch in steps_to_notes(steps, encoding):
        instrument.notes.append(pretty_midi.Note(velocity, int(pitch), start * seconds_per_step,
                                                 end * seconds_per_step))
    midi.instruments.append(instrument)
    return midi


def midi_to_steps(path, encoding="roll", polyphony="discard", tracks="all", normalize_key=False, max_hold=0):
    """A MIDI file -> (its melodies as uint8 class arrays, info), as midi_to_notes and choose_melodies."""
    melodies, info = midi_notes.choose_melodies(*midi_notes.midi_to_notes(path, polyphony), tracks, normalize_key,
                                                max_hold)
    return [notes_to_steps(notes, encoding) for notes in melodies], info


def transpose_steps(steps, shift, encoding="roll"):
    """Classes moved by shift semitones: rests (and holds) stay, pitches move, clipped to 0..127."""
    first_pitch = FIRST_PITCH[encoding]
    steps = np.asarray(steps, dtype=np.int64)
    moved = np.clip(steps + shift, first_pitch, first_pitch + 127)
    return np.where(steps >= first_pitch, moved, steps).astype(np.uint8)
