"""README.md says what the code does."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_shows_each_scripts_flags_as_help_prints_them():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for script in ["train.py", "sample.py", "evaluate.py"]:
        help_text = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                                   env=dict(os.environ, COLUMNS="100"), check=True).stdout
        assert help_text.strip() in readme, f"README's {script} section differs from {script} --help"


def test_readme_gives_the_test_command_that_ci_runs():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    assert "pip install -r requirements-dev.txt && python -m pytest -q" in readme
    assert "requirements-dev.txt" in ci and "python -m pytest -q" in ci
