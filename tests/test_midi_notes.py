"""Promises of midi_notes.py: the grid, monophony, the highest notes, the lead, odd files."""
import os

import numpy as np
import pretty_midi

import melody_cache
import midi_notes
from conftest import notes_of, scale_melody, write_midi


def test_leading_silence_is_trimmed(tmp_path):
    path = write_midi(tmp_path / "a.mid", [[(8, 10, 60), (10, 12, 62)]])
    assert notes_of(path)[0].tolist() == [[0, 2, 60], [2, 4, 62]]


def test_grid_follows_ticks_through_a_tempo_change(tmp_path):
    # 8 quarter notes, with the tempo doubling after the fourth: the grid is in beats, not seconds
    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120)
    midi._tick_scales = [(0, 60 / (120 * 480)), (4 * 480, 60 / (240 * 480))]
    midi._update_tick_to_time(8 * 480)
    instrument = pretty_midi.Instrument(0)
    for q in range(8):
        instrument.notes.append(pretty_midi.Note(100, 60 + q, midi.tick_to_time(q * 480),
                                                 midi.tick_to_time((q + 1) * 480)))
    midi.instruments.append(instrument)
    path = str(tmp_path / "tempo.mid")
    midi.write(path)
    (melody,) = notes_of(path)
    assert melody[:, 0].tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert (melody[:, 1] - melody[:, 0]).tolist() == [4] * 8


def test_sixteenth_note_melody_keeps_every_note(tmp_path):
    notes = [(s, s + 1, 60 + s % 12) for s in range(64)]
    path = write_midi(tmp_path / "fast.mid", [notes], qpm=150)
    assert len(notes_of(path)[0]) == 64


def test_short_note_keeps_one_step(tmp_path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    instrument = pretty_midi.Instrument(0)
    instrument.notes += [pretty_midi.Note(100, 60, 0.0, 0.01), pretty_midi.Note(100, 62, 0.5, 1.0)]
    midi.instruments.append(instrument)
    midi.write(str(tmp_path / "a.mid"))
    assert notes_of(str(tmp_path / "a.mid"))[0].tolist() == [[0, 1, 60], [4, 8, 62]]


def test_one_step_legato_overlap_is_trimmed_not_polyphony(tmp_path):
    path = write_midi(tmp_path / "legato.mid", [[(0, 5, 60), (4, 8, 62)]])
    assert notes_of(path)[0].tolist() == [[0, 4, 60], [4, 8, 62]]


def test_chords_and_long_overlaps_are_discarded_as_polyphonic(tmp_path):
    chord = write_midi(tmp_path / "chord.mid", [[(0, 4, 60), (0, 4, 64)]])
    overlap = write_midi(tmp_path / "overlap.mid", [[(0, 8, 60), (4, 12, 64)]])
    for path in [chord, overlap]:
        melodies, info = midi_notes.midi_to_notes(path)
        assert melodies == [] and info["polyphonic"] == 1
        assert "no monophonic track" in info["skipped"]


def test_drum_tracks_are_ignored_and_mixed_files_keep_their_melody(tmp_path):
    path = str(tmp_path / "mixed.mid")
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    for is_drum, notes in [(False, scale_melody(32)), (True, [(s, s + 1, 36) for s in range(0, 32, 4)]),
                           (False, [(0, 8, 60), (0, 8, 64)])]:
        instrument = pretty_midi.Instrument(0, is_drum=is_drum)
        instrument.notes += [pretty_midi.Note(100, p, s * 0.125, e * 0.125) for s, e, p in notes]
        midi.instruments.append(instrument)
    midi.write(path)
    melodies, info = midi_notes.midi_to_notes(path)
    assert len(melodies) == 1 and info["drums"] == 1 and info["polyphonic"] == 1 and info["tracks"] == 1


# ----------------------------------------------------------------------------
# polyphony, leads, key normalization, and files that are almost MIDI

TUNE = [(0, 2, 72), (2, 4, 74), (4, 8, 76), (8, 12, 79), (12, 14, 77), (14, 16, 76), (16, 24, 74), (24, 32, 72)]


def piano_piece():
    """One piano track: TUNE on top of a held four-note chord each half bar and off-beat chord tones."""
    chords = [(bar, bar + 8, p) for bar in range(0, 32, 8) for p in (48, 55, 60, 64)]
    offbeats = [(s, s + 2, 67) for s in range(2, 32, 4)]  # struck under held melody notes
    return TUNE + chords + offbeats


def test_highest_extracts_exactly_the_melody_of_a_piano_piece(tmp_path):
    path = write_midi(tmp_path / "piano.mid", [piano_piece()])
    (melody,), info = midi_notes.midi_to_notes(path, polyphony="highest")
    assert melody.tolist() == [list(n) for n in TUNE]
    assert info["track_table"][0]["reason"] == "polyphonic, highest notes kept"


def test_a_note_interrupted_by_a_higher_one_resumes_only_if_struck_again(tmp_path):
    # 60 held for 16 steps; 67 interrupts it at step 4 for 2 steps; 60 is struck again at step 10
    path = write_midi(tmp_path / "a.mid", [[(0, 16, 60), (4, 6, 67), (10, 14, 60), (10, 12, 55)]])
    (melody,), _ = midi_notes.midi_to_notes(path, polyphony="highest")
    assert melody.tolist() == [[0, 4, 60], [4, 6, 67], [10, 14, 60]]  # a rest from 6 to 10


def test_a_lower_note_under_a_held_one_sounds_once_the_held_one_ends(tmp_path):
    path = write_midi(tmp_path / "a.mid", [[(0, 4, 72), (2, 8, 60), (0, 2, 48)]])
    (melody,), _ = midi_notes.midi_to_notes(path, polyphony="highest")
    assert melody.tolist() == [[0, 4, 72], [4, 8, 60]]  # the highest note sounding at each step


def test_discard_is_unchanged_and_monophonic_tracks_are_the_same_under_both_rules(tmp_path):
    piano = write_midi(tmp_path / "piano.mid", [piano_piece()])
    assert midi_notes.midi_to_notes(piano)[0] == [] and midi_notes.midi_to_notes(piano, polyphony="discard")[0] == []
    legato = write_midi(tmp_path / "legato.mid", [[(0, 5, 64), (4, 8, 62), (8, 9, 60), (9, 12, 60)]])
    (discard,), _ = midi_notes.midi_to_notes(legato)
    (highest,), _ = midi_notes.midi_to_notes(legato, polyphony="highest")
    assert discard.tolist() == highest.tolist() == [[0, 4, 64], [4, 8, 62], [8, 9, 60], [9, 12, 60]]


def test_the_cache_keeps_each_polyphony_rule_apart(tmp_path):
    write_midi(tmp_path / "piano.mid", [piano_piece()])
    write_midi(tmp_path / "tune.mid", [scale_melody(32)])
    for _ in range(2):  # the second time from the caches
        discard = melody_cache.load_melodies(str(tmp_path), quiet=True)
        highest = melody_cache.load_melodies(str(tmp_path), quiet=True, polyphony="highest")
        assert [len(f["melodies"]) for f in discard] == [0, 1]
        assert [len(f["melodies"]) for f in highest] == [1, 1]
    assert melody_cache.cache_path(str(tmp_path), "discard") != melody_cache.cache_path(str(tmp_path), "highest")
    assert all(os.path.exists(melody_cache.cache_path(str(tmp_path), rule)) for rule in midi_notes.POLYPHONY)


def test_lead_is_the_highest_track_with_enough_notes_not_the_bass(tmp_path):
    bass = [(s, s + 2, 36 + s % 5) for s in range(0, 64, 2)]  # 32 notes, low
    lead = [(s, s + 4, 72 + s % 7) for s in range(0, 64, 4)]  # 16 notes, high
    chirp = [(0, 1, 96), (32, 33, 98)]  # 2 notes, highest of all: too few to be the lead
    write_midi(tmp_path / "band.mid", [bass, lead, chirp])
    (f,) = melody_cache.load_melodies(str(tmp_path), quiet=True, tracks="lead")
    (melody,) = f["melodies"]
    assert melody[:, 2].tolist() == [p for _, _, p in lead]
    assert [(row["used"], row["reason"]) for row in f["track_table"]] == [
        (False, "not the lead"), (True, "monophonic"), (False, "not the lead")]
    (every,) = melody_cache.load_melodies(str(tmp_path), quiet=True)
    assert len(every["melodies"]) == 3


def test_key_normalization_puts_a_d_major_tune_in_c_major(tmp_path):
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    write_midi(tmp_path / "d.mid", [[(2 * i, 2 * i + 2, d_major[i % 8]) for i in range(24)]])
    (f,) = melody_cache.load_melodies(str(tmp_path), quiet=True, normalize_key=True)
    assert f["melodies"][0][:8, 2].tolist() == [60, 62, 64, 65, 67, 69, 71, 72]
    (plain,) = melody_cache.load_melodies(str(tmp_path), quiet=True)
    assert plain["melodies"][0][:8, 2].tolist() == d_major


def test_experiments_without_the_newer_keys_use_the_older_rules():
    assert midi_notes.melody_options({}) == {"polyphony": "discard", "tracks": "all", "normalize_key": False,
                                             "max_hold": 0}


def rmid(midi_bytes):
    """A standard MIDI file wrapped as RIFF 'RMID', with an INFO list chunk before its data chunk."""
    info = b"LIST" + (6).to_bytes(4, "little") + b"INFOab"
    data = b"data" + len(midi_bytes).to_bytes(4, "little") + midi_bytes + b"\0" * (len(midi_bytes) % 2)
    body = b"RMID" + info + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_an_rmi_file_is_found_unwrapped_and_read(tmp_path):
    path = write_midi(tmp_path / "tune.mid", [scale_melody(32)])
    with open(path, "rb") as f:
        expected = midi_notes.midi_to_notes(path)[0][0].tolist()
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "tune.RMI").write_bytes(rmid(f.read()))
    (f,) = melody_cache.load_melodies(str(tmp_path / "data"), quiet=True)
    assert f["path"] == "tune.RMI" and f["skipped"] is None
    assert f["melodies"][0].tolist() == expected


def test_a_file_with_smpte_time_division_is_skipped_saying_so(tmp_path):
    path = write_midi(tmp_path / "tune.mid", [scale_melody(32)])
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[12:14] = bytes([256 - 25, 40])  # -25 frames per second, 40 ticks per frame
    (tmp_path / "smpte.mid").write_bytes(bytes(data))
    melodies, info = midi_notes.midi_to_notes(str(tmp_path / "smpte.mid"))
    assert melodies == [] and info["skipped"].startswith("SMPTE time division")
    assert "ticks per quarter note" in info["skipped"]


def test_max_hold_ends_long_notes_and_takes_whole_bars_out_of_long_rests():
    notes = np.array([[0, 4, 60], [4, 104, 62], [104, 108, 64], [148, 150, 65], [150, 152, 67]])
    shortened = midi_notes.shorten_holds(notes, 32)
    # the 100-step note ends after 32 steps; the 68 steps of rest it leaves lose 3 bars, and the
    # 40-step rest after 64 loses 1: every later note stays on the same step of its bar
    assert shortened.tolist() == [[0, 4, 60], [4, 36, 62], [56, 60, 64], [84, 86, 65], [86, 88, 67]]
    assert np.all((shortened[:, 0] - notes[:, 0]) % midi_notes.STEPS_PER_BAR == 0)
    assert np.array_equal(midi_notes.shorten_holds(notes, 200), notes)  # nothing that long: unchanged
