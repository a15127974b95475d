"""How many notes survive each encoding? Encode every melody of a collection, decode it, compare.

    python benchmarks/encoding_survival.py                      # ../shared/data nottingham and midi-rnn-lakh
    python benchmarks/encoding_survival.py --data_dir data/midi

The roll encoding (129 classes) cannot tell a note struck again at the same pitch from a held
note, so re-attacks merge; the onset encoding (130 classes) marks each note's start.
Target: onset keeps at least 99.5% of notes.
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this script lives in benchmarks/; the project's modules are one folder up

import evaluate  # noqa: E402
import melody_cache  # noqa: E402

SHARED = os.path.join(REPO, "..", "shared", "data")
TARGET = 0.995


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", action="append", help="a MIDI folder to measure; may be repeated (default: nottingham and midi-rnn-lakh from ../shared/data)")
    args = parser.parse_args(argv)
    folders = args.data_dir or [os.path.join(SHARED, name) for name in ["nottingham", "midi-rnn-lakh"]]
    print(f"{'collection':<20}{'melodies':>10}{'notes':>10}{'roll':>10}{'onset':>10}")
    for folder in folders:
        if not os.path.isdir(folder):
            sys.exit(f"error: {folder} is not a folder")
        melodies = [m for f in melody_cache.load_melodies(folder, quiet=True) for m in f["melodies"] if len(m)]
        roll, onset = (evaluate.note_survival(melodies, encoding) for encoding in ["roll", "onset"])
        print(f"{os.path.basename(os.path.normpath(folder)):<20}{len(melodies):>10}{sum(map(len, melodies)):>10}"
              f"{100 * roll:>9.2f}%{100 * onset:>9.2f}%   onset {'meets' if onset >= TARGET else 'misses'} "
              f"the {100 * TARGET:.1f}% target")


if __name__ == "__main__":
    main()
