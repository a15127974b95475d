"""Files and tracks that give a melody, with each --polyphony and --tracks option.

    python benchmarks/track_yield.py                        # ../shared/data vg-piano and vgm-sample
    python benchmarks/track_yield.py --data_dir data/midi   # another folder

For each folder and option: files that give at least one melody, and tracks used out of the
tracks with notes (drum tracks not counted), as train.py would load them (melody_cache.load_melodies).
The melody cache lives in a temporary folder, removed at the end. Target: --polyphony highest
gives a melody for at least 95% of the vg-piano files.
"""
import argparse
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this script lives in benchmarks/; the project's modules are one folder up

import melody_cache  # noqa: E402
import midi_notes  # noqa: E402

SHARED = os.path.join(REPO, "..", "shared", "data")
TARGET = 0.95


def count_yield(folder, polyphony, tracks):
    """(files, files with a melody, tracks with notes but no drums, tracks used, notes in the melodies)."""
    files = melody_cache.load_melodies(folder, quiet=True, polyphony=polyphony, tracks=tracks)
    rows = [row for f in files for row in f["track_table"] if row["reason"] not in ("drum track", "no notes")]
    return (len(files), sum(bool(f["melodies"]) for f in files), len(rows), sum(row["used"] for row in rows),
            sum(len(m) for f in files for m in f["melodies"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", action="append", help="a MIDI folder to measure; may be repeated (default: vg-piano and vgm-sample from ../shared/data)")
    args = parser.parse_args(argv)
    folders = args.data_dir or [os.path.join(SHARED, name) for name in ["vg-piano", "vgm-sample"]]
    cache = tempfile.mkdtemp(prefix="track-yield-cache-")
    os.environ["MIDI_GENERATOR_CACHE"] = cache
    try:
        print(f"{'collection':<14}{'options':<36}{'files with a melody':>22}{'tracks used':>18}{'melody notes':>14}")
        for folder in folders:
            if not os.path.isdir(folder):
                sys.exit(f"error: {folder} is not a folder")
            name = os.path.basename(os.path.normpath(folder))
            for polyphony in midi_notes.POLYPHONY:
                for tracks in midi_notes.TRACKS:
                    n_files, with_melody, n_tracks, used, notes = count_yield(folder, polyphony, tracks)
                    share = with_melody / max(1, n_files)
                    options = f"--polyphony {polyphony} --tracks {tracks}"
                    print(f"{name:<14}{options:<36}{with_melody:>6} of {n_files:<4}({100 * share:5.1f}%)"
                          f"{used:>8} of {n_tracks:<5}{notes:>14}"
                          + (f"   {'meets' if share >= TARGET else 'misses'} the {100 * TARGET:.0f}% target"
                             if name == "vg-piano" and polyphony == "highest" else ""))
    finally:
        shutil.rmtree(cache)


if __name__ == "__main__":
    main()
