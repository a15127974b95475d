"""Promises of checkpoints.py: experiments numbered, checkpoints chosen, damaged ones set aside."""
import os
import zipfile

import checkpoints


def test_experiments_are_numbered_after_the_highest(tmp_path):
    root = str(tmp_path / "experiments")
    assert checkpoints.make_experiment_dir(root=root).endswith("01")
    os.makedirs(os.path.join(root, "07"))
    os.makedirs(os.path.join(root, "notes"))
    assert checkpoints.make_experiment_dir(root=root).endswith("08")
    assert [n for n, _ in checkpoints.list_experiments(root)] == [1, 7, 8]


def test_latest_checkpoint_is_chosen_by_epoch_number_not_file_time(tmp_path):
    folder = tmp_path / "checkpoints"
    (folder / "incomplete").mkdir(parents=True)
    for name in ["epoch010-val_loss1.2000.keras", "epoch002-val_loss2.0000.keras", "epoch009-val_loss1.3000.keras"]:
        (folder / name).write_bytes(b"")
    os.utime(folder / "epoch002-val_loss2.0000.keras", (2e9, 2e9))  # newest file time
    (folder / "incomplete" / "epoch011-val_loss1.1000.keras").write_bytes(b"")  # being written
    assert [e for e, _ in checkpoints.list_checkpoints(str(tmp_path))] == [2, 9, 10]


def write_checkpoint(path):
    """A stand-in .keras file: a whole zip archive, all that choosing a checkpoint looks at."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}" * 100)
    return str(path)


def test_best_checkpoint_has_the_lowest_validation_loss_and_a_number_names_an_epoch(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for name in ["epoch001-val_loss1.5000.keras", "epoch002-val_loss0.9000.keras", "epoch003-val_loss0.9000.keras",
                 "epoch004-val_lossnan.keras", "epoch005-val_loss1.1000.keras"]:
        write_checkpoint(tmp_path / "checkpoints" / name)
    assert checkpoints.choose_checkpoint(str(tmp_path), "latest")[0] == 5
    assert checkpoints.choose_checkpoint(str(tmp_path), "best")[0] == 2  # the earlier of two equal losses
    assert checkpoints.choose_checkpoint(str(tmp_path), "3") == (3, str(tmp_path / "checkpoints" / "epoch003-val_loss0.9000.keras"))
    assert checkpoints.choose_checkpoint(str(tmp_path), "6") is None
    assert checkpoints.describe_epochs([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"


def test_damaged_checkpoints_are_moved_aside_whole_and_the_next_one_is_chosen(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for epoch in [1, 2, 3]:
        write_checkpoint(folder / f"epoch00{epoch}-val_loss1.000{epoch}.keras")
    cut = (folder / "epoch003-val_loss1.0003.keras").read_bytes()
    (folder / "epoch003-val_loss1.0003.keras").write_bytes(cut[:len(cut) // 2])  # cut short by a full disk
    flipped = bytearray((folder / "epoch002-val_loss1.0002.keras").read_bytes())
    flipped[60] ^= 0xFF  # a bad copy: one byte of the stored data changed
    (folder / "epoch002-val_loss1.0002.keras").write_bytes(bytes(flipped))
    assert checkpoints.choose_checkpoint(str(tmp_path), "latest") == (1, str(folder / "epoch001-val_loss1.0001.keras"))
    assert sorted(os.listdir(folder / "damaged")) == ["epoch002-val_loss1.0002.keras", "epoch003-val_loss1.0003.keras"]
    assert (folder / "damaged" / "epoch003-val_loss1.0003.keras").read_bytes() == cut[:len(cut) // 2]
    moved = capsys.readouterr().out.splitlines()
    assert len(moved) == 2 and all(line.startswith(f"Moved {folder}/epoch00") and "damaged" in line for line in moved)
    # a later damaged copy of the same name keeps the first one
    write_checkpoint(folder / "epoch003-val_loss1.0003.keras")
    (folder / "epoch003-val_loss1.0003.keras").write_bytes(b"")
    assert checkpoints.choose_checkpoint(str(tmp_path), "3") is None
    assert len(os.listdir(folder / "damaged")) == 3
