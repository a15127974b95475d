"""Promises of safe_write.py: nothing is written over."""
import safe_write


def test_free_path_never_returns_an_existing_file(tmp_path):
    path = str(tmp_path / "evaluation.json")
    assert safe_write.free_path(path) == path
    open(path, "w").close()
    assert safe_write.free_path(path) == str(tmp_path / "evaluation-2.json")
    open(str(tmp_path / "evaluation-2.json"), "w").close()
    assert safe_write.free_path(path) == str(tmp_path / "evaluation-3.json")
