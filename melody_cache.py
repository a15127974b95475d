"""A folder of MIDI files -> melodies, parsed by a pool of processes and kept in a cache.

Each file is parsed once per polyphony rule (midi_notes.midi_to_notes); the notes of every file of
a folder are kept in one .npz file (README: 'The melody cache'), read back as views, never copied.
"""
import collections
import hashlib
import json
import multiprocessing
import os
import sys

import numpy as np
from tqdm import tqdm

import midi_notes
import safe_write

CACHE_VERSION = 5  # bump when what midi_to_notes returns, or the cache's layout, changes
PARSE_CHUNK = 4  # files each task of the parsing pool takes at once


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
            if meta["version"] != CACHE_VERSION or meta["steps_per_quarter"] != midi_notes.STEPS_PER_QUARTER:
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
    meta = {"version": CACHE_VERSION, "steps_per_quarter": midi_notes.STEPS_PER_QUARTER, "files": files}
    notes = np.concatenate(pieces) if pieces else np.zeros((0, 3), np.int32)
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)

    def write(tmp):
        with open(tmp, "wb") as f:
            # the metadata as UTF-8 bytes: as a numpy string it would take 4 bytes a character, in
            # memory too, about 80 MB for 66,000 files (benchmarks/scale.py)
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), notes=notes, lengths=lengths)

    safe_write.write_atomic(path, write)


def hash_file(path):
    """sha1 of a file's bytes, or None if it cannot be read or is absurdly large."""
    try:
        if os.path.getsize(path) > midi_notes.MAX_FILE_BYTES:
            return None
        with open(path, "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()
    except OSError:
        return None


def parse_chunk(paths, polyphony="discard"):
    """midi_to_notes of each path: one task of parse_files' pool."""
    return [midi_notes.midi_to_notes(path, polyphony=polyphony) for path in paths]


def parse_files(paths, n_jobs=1, max_files_in_ram=25, quiet=False, polyphony="discard"):
    """midi_to_notes for each path, in order, in n_jobs processes; with a progress bar."""
    results = []
    bar = tqdm(total=len(paths), desc="Parsing MIDI", unit="file", disable=quiet or not paths, file=sys.stdout)
    if n_jobs == 1:
        for path in paths:
            results.append(midi_notes.midi_to_notes(path, polyphony=polyphony))
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
                  tracks="all", normalize_key=False, max_hold=0):
    """Every MIDI file under data_dir -> list of {path, sha1, melodies, **info}; cached per folder.

    path is relative to data_dir. Each file is parsed once per polyphony rule: later calls read
    the cache, and only parse files that are new or changed; files no longer in the folder are
    dropped from it. With subset (paths relative to data_dir), only those files are read, and the
    cache keeps the others. tracks, normalize_key and max_hold: see choose_melodies.
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
                                  "tracks": 0, "polyphonic": 0, "drums": 0, "qpm": None, "track_table": [],
                                  "meters": []}
        else:
            melodies, info = midi_notes.choose_melodies(*cached[sha], tracks, normalize_key, max_hold)
        files.append(dict(info, path=os.path.relpath(path, data_dir), sha1=sha, melodies=melodies))
    return files
