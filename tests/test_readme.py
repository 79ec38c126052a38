"""The README's two command lines are what users and CI run."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    return [line.strip() for line in lines if line.startswith("    python3 -m venv")]


def test_readme_has_exactly_two_setup_and_run_lines():
    commands = _commands()
    assert len(commands) == 2
    assert commands[0].endswith("glue-repro run --preset minilm")
    # two worker processes (pytest-xdist); the fast tier and the costly tests, not the slow real runs
    assert commands[1].endswith('python -m pytest -n 2 -m "not slow and not gpu and not network"')


def test_ci_runs_the_readme_test_command():
    assert _commands()[1] in (REPO / ".ci" / "run").read_text().splitlines()
