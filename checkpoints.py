"""Experiment folders: numbering them, their config.json, and their checkpoints (listing, choosing
the latest, the best or an epoch, setting a damaged one aside, loading one).
"""
import json
import math
import os
import re
import sys
import zipfile

import safe_write


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
    safe_write.write_atomic(os.path.join(experiment_dir, "config.json"), write)


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


SHIPPED_EXPERIMENT = "experiments/pretrained"  # a small model kept in the repository (see README)


def find_experiment(experiment_dir, which="latest"):
    """The experiment folder to use and the path of its checkpoint `which` (see --checkpoint)."""
    if which not in ("latest", "best") and not which.isdigit():
        sys.exit(f"error: --checkpoint must be latest, best or an epoch number, got {which!r}")
    if experiment_dir is None:
        experiments = [path for _, path in list_experiments("experiments")
                       if os.path.exists(os.path.join(path, "config.json"))]
        if not experiments:
            sys.exit(f"error: no experiment in experiments/; hear the one that ships with: python sample.py "
                     f"--experiment_dir {SHIPPED_EXPERIMENT}, or train one: python train.py")
        experiment_dir = experiments[-1]
    if not os.path.exists(os.path.join(experiment_dir, "config.json")):
        sys.exit(f"error: {experiment_dir} is not an experiment (no config.json); pass one made by train.py")
    chosen = choose_checkpoint(experiment_dir, which)
    checkpoints = list_checkpoints(experiment_dir)
    if not checkpoints:
        sys.exit(f"error: {experiment_dir} has no checkpoint yet; wait for its first epoch to finish, "
                 f"or pass another --experiment_dir")
    if chosen is None:
        sys.exit(f"error: {experiment_dir} has no checkpoint of epoch {int(which)}; it has epochs "
                 f"{describe_epochs([e for e, _ in checkpoints])}: pass one of them to --checkpoint")
    best = min(checkpoints, key=by_validation_loss)
    if which == "latest" and best[0] != chosen[0]:
        print(f"The latest checkpoint (epoch {chosen[0]}, validation loss {checkpoint_loss(chosen[1]):.4f}) "
              f"is not the best (epoch {best[0]}, {checkpoint_loss(best[1]):.4f}); "
              f"to use the best, pass --checkpoint best")
    return experiment_dir, chosen[1]


def load_checkpoint(path, compile=True):
    """The model of a checkpoint (with its optimizer state, to resume, unless compile=False); one
    line if it cannot load."""
    import keras
    try:  # safe mode: a checkpoint holding code (a Lambda layer, say) is refused, never run
        return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as e:  # noqa: BLE001 -- any unloadable checkpoint is a one-line error
        sys.exit(f"error: cannot load {path}: {str(e).splitlines()[0][:200]}")
