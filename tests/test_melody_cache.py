"""Promises of melody_cache.py: files found, parsed once in any number of processes, cached."""
import json
import os

import numpy as np
import pytest

import melody_cache
import midi_notes
from conftest import scale_melody, shared, write_midi


def test_corrupt_file_is_skipped_with_its_reason(tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"this is not midi")
    (tmp_path / "empty.mid").write_bytes(b"")
    write_midi(tmp_path / "good.mid", [scale_melody(32)])
    files = {f["path"]: f for f in melody_cache.load_melodies(str(tmp_path), quiet=True)}
    assert files["broken.mid"]["skipped"] == "not a MIDI file (no MThd header)"
    assert "truncated" in files["empty.mid"]["skipped"]
    assert files["good.mid"]["skipped"] is None and len(files["good.mid"]["melodies"]) == 1


@pytest.mark.parametrize("max_files_in_ram", [3, 25])  # one file a task, and several
def test_several_processes_parse_what_one_does_in_the_same_order(tmp_path, max_files_in_ram):
    paths = []
    for i in range(9):
        path = tmp_path / f"{i}.mid"
        write_midi(path, [scale_melody(16 + 4 * i, offset=i)])
        paths.append(str(path))
    (tmp_path / "broken.mid").write_bytes(b"this is not midi")
    paths.insert(4, str(tmp_path / "broken.mid"))
    one = melody_cache.parse_files(paths, n_jobs=1, quiet=True)
    two = melody_cache.parse_files(paths, n_jobs=2, max_files_in_ram=max_files_in_ram, quiet=True)
    assert len(two) == len(paths) and two[4][1]["skipped"] and two[4][1]["skipped"] == one[4][1]["skipped"]
    for (melodies, info), (expected, expected_info) in zip(two, one):
        assert info == expected_info and len(melodies) == len(expected)
        assert all(np.array_equal(m, e) for m, e in zip(melodies, expected))


def test_files_are_found_recursively_in_any_case_and_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "folder.mid").mkdir()  # a directory named like a MIDI file is not one
    for name in ["b/z.MID", "a.midi", "c.mid", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    found = [os.path.relpath(p, tmp_path) for p in melody_cache.find_midi_files(str(tmp_path))]
    assert found == ["a.midi", "c.mid", os.path.join("b", "z.MID")]


def test_cache_parses_each_file_once_and_follows_changes(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_midi(data / f"t{i}.mid", [scale_melody(32, offset=i)])
    first = melody_cache.load_melodies(str(data), quiet=True)
    parsed = []
    real = midi_notes.midi_to_notes
    monkeypatch.setattr(midi_notes, "midi_to_notes", lambda path, **options: parsed.append(os.path.basename(path)) or real(path, **options))
    second = melody_cache.load_melodies(str(data), quiet=True)
    assert parsed == []
    assert [m.tolist() for f in second for m in f["melodies"]] == [m.tolist() for f in first for m in f["melodies"]]
    write_midi(data / "t1.mid", [scale_melody(48, offset=5)])  # changed
    write_midi(data / "t9.mid", [scale_melody(16)])  # added
    os.remove(data / "t2.mid")  # removed
    third = melody_cache.load_melodies(str(data), quiet=True)
    assert sorted(parsed) == ["t1.mid", "t9.mid"]
    assert [f["path"] for f in third] == ["t0.mid", "t1.mid", "t9.mid"]
    assert third[1]["melodies"][0][-1, 1] == 48
    assert len(melody_cache.load_cache(melody_cache.cache_path(str(data)))) == 3  # the removed file is forgotten


def test_a_subset_reads_only_its_files_and_the_cache_keeps_the_others(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_midi(data / f"t{i}.mid", [scale_melody(32, offset=i)])
    parsed = []
    real = midi_notes.midi_to_notes
    monkeypatch.setattr(midi_notes, "midi_to_notes", lambda path, **kw: parsed.append(os.path.basename(path)) or real(path, **kw))
    melody_cache.load_melodies(str(data), quiet=True)
    write_midi(data / "t1.mid", [scale_melody(48, offset=5)])  # changed
    files = melody_cache.load_melodies(str(data), quiet=True, subset=["t2.mid", "t1.mid", "gone.mid"])
    assert [f["path"] for f in files] == ["t1.mid", "t2.mid"] and files[0]["melodies"][0][-1, 1] == 48
    assert parsed == ["t0.mid", "t1.mid", "t2.mid", "t1.mid"]
    assert len(melody_cache.load_cache(melody_cache.cache_path(str(data)))) == 4  # t0 and both versions of t1 kept


def test_corrupt_or_old_cache_is_rebuilt_not_trusted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_midi(data / "t.mid", [scale_melody(32)])
    expected = melody_cache.load_melodies(str(data), quiet=True)[0]["melodies"][0].tolist()
    cache = melody_cache.cache_path(str(data))
    with open(cache, "wb") as f:
        f.write(b"garbage")
    assert melody_cache.load_melodies(str(data), quiet=True)[0]["melodies"][0].tolist() == expected
    entries = melody_cache.load_cache(cache)
    melody_cache.save_cache(cache, {sha: ([np.zeros((1, 3), np.int32)], info) for sha, (_, info) in entries.items()})
    monkey_version = melody_cache.CACHE_VERSION
    try:
        melody_cache.CACHE_VERSION = monkey_version + 1  # the cache on disk is now from another version
        assert melody_cache.load_melodies(str(data), quiet=True)[0]["melodies"][0].tolist() == expected
    finally:
        melody_cache.CACHE_VERSION = monkey_version


def test_a_cache_in_the_layout_of_version_3_is_rebuilt_without_a_word(tmp_path, capsys):
    write_midi(tmp_path / "a.mid", [scale_melody(32)])
    melody_cache.load_melodies(str(tmp_path), quiet=True)
    cache = melody_cache.cache_path(str(tmp_path))
    with np.load(cache) as f:  # version 3 kept its JSON metadata as a numpy string, 4 bytes a character
        meta = json.loads(f["meta"].tobytes())
        meta["version"] = 3
        np.savez(cache, meta=json.dumps(meta), notes=f["notes"], lengths=f["lengths"])
    assert melody_cache.load_cache(cache) == {} and capsys.readouterr().out == ""
    assert len(melody_cache.load_melodies(str(tmp_path), quiet=True)[0]["melodies"]) == 1  # parsed again
    assert melody_cache.load_cache(cache)  # and cached in the new layout


def test_loading_tells_byte_identical_duplicates_from_cached_files(melody_dir, capsys):
    with open(os.path.join(melody_dir, "tune0.mid"), "rb") as f:
        data = f.read()
    with open(os.path.join(melody_dir, "copy of tune0.mid"), "wb") as f:
        f.write(data)
    melody_cache.load_melodies(melody_dir)
    assert capsys.readouterr().out.startswith(f"Parsing 6 of 7 MIDI files under {melody_dir} (1 byte-identical duplicate)\n")
    write_midi(os.path.join(melody_dir, "new.mid"), [scale_melody(32)])
    melody_cache.load_melodies(melody_dir)
    assert capsys.readouterr().out.startswith(f"Parsing 1 of 8 MIDI files under {melody_dir} (7 from the cache ")


def test_nottingham_loads_with_the_20_double_stop_files_discarded():
    files = melody_cache.load_melodies(shared("nottingham"), quiet=True)
    assert len(files) == 1034
    skipped = [f for f in files if f["skipped"]]
    assert len(skipped) == 20 and all(f["polyphonic"] == 1 for f in skipped)
