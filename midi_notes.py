"""One MIDI file -> its monophonic melodies as notes on the grid: quantizing, monophony, the
highest notes of a polyphonic track, the lead, and what an experiment takes from a file.

The grid: one step is a sixteenth note (STEPS_PER_QUARTER = 4), computed from MIDI ticks, so a
tempo change never stretches it. A melody here is an (n, 3) array of notes [start_step, end_step,
pitch]; step_encoding.py turns it into one class per step.

The meter: each melody keeps its file's time signature as [numerator, denominator, offset], offset
being where its first note stands in its bar, in steps, counted from the file's own bar lines. A
melody whose signature changes is cut there into parts that each keep their meter (split_meters).
"""
import io
import os
import re
import warnings

import mido
import numpy as np
import pretty_midi

import scales

STEPS_PER_QUARTER = 4  # sixteenth notes
STEPS_PER_BAR = 16  # a bar of 4/4, the meter of a file with no time signature (the MIDI standard's default)
DEFAULT_METER = [4, 4]
MAX_FILE_BYTES = 16 * 2**20  # larger MIDI files are refused before they are read
MAX_NOTES = 100_000  # per file: more is not a melody, and would cost minutes to parse
MAX_STEPS = 200_000  # per melody, in sixteenth notes (about 7 hours at 120 qpm)
POLYPHONY = ["discard", "highest"]  # what to do with a track where notes sound together
TRACKS = ["all", "lead"]  # which melodies of a file to learn
LEAD_MIN_SHARE = 0.25  # a lead has at least this share of the notes of the file's busiest melody
SMPTE_MESSAGE = ("SMPTE time division (timed in frames per second, not in beats): not supported; "
                 "re-save it from a MIDI editor with ticks per quarter note")

# ----------------------------------------------------------------------------
# Meters: a time signature as steps


def meter_name(meter):
    """[numerator, denominator, ...] -> '6/8'."""
    return f"{meter[0]}/{meter[1]}"


def parse_meter(name):
    """'6/8' -> [6, 8]; ValueError for anything else, or a bar that is not whole sixteenth notes."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", name)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ValueError(f"{name!r} is not a time signature such as 4/4, 6/8 or 3/4")
    meter = [int(match[1]), int(match[2])]
    if bar_steps(meter) is None:
        raise ValueError(f"{name}: its bar is not a whole number of sixteenth notes")
    return meter


def bar_steps(meter, steps_per_quarter=STEPS_PER_QUARTER):
    """Steps in a bar of this meter (4/4: 16, 6/8 and 3/4: 12, 9/8: 18), or None when the bar is
    not a whole number of steps (7/32)."""
    numerator, denominator = meter[0], meter[1]
    steps = numerator * 4 * steps_per_quarter
    return steps // denominator if steps % denominator == 0 else None


def beat_steps(meter, steps_per_quarter=STEPS_PER_QUARTER):
    """Steps in a beat: a dotted note in compound meters (6/8, 9/8, 12/8: 6), else the denominator's
    note (4/4, 3/4: 4; 2/2: 8); a whole bar when that is not a whole number of steps."""
    numerator, denominator = meter[0], meter[1]
    count = 3 if numerator % 3 == 0 and numerator > 3 else 1  # notes of the denominator's value in a beat
    steps = count * 4 * steps_per_quarter
    return steps // denominator if steps % denominator == 0 else bar_steps(meter, steps_per_quarter)


def read_time_signatures(midi, steps_per_quarter=STEPS_PER_QUARTER):
    """The file's time signatures as [[step, numerator, denominator], ...], the first at step 0.

    No signature at the start means 4/4 there; of signatures on one step the last counts; one that
    repeats the meter before it on one of its bar lines changes nothing and is dropped.
    """
    found = [[0, *DEFAULT_METER]]
    for change in midi.time_signature_changes:
        tick = midi.time_to_tick(change.time)
        step = int((tick * steps_per_quarter * 2 + midi.resolution) // (2 * midi.resolution))  # as quantize_notes
        if step == found[-1][0]:
            found[-1] = [step, change.numerator, change.denominator]
        else:
            found.append([step, change.numerator, change.denominator])
    kept = found[:1]
    for signature in found[1:]:
        bar = bar_steps(kept[-1][1:], steps_per_quarter) or 1
        if signature[1:] != kept[-1][1:] or (signature[0] - kept[-1][0]) % bar:
            kept.append(signature)
    return kept


def split_meters(notes, first_step, signatures):
    """A melody cut where its time signature changes -> (parts, left_out).

    notes: (n, 3) [start_step, end_step, pitch] from its first note; first_step: that note's step in
    the file; signatures: read_time_signatures. parts: [(notes from the part's first note, [numerator,
    denominator, offset])], each note in the part where it begins, ending at the part's end at the
    latest; offset: the step of its first note in its bar. left_out: [(meter name, notes)] of parts
    whose bar is not a whole number of steps.
    """
    at = np.array([step for step, _, _ in signatures]) - first_step  # in the melody's steps
    part_of = np.searchsorted(at, notes[:, 0], side="right") - 1
    parts, left_out = [], []
    for k in np.unique(part_of):
        part = notes[part_of == k].copy()
        meter = signatures[k][1:]
        bar = bar_steps(meter)
        if bar is None:
            left_out.append((meter_name(meter), len(part)))
            continue
        if k + 1 < len(at):
            part[:, 1] = np.minimum(part[:, 1], at[k + 1])
        offset = int((part[0, 0] - at[k]) % bar)
        part[:, :2] -= part[0, 0]
        parts.append((part, [*meter, offset]))
    return parts, left_out


# ----------------------------------------------------------------------------
# One MIDI file -> monophonic melodies as notes on the grid


def unwrap_rmid(data):
    """The standard MIDI file inside a RIFF 'RMID' wrapper (an .rmi file), or data unchanged."""
    if data[:4] != b"RIFF" or data[8:12] != b"RMID":
        return data
    at = 12
    while at + 8 <= len(data):  # chunks: 4-byte id, 4-byte little-endian size, data padded to even size
        chunk, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
        if chunk == b"data":
            return data[at + 8:at + 8 + size]
        at += 8 + size + size % 2
    raise ValueError("an RMID file with no 'data' chunk holding the MIDI file")


def read_midi(path):
    """Load a MIDI file (or an .rmi) with pretty_midi; returns (PrettyMIDI, recovered reason or None)."""
    with open(path, "rb") as f:
        data = unwrap_rmid(f.read())
    # MThd, length (4 bytes), format, tracks, division (2 bytes each): a negative division is SMPTE
    if data[:4] == b"MThd" and len(data) >= 14 and data[12] & 0x80:
        raise ValueError(SMPTE_MESSAGE)
    with warnings.catch_warnings():  # pretty_midi warns about odd but usable files
        warnings.simplefilter("ignore")
        try:
            return pretty_midi.PrettyMIDI(io.BytesIO(data)), None
        except OSError as e:
            if "data byte must be in range" not in str(e):
                raise
        # a data byte over 127: clip it, as most players do
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True)
        return pretty_midi.PrettyMIDI(mido_object=midi), "data bytes over 127 clipped"


def describe_error(e):
    """One short line saying why a MIDI file could not be read."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, EOFError) or "unexpected end" in text.lower():
        return "the file ends too early (empty or truncated)"
    if "MThd not found" in text:
        return "not a MIDI file (no MThd header)"
    if text == SMPTE_MESSAGE:
        return text
    if "largest tick" in text:
        return "an event lies absurdly far in time (" + text + ")"
    return f"{type(e).__name__}: {text[:120]}" if text else type(e).__name__


def quantize_notes(midi, instrument, steps_per_quarter=STEPS_PER_QUARTER):
    """Notes of one instrument on the grid, sorted by onset.

    Returns (n, 5) int64 [start_step, end_step, pitch, start_tick, end_tick].
    """
    ticks = np.array(
        [(midi.time_to_tick(n.start), midi.time_to_tick(n.end), n.pitch) for n in instrument.notes],
        dtype=np.int64,
    ).reshape(-1, 3)
    # round half up to the nearest step; a note keeps at least one step
    start = (ticks[:, 0] * steps_per_quarter * 2 + midi.resolution) // (2 * midi.resolution)
    end = (ticks[:, 1] * steps_per_quarter * 2 + midi.resolution) // (2 * midi.resolution)
    notes = np.stack([start, np.maximum(end, start + 1), ticks[:, 2], ticks[:, 0], ticks[:, 1]], axis=1)
    return notes[np.lexsort((ticks[:, 0], start))]


def make_monophonic(notes):
    """Notes with no two sounding at one step, or None if the track is polyphonic.

    notes: (n, 5) [start_step, end_step, pitch, start_tick, end_tick] sorted by onset.
    Returns (n', 3) [start_step, end_step, pitch]. Quantization artefacts are not polyphony:
    a legato overlap of one step is trimmed, a pitch struck again before its release ends where
    it is struck again, and a grace note that rounds onto the next note's step (they did not
    overlap in ticks) gives way to it. Two notes that really sound together are polyphony.
    """
    kept = []
    for start, end, pitch, start_tick, end_tick in notes.tolist():
        if kept and kept[-1][0] == start:
            prev = kept[-1]
            if prev[2] == pitch or prev[4] <= start_tick:  # re-struck, or a grace note
                kept[-1] = [start, max(end, prev[1]) if prev[2] == pitch else end, pitch, start_tick, end_tick]
                continue
            return None  # a chord
        if kept and kept[-1][1] > start:
            if kept[-1][1] - start > 1 and kept[-1][2] != pitch:
                return None  # two pitches sound together for more than a step
            kept[-1][1] = start
        kept.append([start, end, pitch, start_tick, end_tick])
    return np.array(kept, dtype=np.int64)[:, :3]


def keep_highest(notes):
    """The highest note sounding at each step of a polyphonic track, as one melody.

    notes: (n, 5) [start_step, end_step, pitch, start_tick, end_tick] sorted by onset.
    Returns (n', 3) [start_step, end_step, pitch]. A chord gives its top note. A note ends where
    a note as high or higher is struck while it sounds, and does not come back when that one
    ends: it resumes only if it is struck again. A note struck under a held higher one sounds
    once that one ends.
    """
    start, end, pitch = notes[:, 0], notes[:, 1].copy(), notes[:, 2]
    sounding = []  # notes struck before the current onset and not yet ended
    for i in range(len(notes)):
        sounding = [j for j in sounding if end[j] > start[i]]
        for j in sounding:
            if pitch[j] < pitch[i] or (pitch[j] == pitch[i] and start[j] < start[i]):
                end[j] = start[i]  # interrupted by a higher note, or struck again
            elif pitch[j] == pitch[i]:  # the same pitch twice in one chord: one note, the longer
                end[i], end[j] = max(end[i], end[j]), start[i]
        sounding.append(i)
    # owner[t]: the note on top at step t, -1 for silence; higher pitches are drawn last
    owner = np.full(int(end.max()), -1, dtype=np.int64)
    for i in np.lexsort((start, pitch)):
        owner[start[i]:end[i]] = i
    changes = np.flatnonzero(np.diff(owner, prepend=-2))  # where one note or silence gives way
    ends = np.append(changes[1:], len(owner))
    who = owner[changes]
    return np.stack([changes, ends, pitch[np.maximum(who, 0)]], axis=1)[who >= 0]


def midi_to_notes(path, polyphony="discard", steps_per_quarter=STEPS_PER_QUARTER):
    """Parse one file into its melodies, one per track that gives one; never raises for a bad file.

    polyphony: "discard" a track where notes sound together, or keep its "highest" notes.
    Returns (melodies, info): melodies is a list of (n, 3) int32 arrays [start_step, end_step,
    pitch] with the leading silence trimmed; info counts tracks, says why the file was skipped
    or how it was recovered, and has a track_table: one row per track saying whether it gave a
    melody (used), why (reason), and its notes and length (steps); time_signatures
    (read_time_signatures) and melody_starts, the step of each melody's first note in the file.
    """
    info = {"skipped": None, "recovered": None, "tracks": 0, "polyphonic": 0, "drums": 0, "qpm": None,
            "track_table": [], "time_signatures": [[0, *DEFAULT_METER]], "melody_starts": []}
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            info["skipped"] = f"the file is {size / 2**20:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit"
            return [], info
        midi, info["recovered"] = read_midi(path)
        n_notes = sum(len(i.notes) for i in midi.instruments)
        if n_notes > MAX_NOTES:
            info["skipped"] = f"{n_notes} notes, over the {MAX_NOTES} limit for one file"
            return [], info
        info["qpm"] = float(midi.get_tempo_changes()[1][0]) if n_notes else None
        info["time_signatures"] = read_time_signatures(midi, steps_per_quarter)
        melodies = []
        for index, instrument in enumerate(midi.instruments):
            row = {"track": index, "name": instrument.name.strip(), "program": int(instrument.program),
                   "notes": len(instrument.notes), "steps": 0, "melody_notes": 0, "used": False}
            info["track_table"].append(row)
            if instrument.is_drum:
                info["drums"] += 1
                row["reason"] = "drum track"
                continue
            if not instrument.notes:
                row["reason"] = "no notes"
                continue
            notes = quantize_notes(midi, instrument, steps_per_quarter)
            length = row["steps"] = int(notes[:, 1].max() - notes[:, 0].min())
            if length > MAX_STEPS:
                info["skipped"] = f"a track lasts {length} sixteenth notes, over the {MAX_STEPS} limit"
                info["track_table"], info["melody_starts"] = [], []
                return [], info
            melody = make_monophonic(notes)
            row["reason"] = "monophonic"
            if melody is None:
                info["polyphonic"] += 1
                row["reason"] = "polyphonic"
                if polyphony == "discard":
                    continue
                melody = keep_highest(notes)
                row["reason"] = "polyphonic, highest notes kept"
            info["melody_starts"].append(int(melody[0, 0]))
            melody[:, :2] -= melody[0, 0]  # trim the leading silence
            melodies.append(melody.astype(np.int32))
            row["melody_notes"], row["used"] = len(melody), True
            info["tracks"] += 1
        if not melodies:
            if n_notes == 0:
                info["skipped"] = "no notes"
            elif info["polyphonic"] == 0:
                info["skipped"] = "only drum tracks, no melody"
            else:
                info["skipped"] = (f"no monophonic track ({info['polyphonic']} polyphonic, "
                                   f"{info['drums']} drum)")
        return melodies, info
    except Exception as e:  # noqa: BLE001 -- any unreadable file is a skip, never a crash
        info["skipped"] = describe_error(e)
        info["track_table"], info["melody_starts"] = [], []
        return [], info


def pick_lead(melodies):
    """Index of a file's lead: of the melodies with at least LEAD_MIN_SHARE of the notes of the
    busiest one, the one with the highest median pitch."""
    counts = np.array([len(m) for m in melodies])
    medians = np.array([np.median(m[:, 2]) for m in melodies])
    candidates = np.flatnonzero(counts >= LEAD_MIN_SHARE * counts.max())
    return int(candidates[np.argmax(medians[candidates])])


def shorten_holds(notes, max_hold, bar=STEPS_PER_BAR):
    """Notes held longer than max_hold steps end there; a rest longer than max_hold (a held note's
    tail included) loses whole bars until it fits, so every later note keeps its place in the bar.

    notes: (n, 3) [start_step, end_step, pitch]. A sustained top voice that the highest-notes rule
    follows for dozens of bars, or a lead that rests while the band plays on, is not a melody to learn.
    """
    start, end, pitch = notes[:, 0], np.minimum(notes[:, 1], notes[:, 0] + max_hold), notes[:, 2]
    rests = start[1:] - end[:-1]  # (n - 1,) steps of rest before each next note
    cut = np.where(rests > max_hold, -(-(rests - max_hold) // bar) * bar, 0)  # bar: steps in the melody's bar
    cut = np.minimum(cut, rests // bar * bar)  # never more than the rest holds
    shift = np.concatenate([[0], np.cumsum(cut)])
    return np.stack([start - shift, end - shift, pitch], axis=1).astype(notes.dtype)


def choose_melodies(melodies, info, tracks="all", normalize_key=False, max_hold=0):
    """A file's melodies as an experiment learns them -> new (melodies, info), info["meters"] giving
    each melody's [numerator, denominator, offset].

    tracks: "all" melodies, or only the "lead" (pick_lead; the other tracks are marked "not the
    lead" in the track table). Each melody is then cut where its time signature changes
    (split_meters; the track table says so, and counts the parts in "melodies"). normalize_key:
    move each melody to C major or A minor, by the major or minor scale it fits best, as near its
    own register as the MIDI range allows. max_hold > 0: shorten_holds, by the melody's own bars.
    """
    table = [dict(row) for row in info["track_table"]]
    used = [row for row in table if row["used"]]  # one per melody, in order
    starts = info["melody_starts"]
    if tracks == "lead" and len(melodies) > 1:
        lead = pick_lead(melodies)
        for k, row in enumerate(used):
            if k != lead:
                row["used"], row["reason"] = False, "not the lead"
        melodies, starts, used = [melodies[lead]], [starts[lead]], [used[lead]]
    chosen, meters = [], []
    for melody, start, row in zip(melodies, starts, used):
        parts, left_out = split_meters(melody, start, info["time_signatures"])
        if len(parts) > 1:
            row["reason"] += (f", cut into {len(parts)} parts where the time signature changes "
                              f"({' '.join(meter_name(meter) for _, meter in parts)})")
        for name, count in left_out:
            row["reason"] += f", {count} notes in {name} left out: its bar is not a whole number of sixteenth notes"
        row["melodies"], row["used"] = len(parts), bool(parts)
        chosen += [notes for notes, _ in parts]
        meters += [meter for _, meter in parts]
    if normalize_key:
        chosen = [scales.transpose_notes(m, scales.key_shift(m[:, 2], 0) or 0) for m in chosen]
    if max_hold:
        chosen = [shorten_holds(m, max_hold, bar_steps(meter)) for m, meter in zip(chosen, meters)]
    return chosen, dict(info, tracks=sum(row["used"] for row in table), track_table=table, meters=meters)


def melody_options(config):
    """How an experiment turns files into melodies, from its config.json (older ones: the defaults)."""
    return {"polyphony": config.get("polyphony", "discard"), "tracks": config.get("tracks", "all"),
            "normalize_key": config.get("normalize_key", False), "max_hold": config.get("max_hold", 0)}
