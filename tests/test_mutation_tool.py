"""tools/mutation.py, the mutation testing driver: its small functions' doctests (tools/ is outside the
package, so pytest's --doctest-modules does not collect it)."""

import doctest
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def test_the_mutation_drivers_doctests_pass():
    from tools import mutation

    outcome = doctest.testmod(mutation)
    assert outcome.attempted >= 4 and outcome.failed == 0


def test_each_equivalent_mutant_is_listed_once_with_its_reason():
    from tools import mutation

    entries = [line for line in mutation.EQUIVALENTS.read_text().splitlines() if line and not line.startswith("#")]
    names = mutation.equivalents()
    assert len(names) == len(entries) and all(name in line for name, line in zip(names, entries, strict=True))
    assert all("#" in line and line.split("#", 1)[1].strip() for line in entries)  # a reason on every line
    assert len(names) == len(set(names))
    assert all(mutation.module_of(name).startswith("glue_repro/") and "__mutmut_" in name for name in names)


def test_a_mutants_child_that_runs_past_its_wall_limit_ends_as_a_timeout():
    """The watchdog of tests/conftest.py ends a child stuck in a loop with mutmut's timeout code, at once."""
    loop = ("import sys; sys.path.insert(0, 'tests'); import conftest; conftest.exit_as_timeout_after(0.5)\n"
            "while True: pass")
    began = time.monotonic()
    child = subprocess.run([sys.executable, "-c", loop], cwd=Path(__file__).parents[1], timeout=60)
    assert child.returncode == 36
    assert time.monotonic() - began < 30


def _child(mutant: str, test_file: Path, **env) -> subprocess.CompletedProcess:
    """pytest over one test file with tests/conftest.py, as a mutant's child runs it, in the file's folder."""
    repo = Path(__file__).parents[1]
    env = os.environ | {"MUTANT_UNDER_TEST": mutant, "MUTATION_TEST_SECONDS": "30", "PYTHONPATH": str(repo)} | env
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "--rootdir", str(repo), "-c", str(repo / "pyproject.toml"), "--confcutdir", str(repo),
                           "-p", "tests.conftest", str(test_file)], cwd=test_file.parent, env=env, capture_output=True,
                          text=True)


def test_a_listed_equivalent_mutants_child_runs_no_test_and_each_child_notes_its_time(tmp_path):
    """tests/conftest.py deselects every test in the child of a mutant tools/mutation.py names as equivalent
    (pytest's exit code 5, mutmut's "no tests"), and only in that one; each child adds a line of its time."""
    from tools import mutation

    mutant = "glue_repro.metric.x_accuracy__mutmut_1"
    test = tmp_path / "test_one.py"
    test.write_text("import time\n\ndef test_one():\n    time.sleep(0.3)\n")
    assert _child(mutant, test, MUTATION_EQUIVALENTS=f"glue_repro.metric.x_f1__mutmut_2 {mutant}").returncode == 5
    assert _child(mutant, test, MUTATION_EQUIVALENTS="glue_repro.metric.x_f1__mutmut_2").returncode == 0
    lines = (tmp_path / "mutmut-child-seconds.jsonl").read_text().splitlines()
    noted = [json.loads(line) for line in lines]
    assert [(n["mutant"], n["exit"]) for n in noted] == [(mutant, 5), (mutant, 0)]
    assert 0.3 <= noted[1]["seconds"] < 30  # the sleeping test, timed
    assert mutation.child_minutes(lines).startswith("children's time: glue_repro/metric.py 0.0")


def test_a_test_that_killed_a_mutant_runs_first_for_the_next_mutants_of_its_function(tmp_path):
    """The same tests run, in another order: the killer of mutant 1 first in mutant 2's child (pytest's -x then
    stops there), not in the child of another function's mutant."""
    test = tmp_path / "test_two.py"
    test.write_text("def test_a():\n    pass\n\ndef test_b():\n    assert False\n")

    def child(mutant: str) -> str:
        return _child(mutant, test).stdout.strip().splitlines()[-1]  # pytest's summary line

    assert child("glue_repro.metric.x_f1__mutmut_1").startswith("1 failed, 1 passed")  # test_a, then test_b
    [killer] = (tmp_path / "mutmut-killers" / "glue_repro.metric.x_f1").read_text().splitlines()
    assert killer.endswith("::test_b")
    assert child("glue_repro.metric.x_f1__mutmut_2").startswith("1 failed in")  # test_b first: -x stops there
    assert child("glue_repro.metric.x_accuracy__mutmut_1").startswith("1 failed, 1 passed")  # another function
