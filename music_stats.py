"""Music statistics of melodies as notes (n, 3) [start_step, end_step, pitch], and their
structure: phrases that come back, phrases copied from elsewhere, loops, endings, and where in
its bar each note starts. Bars are each melody's own, of its meter ([numerator, denominator,
offset], midi_notes), counted from the file's bar lines; without meters, bars of 4/4 from the
first note.
"""
import math

import numpy as np

import midi_notes
import scales
import step_encoding

LONGEST_NOTE_BIN = 16  # note-length histogram: 1, 2, ..., 15 and "16 or more" sixteenth notes


# ----------------------------------------------------------------------------
# Music statistics of melodies as notes: (n, 3) [start_step, end_step, pitch]


def pitch_class_histogram(pitches):
    """(12,) share of notes on each pitch class C, C#, ..., B (notes counted, not their length)."""
    counts = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12)
    return counts / max(1, counts.sum())


def note_length_histogram(lengths, longest=LONGEST_NOTE_BIN):
    """(longest,) share of notes lasting 1, 2, ..., longest - 1, and longest or more sixteenth notes."""
    counts = np.bincount(np.clip(np.asarray(lengths, dtype=np.int64), 1, longest) - 1, minlength=longest)
    return counts / max(1, counts.sum())


def histogram_overlap(p, q):
    """Sum of the smaller of two normalized histograms: 1 when equal, 0 when disjoint."""
    return float(np.minimum(p, q).sum())


def rest_ratio(steps):
    """Share of steps that are rests (class 0, in both encodings)."""
    steps = np.asarray(steps)
    return float(np.mean(steps == 0)) if len(steps) else float("nan")


def longest_repeated_run(pitches):
    """Most notes in a row on one pitch (rests between them do not break the run)."""
    pitches = np.asarray(pitches)
    if not len(pitches):
        return 0
    bounds = np.concatenate([[-1], np.flatnonzero(np.diff(pitches)), [len(pitches) - 1]])
    return int(np.diff(bounds).max())


def music_statistics(melodies):
    """Numbers and histograms of a set of melodies, each (n, 3) [start_step, end_step, pitch].

    Notes are counted as the MIDI files have them: a pitch struck again right after itself is two
    notes here, although the roll encoding merges them into one long note.
    """
    melodies = [np.asarray(m) for m in melodies if len(m)]
    pitches = np.concatenate([m[:, 2] for m in melodies])
    lengths = np.concatenate([m[:, 1] - m[:, 0] for m in melodies])  # sixteenth notes
    steps = np.concatenate([step_encoding.notes_to_steps(m, "roll") for m in melodies])  # leading silence trimmed
    runs = [longest_repeated_run(m[:, 2]) for m in melodies]
    return {
        "melodies": len(melodies),
        "notes": len(pitches),
        "steps": len(steps),
        "lowest_pitch": int(pitches.min()),
        "highest_pitch": int(pitches.max()),
        "pitch_span": int(pitches.max() - pitches.min()),  # semitones
        "mean_pitch_span_per_melody": float(np.mean([np.ptp(m[:, 2]) for m in melodies])),
        "rest_ratio": rest_ratio(steps),
        "longest_repeated_run": max(runs),  # notes
        "mean_longest_repeated_run_per_melody": float(np.mean(runs)),
        "in_scale_share": float(np.mean([scales.in_scale_share(m[:, 2]) for m in melodies])),
        # notes held a bar or longer, and the steps inside them: a melody stuck on one note
        "held_bar_share": float(np.mean(lengths >= midi_notes.STEPS_PER_BAR)),
        "held_bar_step_share": float(lengths[lengths >= midi_notes.STEPS_PER_BAR].sum() / len(steps)),
        "melodies_with_a_4_bar_note": float(np.mean([(m[:, 1] - m[:, 0]).max() >= 4 * midi_notes.STEPS_PER_BAR
                                                     for m in melodies])),
        "pitch_class_histogram": pitch_class_histogram(pitches).tolist(),
        "note_length_histogram": note_length_histogram(lengths).tolist(),
    }


# ----------------------------------------------------------------------------
# Structure: phrases that come back, and phrases copied from elsewhere. Melodies here are onset
# steps (a repeated note is not a held one) from a bar line (steps_from_bar_line), cut into bars of
# their own length (bar_lengths: steps in each melody's bar; bars of 4/4 when not given).


def steps_from_bar_line(notes, meter=None):
    """Onset steps of a melody from the bar line before its first note (meter: [numerator,
    denominator, offset]), or from its first note without a meter."""
    steps = step_encoding.notes_to_steps(notes, "onset")
    return np.concatenate([np.zeros(meter[2], np.uint8), steps]) if meter else steps


def bar_lengths_of(meters, count):
    """Steps in the bar of each of `count` melodies: by their meters, or 16 (4/4) without."""
    return [midi_notes.bar_steps(m) for m in meters] if meters else [midi_notes.STEPS_PER_BAR] * count


def melody_segments(steps, bars, bar=midi_notes.STEPS_PER_BAR):
    """(n, bars * bar) the melody's whole segments of `bars` bars of `bar` steps, from its first step."""
    length = bars * bar
    count = len(steps) // length
    return np.asarray(steps[:count * length], dtype=np.uint8).reshape(count, length)


def self_repetition(melodies, bars, bar_lengths=None):
    """Share of all segments of `bars` bars that repeat an earlier segment of the same melody exactly."""
    repeats = total = 0
    for steps, bar in zip(melodies, bar_lengths or [midi_notes.STEPS_PER_BAR] * len(melodies)):
        seen = set()
        for segment in melody_segments(steps, bars, bar):
            repeats += segment.tobytes() in seen
            seen.add(segment.tobytes())
            total += 1
    return repeats / total if total else float("nan")


def index_segments(melodies, bars, bar_lengths=None):
    """Every run of `bars` bars of these melodies, starting at any step, as a set of bytes (a run of
    2 bars of 6/8 is 24 steps long, of 4/4 32)."""
    found = set()
    for steps, bar in zip(melodies, bar_lengths or [midi_notes.STEPS_PER_BAR] * len(melodies)):
        length = bars * bar
        if len(steps) >= length:
            runs = np.lib.stride_tricks.sliding_window_view(np.asarray(steps, dtype=np.uint8), length)
            found.update(run.tobytes() for run in runs)
    return found


def copied_share(melodies, bars, index, bar_lengths=None):
    """Share of the melodies' segments of `bars` bars found verbatim in an index_segments set."""
    segments = [s.tobytes() for steps, bar in zip(melodies, bar_lengths or [midi_notes.STEPS_PER_BAR] * len(melodies))
                for s in melody_segments(steps, bars, bar)]
    return sum(s in index for s in segments) / len(segments) if segments else float("nan")


def structure_statistics(melodies, indexes=None, bar_lengths=None):
    """Self-repetition of bars, 2-bar and 4-bar segments; with indexes ({2: set, 4: set} from
    index_segments of other melodies), the share of 2-bar and 4-bar segments copied from them."""
    stats = {f"repeated_{bars}_bars": self_repetition(melodies, bars, bar_lengths) for bars in [1, 2, 4]}
    for bars in [2, 4]:
        stats[f"copied_{bars}_bars"] = copied_share(melodies, bars, indexes[bars], bar_lengths) if indexes else None
    return {name: None if value is not None and math.isnan(value) else value for name, value in stats.items()}


# ----------------------------------------------------------------------------
# Loops and whole tunes: a block played three times in a row, and how a melody ends. Melodies are
# onset steps from a bar line, cut into bars of their own length, as above.

LOOP_BARS = [2, 4, 8, 16]  # block lengths, in bars; 16: a model that looks 16 bars back may loop a whole part


def looped_bars(steps, bars, bar=midi_notes.STEPS_PER_BAR):
    """(n_bars,) bool: the melody's whole bars that lie in a third or later consecutive copy of a
    block of `bars` bars of `bar` steps (the block may start on any bar)."""
    count = len(steps) // bar
    codes = {}
    ids = np.array([codes.setdefault(one.tobytes(), len(codes)) for one in melody_segments(steps, 1, bar)], np.int64)
    looped = np.zeros(count, bool)
    for first in range(count - 3 * bars + 1):
        block, copies = ids[first:first + bars], 1
        while (first + (copies + 1) * bars <= count
               and np.array_equal(ids[first + copies * bars:first + (copies + 1) * bars], block)):
            copies += 1
        if copies >= 3:
            looped[first + 2 * bars:first + copies * bars] = True
    return looped


def loop_statistics(melodies, bar_lengths=None):
    """For blocks of 2, 4, 8 and 16 bars: the share of melodies that play one three or more times in a
    row (looped_N_bars), and the share of all steps in a third or later copy (looped_N_bars_steps)."""
    stats, total = {}, sum(len(steps) for steps in melodies)
    bar_lengths = bar_lengths or [midi_notes.STEPS_PER_BAR] * len(melodies)
    for bars in LOOP_BARS:
        looped = [looped_bars(steps, bars, bar) for steps, bar in zip(melodies, bar_lengths)]
        stats[f"looped_{bars}_bars"] = float(np.mean([m.any() for m in looped])) if melodies else None
        stats[f"looped_{bars}_bars_steps"] = (float(sum(m.sum() * bar for m, bar in zip(looped, bar_lengths)) / total)
                                              if total else None)
    return stats


def ends_on_tonic(pitches):
    """Whether the last note is the tonic of a best-fitting scale (a major scale or its relative minor:
    the same notes)."""
    counts = scales.scale_counts(pitches)
    return int(pitches[-1]) % 12 in {row % 12 for row in np.flatnonzero(counts == counts.max())}


def strong_beat_steps(meter):
    """Steps between strong beats: half a bar when the bar has an even number of beats (4/4: 8, 6/8:
    6), else a bar (3/4, 9/8)."""
    bar, beat = midi_notes.bar_steps(meter), midi_notes.beat_steps(meter)
    return bar // 2 if (bar // beat) % 2 == 0 else bar


def tune_statistics(melodies, meters=None):
    """How whole melodies, as notes, are built: their length in bars (quartiles), the share that end
    on the tonic, and the share whose last note begins on a strong beat of its bar (the first or
    third beat of 4/4, either beat of 6/8, the first of 3/4); bars of 4/4 from the first note
    without meters."""
    kept = [(np.asarray(m), meter) for m, meter in zip(melodies, meters or [None] * len(melodies)) if len(m)]
    if not kept:
        return {"length_bars_quartiles": None, "ends_on_tonic": None, "ends_on_strong_beat": None}
    meter_of = [meter or [*midi_notes.DEFAULT_METER, 0] for _, meter in kept]
    bars = [(m[-1, 1] - m[0, 0]) / midi_notes.bar_steps(meter) for (m, _), meter in zip(kept, meter_of)]
    strong = [(m[-1, 0] - m[0, 0] + meter[2]) % strong_beat_steps(meter) == 0 for (m, _), meter in zip(kept, meter_of)]
    return {"length_bars_quartiles": [float(q) for q in np.percentile(bars, [25, 50, 75])],
            "ends_on_tonic": float(np.mean([ends_on_tonic(m[:, 2]) for m, _ in kept])),
            "ends_on_strong_beat": float(np.mean(strong))}


# ----------------------------------------------------------------------------
# Where in its bar each note starts, by meter


def onset_histogram(melodies, meters, name):
    """(bar,) share of the notes of the melodies in meter `name` ('6/8') that start on each step of
    their bar, counted from the file's bar lines; None when no melody is in it."""
    bar = midi_notes.bar_steps(midi_notes.parse_meter(name))
    places = [(m[:, 0] - m[0, 0] + meter[2]) % bar for m, meter in zip(melodies, meters)
              if len(m) and midi_notes.meter_name(meter) == name]
    if not places:
        return None
    counts = np.bincount(np.concatenate(places), minlength=bar)
    return counts / counts.sum()


def total_variation(p, q):
    """Half the sum of the absolute differences of two normalised histograms: 0 when equal, 1 when disjoint."""
    return float(np.abs(np.asarray(p) - np.asarray(q)).sum() / 2)
