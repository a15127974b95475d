"""MIDI <-> steps, the melody cache, windows and the tf.data pipeline, the file split, and
experiment folders. Pictures, audio and the page that shows them are in media.py.

TensorFlow is imported only inside the functions that need it, so worker processes that parse
MIDI, and scripts' --help, stay light.

The grid: one step is a sixteenth note (STEPS_PER_QUARTER = 4), computed from MIDI ticks, so a
tempo change never stretches it. A melody is a uint8 array of class indices, one per step:
  roll encoding:  0 = rest, p + 1 = pitch p sounding                    (129 classes)
  onset encoding: 0 = rest, 1 = the note before goes on, p + 2 = pitch p starts  (130 classes)
"""
import collections
import contextlib
import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import subprocess
import sys
import warnings
import zipfile

import mido
import numpy as np
import pretty_midi
from tqdm import tqdm

import scales

STEPS_PER_QUARTER = 4  # sixteenth notes
STEPS_PER_BAR = 16  # a bar of 4/4: where a step stands in its bar, and how repetition is measured
POSITION_BITS = 8  # a lookback model reads each step's index in its melody modulo 2**8 steps (16 bars), in
# binary: the low 4 bits are its place in the bar, the high 4 its bar's place in a form of up to 16 bars
NUM_CLASSES = {"roll": 129, "onset": 130}
MAX_FILE_BYTES = 16 * 2**20  # larger MIDI files are refused before they are read
MAX_NOTES = 100_000  # per file: more is not a melody, and would cost minutes to parse
MAX_STEPS = 200_000  # per melody, in sixteenth notes (about 7 hours at 120 qpm)
CACHE_VERSION = 4  # bump when what midi_to_notes returns, or the cache's layout, changes
POLYPHONY = ["discard", "highest"]  # what to do with a track where notes sound together
TRACKS = ["all", "lead"]  # which melodies of a file to learn
LEAD_MIN_SHARE = 0.25  # a lead has at least this share of the notes of the file's busiest melody
PARSE_CHUNK = 4  # files each task of the parsing pool takes at once
SMPTE_MESSAGE = ("SMPTE time division (timed in frames per second, not in beats): not supported; "
                 "re-save it from a MIDI editor with ticks per quarter note")

# TensorFlow's notes that say nothing is wrong (see tensorflow_notes_dropped). Its libraries log the
# first two with absl as they load, before TF_CPP_MIN_LOG_LEVEL is read, so no environment variable
# hides them; the third is logged as an error, though TensorFlow goes on with its own kernels.
TENSORFLOW_NOTES = [
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r" port\.cc:\d+\] oneDNN custom operations are on\.",
    r" util\.cc:\d+\] oneDNN supports DT_\w+ only on platforms with AVX-512\. Falling back to the default Eigen",
]
# ... and those saying that CUDA is missing, which only tell a machine with no NVIDIA GPU that the
# CPU will be used; where there is one (a device node), they are real errors and are kept
NO_GPU_NOTES = [
    r" cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.$",
    r" cuda_platform\.cc:\d+\] failed call to cuInit: ",
]
NVIDIA_DEVICES = ["/dev/nvidiactl", "/dev/dxg"]  # Linux, and WSL2
# the filter process: passes on every stderr line but the notes, line by line as they come
NOTE_FILTER = """import re, sys
notes = re.compile(sys.argv[1].encode())
for line in sys.stdin.buffer:
    if not notes.search(line):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
"""

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
    melody (used), why (reason), and its notes and length (steps).
    """
    info = {"skipped": None, "recovered": None, "tracks": 0, "polyphonic": 0, "drums": 0, "qpm": None,
            "track_table": []}
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
                info["track_table"] = []
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
        info["track_table"] = []
        return [], info


def pick_lead(melodies):
    """Index of a file's lead: of the melodies with at least LEAD_MIN_SHARE of the notes of the
    busiest one, the one with the highest median pitch."""
    counts = np.array([len(m) for m in melodies])
    medians = np.array([np.median(m[:, 2]) for m in melodies])
    candidates = np.flatnonzero(counts >= LEAD_MIN_SHARE * counts.max())
    return int(candidates[np.argmax(medians[candidates])])


def choose_melodies(melodies, info, tracks="all", normalize_key=False):
    """A file's melodies as an experiment learns them -> new (melodies, info).

    tracks: "all" melodies, or only the "lead" (pick_lead; the other tracks are marked "not the
    lead" in the track table). normalize_key: move each melody to C major or A minor, by the
    major or minor scale it fits best, as near its own register as the MIDI range allows.
    """
    table = [dict(row) for row in info["track_table"]]
    if tracks == "lead" and len(melodies) > 1:
        lead = pick_lead(melodies)
        for k, row in enumerate(row for row in table if row["used"]):  # one used row per melody, in order
            if k != lead:
                row["used"], row["reason"] = False, "not the lead"
        melodies = [melodies[lead]]
    if normalize_key:
        melodies = [scales.transpose_notes(m, scales.key_shift(m[:, 2], 0) or 0) for m in melodies]
    return melodies, dict(info, tracks=len(melodies), track_table=table)


def melody_options(config):
    """How an experiment turns files into melodies, from its config.json (older ones: the defaults)."""
    return {"polyphony": config.get("polyphony", "discard"), "tracks": config.get("tracks", "all"),
            "normalize_key": config.get("normalize_key", False)}


# ----------------------------------------------------------------------------
# Notes <-> steps <-> MIDI


def notes_to_steps(notes, encoding="roll"):
    """(n, 3) [start_step, end_step, pitch] monophonic notes -> (length,) uint8 classes."""
    length = int(notes[-1, 1])
    marks = np.full(length, -1, dtype=np.int16)  # -1: same class as the step before
    ends = notes[:, 1]
    marks[ends[ends < length]] = 0  # a rest starts where a note ends ...
    marks[notes[:, 0]] = notes[:, 2] + (1 if encoding == "roll" else 2)  # ... unless a note starts there
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


def steps_to_midi(steps, qpm=120.0, program=0, encoding="roll", velocity=90):
    """Classes, one per sixteenth note -> a one-instrument PrettyMIDI at `qpm` quarter notes a minute."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    instrument = pretty_midi.Instrument(program=program)
    seconds_per_step = 60.0 / qpm / STEPS_PER_QUARTER
    for start, end, pitch in steps_to_notes(steps, encoding):
        instrument.notes.append(pretty_midi.Note(velocity, int(pitch), start * seconds_per_step,
                                                 end * seconds_per_step))
    midi.instruments.append(instrument)
    return midi


def midi_to_steps(path, encoding="roll", polyphony="discard", tracks="all", normalize_key=False):
    """A MIDI file -> (its melodies as uint8 class arrays, info), as midi_to_notes and choose_melodies."""
    melodies, info = choose_melodies(*midi_to_notes(path, polyphony), tracks, normalize_key)
    return [notes_to_steps(notes, encoding) for notes in melodies], info


def transpose_steps(steps, shift, encoding="roll"):
    """Classes moved by shift semitones: rests (and holds) stay, pitches move, clipped to 0..127."""
    first_pitch = 1 if encoding == "roll" else 2
    steps = np.asarray(steps, dtype=np.int64)
    moved = np.clip(steps + shift, first_pitch, first_pitch + 127)
    return np.where(steps >= first_pitch, moved, steps).astype(np.uint8)


@contextlib.contextmanager
def tensorflow_notes_dropped():
    """Within this, TensorFlow's notes that say nothing is wrong are dropped from stderr.

    stderr goes through a separate filter process that drops exactly TENSORFLOW_NOTES (and
    NO_GPU_NOTES on a machine with no NVIDIA GPU) and passes on everything else at once, so any
    other warning or error, even the last words of a crash, still reaches the terminal.
    """
    notes = TENSORFLOW_NOTES + ([] if any(os.path.exists(p) for p in NVIDIA_DEVICES) else NO_GPU_NOTES)
    sys.stderr.flush()
    stderr = os.dup(2)
    note_filter = subprocess.Popen([sys.executable, "-c", NOTE_FILTER, "|".join(notes)],
                                   stdin=subprocess.PIPE, stdout=stderr)
    os.dup2(note_filter.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(stderr, 2)
        os.close(stderr)
        note_filter.stdin.close()
        note_filter.wait()


def import_keras():
    """Import keras and start TensorFlow's devices, with its start-up notes dropped from stderr."""
    with tensorflow_notes_dropped():
        import keras
        import tensorflow as tf
        tf.config.list_physical_devices("GPU")  # CUDA starts, or fails to, here
    return keras


def write_atomic(path, write):
    """Call write(tmp_path), then rename to path, so no half-written file ever has its name.

    The temporary name holds the process id: two processes writing one path (the workers of a
    multi_worker run saving the melody cache) never write into each other's file.
    """
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.partial")
    write(tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------
# A folder of MIDI files -> melodies, through a cache


def find_midi_files(data_dir):
    """Every .mid / .midi / .rmi file (any case) under data_dir, recursively, sorted by path."""
    paths = []
    for root, dirs, files in os.walk(data_dir):
        dirs.sort()
        paths += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".mid", ".midi", ".rmi"))]
    return paths


def cache_path(data_dir, polyphony="discard"):
    """Where the melodies of data_dir parsed with this polyphony rule are cached (README: 'The melody cache')."""
    root = os.environ.get("MIDI_GENERATOR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "midi-music-generator")
    key = hashlib.sha1(os.path.abspath(data_dir).encode()).hexdigest()[:16]
    return os.path.join(root, f"{key}-{polyphony}.npz")


def load_cache(path):
    """{sha1: (melodies, info)} from a cache file; empty if missing, corrupt or of another version."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(f["meta"].tobytes())  # UTF-8 JSON
            if meta["version"] != CACHE_VERSION or meta["steps_per_quarter"] != STEPS_PER_QUARTER:
                return {}
            notes, lengths = f["notes"], f["lengths"]
        pieces = np.split(notes, np.cumsum(lengths)[:-1]) if len(lengths) else []  # views: nothing is copied
        entries, i = {}, 0
        for sha, info in meta["files"].items():
            count = info.pop("melodies")
            entries[sha] = (pieces[i:i + count], info)
            i += count
        if i != len(lengths):
            return {}
        return entries
    except FileNotFoundError:
        return {}
    except Exception as e:  # noqa: BLE001 -- a damaged cache is rebuilt, never trusted
        print(f"The melody cache {path} is unreadable ({type(e).__name__}); rebuilding it.")
        return {}


def save_cache(path, entries):
    """Write {sha1: (melodies, info)} to the cache file, atomically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files, pieces = {}, []
    for sha, (melodies, info) in entries.items():
        files[sha] = dict(info, melodies=len(melodies))
        pieces += melodies
    meta = {"version": CACHE_VERSION, "steps_per_quarter": STEPS_PER_QUARTER, "files": files}
    notes = np.concatenate(pieces) if pieces else np.zeros((0, 3), np.int32)
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)

    def write(tmp):
        with open(tmp, "wb") as f:
            # the metadata as UTF-8 bytes: as a numpy string it would take 4 bytes a character, in
            # memory too, about 80 MB for 66,000 files (benchmarks/scale.py)
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), notes=notes, lengths=lengths)

    write_atomic(path, write)


def hash_file(path):
    """sha1 of a file's bytes, or None if it cannot be read or is absurdly large."""
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()
    except OSError:
        return None


def parse_chunk(paths, polyphony="discard"):
    """midi_to_notes of each path: one task of parse_files' pool."""
    return [midi_to_notes(path, polyphony=polyphony) for path in paths]


def parse_files(paths, n_jobs=1, max_files_in_ram=25, quiet=False, polyphony="discard"):
    """midi_to_notes for each path, in order, in n_jobs processes; with a progress bar."""
    results = []
    bar = tqdm(total=len(paths), desc="Parsing MIDI", unit="file", disable=quiet or not paths, file=sys.stdout)
    if n_jobs == 1:
        for path in paths:
            results.append(midi_to_notes(path, polyphony=polyphony))
            bar.update()
    else:
        # spawn: the start method of every platform (Windows has no fork), paid once per worker, not per
        # file. Files go to the workers PARSE_CHUNK at a time: one message per file kept the parent busy
        # enough to hold two workers to 1.50 times one process's rate, against 1.75 in chunks of 4
        # (benchmarks/scale.py, 2 cores). At most max_files_in_ram files are queued, parsed or waiting to be
        # taken in order at once.
        chunk = max(1, min(PARSE_CHUNK, max_files_in_ram // n_jobs))
        with multiprocessing.get_context("spawn").Pool(n_jobs) as pool:
            pending = collections.deque()
            for i in range(0, len(paths), chunk):
                pending.append(pool.apply_async(parse_chunk, (paths[i:i + chunk], polyphony)))
                if len(pending) * chunk >= max_files_in_ram:
                    results += pending.popleft().get()
                    bar.update(len(results) - bar.n)
            for task in pending:
                results += task.get()
                bar.update(len(results) - bar.n)
    bar.close()
    return results


def load_melodies(data_dir, n_jobs=1, max_files_in_ram=25, quiet=False, subset=None, polyphony="discard",
                  tracks="all", normalize_key=False):
    """Every MIDI file under data_dir -> list of {path, sha1, melodies, **info}; cached per folder.

    path is relative to data_dir. Each file is parsed once per polyphony rule: later calls read
    the cache, and only parse files that are new or changed; files no longer in the folder are
    dropped from it. With subset (paths relative to data_dir), only those files are read, and the
    cache keeps the others. tracks and normalize_key: see choose_melodies.
    """
    say = (lambda *a: None) if quiet else print
    paths = find_midi_files(data_dir)
    if subset is not None:
        subset = set(subset)
        paths = [p for p in paths if os.path.relpath(p, data_dir) in subset]
    shas = [hash_file(p) for p in paths]
    cache_file = cache_path(data_dir, polyphony)
    cached = load_cache(cache_file)
    todo = {}  # sha1 -> the first path with that content: identical files are parsed once
    for sha, path in zip(shas, paths):
        if sha and sha not in cached:
            todo.setdefault(sha, path)
    todo = list(todo.items())
    if todo:
        from_cache = sum(sha in cached for sha in shas)
        duplicates = sum(sha is not None and sha not in cached for sha in shas) - len(todo)
        unreadable = shas.count(None)
        others = [f"{from_cache} from the cache {cache_file}"] if from_cache else []
        others += [f"{duplicates} byte-identical duplicate{'s' * (duplicates > 1)}"] if duplicates else []
        others += [f"{unreadable} unreadable or too large"] if unreadable else []
        say(f"Parsing {len(todo)} of {len(paths)} MIDI files under {data_dir}"
            + (f" ({', '.join(others)})" if others else ""))
        for (sha, _), result in zip(todo, parse_files([p for _, p in todo], n_jobs, max_files_in_ram, quiet,
                                                      polyphony)):
            cached[sha] = result
    kept = {sha: cached[sha] for sha in shas if sha} if subset is None else cached
    if todo or len(kept) != len(cached):
        save_cache(cache_file, kept)
    files = []
    for path, sha in zip(paths, shas):
        if sha is None:
            melodies, info = [], {"skipped": "cannot be read, or over the size limit", "recovered": None,
                                  "tracks": 0, "polyphonic": 0, "drums": 0, "qpm": None, "track_table": []}
        else:
            melodies, info = choose_melodies(*cached[sha], tracks, normalize_key)
        files.append(dict(info, path=os.path.relpath(path, data_dir), sha1=sha, melodies=melodies))
    return files


def summarize_files(files):
    """Print one line per skipped or recovered file and the totals; returns the totals."""
    reasons = collections.Counter(row["reason"] for f in files for row in f["track_table"])
    totals = {
        "files": len(files),
        "read": sum(f["skipped"] is None for f in files),
        "skipped": sum(f["skipped"] is not None for f in files),
        "recovered": sum(f["recovered"] is not None for f in files),
        "tracks": sum(f["tracks"] for f in files),
        "highest": reasons["polyphonic, highest notes kept"],
        "polyphonic": reasons["polyphonic"],
        "drums": reasons["drum track"],
        "not_lead": reasons["not the lead"],
    }
    for f in files:
        if f["skipped"]:
            print(f"  skipped {f['path']}: {f['skipped']}")
        elif f["recovered"]:
            print(f"  recovered {f['path']}: {f['recovered']}")
    used = (f"{totals['tracks']} used ({totals['highest']} of them polyphonic, highest notes kept)"
            if totals["highest"] else f"{totals['tracks']} used")
    print(f"Files: {totals['files']} found, {totals['read']} read ({totals['recovered']} recovered), "
          f"{totals['skipped']} skipped. Tracks: {used}, {totals['polyphonic']} polyphonic discarded, "
          f"{totals['drums']} drum ignored" + (f", {totals['not_lead']} not the lead." if totals["not_lead"] else "."))
    return totals


# ----------------------------------------------------------------------------
# Melodies -> windows, and the train/validation split


def split_files(files, window_size, seed=0, validation_fraction=0.2):
    """Files with at least one window -> (train, validation) lists, 80/20 by file, seeded.

    Byte-identical files (same sha1) always land on the same side.
    """
    usable = [f for f in files if any(len(m) and m[-1, 1] > window_size for m in f["melodies"])]
    shas = sorted({f["sha1"] for f in usable})
    if len(shas) < 2:
        return usable, []
    order = np.random.default_rng(seed).permutation(len(shas))
    n_val = min(len(shas) - 1, max(1, round(validation_fraction * len(shas))))
    val_shas = {shas[i] for i in order[:n_val]}
    return [f for f in usable if f["sha1"] not in val_shas], [f for f in usable if f["sha1"] in val_shas]


def files_to_steps(files, encoding="roll"):
    """All melodies of these files as step arrays, in file order."""
    return [notes_to_steps(m, encoding) for f in files for m in f["melodies"] if len(m)]


def make_windows(melodies, window_size, history=0):
    """Melodies -> (steps, starts): one flat uint8 array and the start of every window in it.

    Window k is steps[starts[k] : starts[k] + window_size] and its target, the step right after
    it, is steps[starts[k] + window_size]. No window crosses from one melody into the next.
    history > 0 (models with --lookback): each melody is preceded by at least `history` steps of
    rest (the silence before a tune), and melodies start 2**POSITION_BITS steps apart, so the steps a
    window's lookback reaches are always at hand, and a step's index in `steps` modulo 2**POSITION_BITS
    is its index in its melody modulo 16 bars.
    """
    steps, runs = make_window_runs(melodies, window_size, history)
    starts = np.concatenate([np.arange(first, first + count) for first, count in runs]
                            ) if len(runs) else np.zeros(0, np.int64)
    return steps, starts


def make_window_runs(melodies, window_size, history=0):
    """As make_windows, but the windows of each melody as one run: (steps, runs).

    runs: (melodies, 2) int64 [first start, window count]; a melody's windows start at consecutive
    steps. 16 bytes a melody, where make_windows' starts take 8 bytes a window (200 MB for the 26
    million windows of 64 times the bundled tunes): what training holds, through make_dataset.
    """
    melodies = [m for m in melodies if len(m) > window_size]
    lengths = np.array([len(m) for m in melodies], dtype=np.int64)
    period = 2 ** POSITION_BITS
    before = -(-history // period) * period  # rest, in whole periods
    if history:
        melodies = [np.concatenate([np.zeros(before, np.uint8), m, np.zeros(-len(m) % period, np.uint8)])
                    for m in melodies]
    blocks = np.array([len(m) for m in melodies], dtype=np.int64)
    offsets = np.cumsum(blocks) - blocks + before  # where each melody's first window starts
    steps = np.concatenate(melodies) if melodies else np.zeros(0, np.uint8)
    return steps, np.stack([offsets, lengths - window_size], axis=1)


def windows_at(steps, starts, window_size, history=0):
    """(x, y) for the windows at these starts: x (n, history + window_size) classes, the `history`
    steps before each window included, and y (n,) the step right after the window."""
    x = steps[starts[:, None] + np.arange(-history, window_size)]
    return x, steps[starts + window_size]


def lookback_features(current, lagged, position, num_classes):
    """What a --lookback model reads at each step, in TensorFlow ops.

    current: (...) classes; lagged: (..., K) the classes `lookback` steps before each; position:
    (...) each step's index in its melody. Returns (..., num_classes + K + POSITION_BITS) float32:
    the step one-hot, whether it repeats the step each lookback before (Magenta's Lookback RNN
    'repeating' flags), and its position as POSITION_BITS binary digits (Magenta's counter of the
    step in the bar, here extended to the bar in a 16-bar form).
    """
    import tensorflow as tf

    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(tf.cast(position, tf.int32)[..., None],
                                                         tf.range(POSITION_BITS)), 1)
    return tf.concat([tf.one_hot(current, num_classes), tf.cast(current[..., None] == lagged, tf.float32),
                      tf.cast(bits, tf.float32)], axis=-1)


def register_features(recent, num_classes):
    """What a --register model weighs each class of the next step by, in TensorFlow ops.

    recent: (batch, R) classes, the last R steps. Returns (batch, 2, num_classes) float32: how far
    each pitch lies beyond the lowest or highest note of those steps, in octaves (0 within them, for
    rest and hold, and when no note sounded), and that distance times their span in octaves. The
    model learns how much a note beyond the range the melody keeps costs, and that it costs more the
    wider the range already is.
    """
    import tensorflow as tf

    first_pitch = num_classes - 128  # classes below are rest (and hold)
    recent = tf.cast(recent, tf.int32)
    is_note = recent >= first_pitch
    low = tf.reduce_min(tf.where(is_note, recent, num_classes), axis=1, keepdims=True)  # (batch, 1)
    high = tf.reduce_max(tf.where(is_note, recent, -1), axis=1, keepdims=True)
    classes = tf.range(num_classes)[None]  # (1, num_classes)
    beyond = tf.maximum(tf.maximum(low - classes, classes - high), 0)  # semitones
    beyond = tf.where((classes >= first_pitch) & (high >= 0), beyond, 0)
    octaves = tf.cast(beyond, tf.float32) / 12
    span = tf.cast(tf.maximum(high - low, 0), tf.float32) / 12
    return tf.stack([octaves, octaves * span], axis=1)


def history_steps(lookback=(), register=0):
    """Steps before each window that a model reads: its longest lookback, or its register."""
    return max([*lookback, register])


def model_history(config):
    """history_steps of an experiment's model, from its config."""
    return history_steps(config.get("lookback", []), config.get("register", 0))


def make_dataset(steps, starts, window_size, batch_size, num_classes, shuffle=False, transpose=0,
                 encoding="roll", seed=0, lookback=(), register=0):
    """The windows as Keras trains on them: a tf.data pipeline of (x, y) batches.

    x: (batch, window_size, num_classes) float32 one-hot; y: (batch,) int32, the step right after.
    starts: (n,) window starts from make_windows, or (melodies, 2) runs from make_window_runs.
    Only the flat steps (1 byte each) and the runs are held; each batch is cut and one-hot
    encoded in TensorFlow ops, in parallel with training, so no Python runs per batch. With
    shuffle, every window is seen exactly once per epoch, in a new order each epoch: a permutation
    computed index by index (tf.random.experimental.index_shuffle), never held. transpose > 0
    shifts each window and its target by a random number of semitones in [-transpose, transpose],
    only as far as keeps all its pitches in 0..127.

    lookback (steps, from make_windows with a history of model_history steps): x is instead a dict of
    "steps": (batch, window_size, num_classes + K + POSITION_BITS) lookback_features, and
    "lookback": (batch, K, num_classes) one-hot, the step each lookback before the target, which
    the model may copy; with register (steps, with lookback), also "register": (batch, 2,
    num_classes) register_features of the last `register` steps before the target.
    """
    import tensorflow as tf

    steps = tf.constant(steps)
    history = history_steps(lookback, register)
    offsets = tf.range(-history, window_size + 1, dtype=tf.int64)  # history, the window and its target
    first_pitch = 1 if encoding == "roll" else 2  # classes below are rest (and hold)

    def transpose_batch(xy, random_seed):
        is_note = xy >= first_pitch
        lowest = tf.reduce_min(tf.where(is_note, xy, 255), axis=1) - first_pitch
        highest = tf.reduce_max(tf.where(is_note, xy, -1), axis=1) - first_pitch
        has_notes = tf.reduce_any(is_note, axis=1)
        low = tf.where(has_notes, tf.maximum(-transpose, -lowest), 0)
        high = tf.where(has_notes, tf.minimum(transpose, 127 - highest), 0)
        uniform = tf.random.stateless_uniform(tf.shape(low), seed=tf.stack([random_seed, 0]))
        shift = low + tf.cast(uniform * tf.cast(high - low + 1, tf.float32), tf.int32)
        return tf.where(is_note, xy + shift[:, None], xy)

    def cut_batch(batch_starts, random_seed):
        xy = tf.cast(tf.gather(steps, batch_starts[:, None] + offsets), tf.int32)  # (batch, history + window_size + 1)
        if transpose:
            xy = transpose_batch(xy, random_seed)
        x, y = xy[:, history:-1], xy[:, -1]
        if not lookback:
            return tf.one_hot(x, num_classes), y
        lags = tf.constant(lookback)
        lagged = tf.gather(xy, history + tf.range(window_size)[:, None] - lags, axis=1)  # (batch, window_size, K)
        position = (batch_starts[:, None] + tf.range(window_size, dtype=tf.int64)) % 2 ** POSITION_BITS
        candidates = tf.gather(xy, history + window_size - lags, axis=1)  # (batch, K)
        inputs = {"steps": lookback_features(x, lagged, position, num_classes),
                  "lookback": tf.one_hot(candidates, num_classes)}
        if register:
            inputs["register"] = register_features(xy[:, history + window_size - register:-1], num_classes)
        return inputs, y

    starts = np.asarray(starts, np.int64)
    runs = starts if starts.ndim == 2 else np.stack([starts, np.ones_like(starts)], axis=1)  # runs of one window
    num_windows = int(runs[:, 1].sum())
    run_firsts = tf.constant(runs[:, 0])  # (runs,) the start of each run's first window
    run_indices = tf.constant(np.cumsum(runs[:, 1]) - runs[:, 1])  # (runs,) its number among all windows
    # random seeds, new every pass over the data (epoch): one for its order, one per batch
    random_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def window_starts(indices, epoch_seed):
        """(batch,) window numbers -> their starts; with shuffle, through a permutation new each epoch."""
        if shuffle:
            indices = tf.random.experimental.index_shuffle(indices, tf.stack([epoch_seed, 0]),
                                                           tf.constant(num_windows - 1, tf.int64))
        run = tf.searchsorted(run_indices, indices, side="right") - 1
        return tf.gather(run_firsts, run) + indices - tf.gather(run_indices, run)

    def batch_starts(epoch_seed):
        return tf.data.Dataset.range(num_windows).batch(batch_size).map(lambda i: window_starts(i, epoch_seed))

    batches = random_seeds.take(1).flat_map(batch_starts)
    batches = batches.apply(tf.data.experimental.assert_cardinality(math.ceil(num_windows / batch_size)))
    return (tf.data.Dataset.zip(batches, random_seeds.skip(1))
            .map(cut_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))


# ----------------------------------------------------------------------------
# Experiment folders


def list_experiments(root="experiments"):
    """Numbered experiment folders under root, as (number, path), in number order."""
    if not os.path.isdir(root):
        return []
    found = [(int(name), os.path.join(root, name)) for name in os.listdir(root)
             if name.isdigit() and os.path.isdir(os.path.join(root, name))]
    return sorted(found)


def make_experiment_dir(path=None, root="experiments"):
    """Create and return path, or the next numbered folder under root: experiments/01, 02, ..."""
    if path:
        os.makedirs(path, exist_ok=True)
        return path
    os.makedirs(root, exist_ok=True)
    existing = list_experiments(root)
    number = existing[-1][0] + 1 if existing else 1
    while True:
        path = os.path.join(root, f"{number:02d}")
        try:
            os.makedirs(path)  # fails if another run took this number meanwhile
            return path
        except FileExistsError:
            number += 1


CHECKPOINT_RE = re.compile(r"^epoch(\d+)-val_loss([^/]*)\.keras$")


def list_checkpoints(experiment_dir):
    """Complete checkpoints of an experiment as (epoch, path), in epoch order."""
    folder = os.path.join(experiment_dir, "checkpoints")
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, name)) for name in os.listdir(folder)
             if (m := CHECKPOINT_RE.match(name))]
    return sorted(found)


def checkpoint_loss(path):
    """The validation loss in a checkpoint's name, in nats per step; inf when it is not a number."""
    loss = float(CHECKPOINT_RE.match(os.path.basename(path)).group(2))
    return loss if math.isfinite(loss) else math.inf


def by_validation_loss(checkpoint):
    """Sort key of an (epoch, path) checkpoint: lowest validation loss first, the earlier epoch on a tie."""
    return checkpoint_loss(checkpoint[1]), checkpoint[0]


def describe_epochs(epochs):
    """[1, 2, 3, 5, 7, 8] -> '1-3, 5, 7-8'."""
    runs = []
    for epoch in epochs:
        if runs and epoch == runs[-1][1] + 1:
            runs[-1][1] = epoch
        else:
            runs.append([epoch, epoch])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def is_whole_checkpoint(path):
    """True when a .keras file is a whole zip archive whose every member passes its CRC check."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def set_aside_checkpoint(path):
    """Move a damaged checkpoint into checkpoints/damaged/ (never deleting it), with one line naming it."""
    folder = os.path.join(os.path.dirname(path), "damaged")
    os.makedirs(folder, exist_ok=True)
    name, number = os.path.basename(path), 1
    while os.path.exists(os.path.join(folder, name)):  # an earlier damaged copy keeps its name
        number += 1
        name = f"{os.path.basename(path)[:-6]}-{number}.keras"
    os.replace(path, os.path.join(folder, name))
    print(f"Moved {path} into {folder}/: it is damaged (not a whole .keras file: cut short, or a bad copy)")


def choose_checkpoint(experiment_dir, which="latest", set_aside=True):
    """(epoch, path) of the whole checkpoint named by `which`, or None when there is none.

    which: "latest" (highest epoch), "best" (lowest validation loss in the name; the earlier epoch
    on a tie) or an epoch number. A damaged checkpoint met on the way is set aside and the next one
    in that order is taken, so a cut-short latest checkpoint gives the one before it. With
    set_aside=False a damaged one is only passed over (a process that must not write).
    """
    checkpoints = list_checkpoints(experiment_dir)
    if which == "latest":
        candidates = checkpoints[::-1]
    elif which == "best":
        candidates = sorted(checkpoints, key=by_validation_loss)
    else:
        candidates = [c for c in checkpoints if c[0] == int(which)]
    for epoch, path in candidates:
        if is_whole_checkpoint(path):
            return epoch, path
        if set_aside:
            set_aside_checkpoint(path)
    return None


def save_config(experiment_dir, config):
    """Write config.json, atomically."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(config, f, indent=2)
    write_atomic(os.path.join(experiment_dir, "config.json"), write)


DATA_TABLE_COLUMNS = ["file", "track", "name", "program", "notes", "steps", "melody_notes", "used", "reason", "split"]


def make_data_table(files, train, validation, window_size):
    """Rows of DATA_TABLE_COLUMNS for every track of every file: used for training or not, why, and its counts.

    One row per track (one per skipped file): notes in the track, its length in sixteenth notes
    (steps), notes of the melody taken from it, and the file's side of the split.
    """
    split = dict.fromkeys((f["path"] for f in train), "train") | dict.fromkeys((f["path"] for f in validation),
                                                                                "validation")
    rows = []
    for f in files:
        if not f["track_table"]:  # unreadable, or refused before its tracks were looked at
            rows.append([f["path"], "", "", "", 0, 0, 0, "no", f"file skipped: {f['skipped']}", ""])
            continue
        melodies = iter(f["melodies"])
        for row in f["track_table"]:
            used, reason = row["used"], row["reason"]
            if used and next(melodies)[-1, 1] <= window_size:  # make_windows drops it
                used, reason = False, f"{reason}, but no longer than the window of {window_size} steps"
            rows.append([f["path"], row["track"], row["name"], row["program"], row["notes"], row["steps"],
                         row["melody_notes"], "yes" if used else "no", reason, split.get(f["path"], "")])
    return rows


def write_data_table(path, rows):
    """Write make_data_table's rows to a CSV file, atomically."""
    def write(tmp):
        with open(tmp, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(DATA_TABLE_COLUMNS)
            writer.writerows(rows)

    write_atomic(path, write)


def load_config(experiment_dir):
    with open(os.path.join(experiment_dir, "config.json")) as f:
        return json.load(f)


def backup_epoch(backup_dir):
    """The epoch BackupAndRestore was in when it last saved (0-based), or -1 if unreadable."""
    try:
        with open(os.path.join(backup_dir, "training_metadata.json")) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1
