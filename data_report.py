"""What a folder gave: the printed summary of skipped and recovered files, and data.csv, one row
per track of every file saying whether an experiment learns from it, why, and its side of the split.
"""
import collections
import csv

import safe_write


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
            parts = [next(melodies) for _ in range(row.get("melodies", 1) if used else 0)]  # choose_melodies' parts
            if used and all(part[-1, 1] <= window_size for part in parts):  # make_windows drops them
                used, reason = False, f"{reason}, but no longer than the window of {window_size} steps"
            elif len(parts) > sum(part[-1, 1] > window_size for part in parts):
                reason += f"; {sum(part[-1, 1] <= window_size for part in parts)} parts no longer than the window"
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

    safe_write.write_atomic(path, write)
