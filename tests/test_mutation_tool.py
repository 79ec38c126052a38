"""tools/mutation.py, the mutation testing driver: its small functions' doctests (tools/ is outside the
package, so pytest's --doctest-modules does not collect it)."""

import doctest


def test_the_mutation_drivers_doctests_pass():
    from tools import mutation

    outcome = doctest.testmod(mutation)
    assert outcome.attempted >= 4 and outcome.failed == 0


def test_each_equivalent_mutant_is_listed_once_with_its_reason():
    from tools import mutation

    entries = [line for line in mutation.EQUIVALENTS.read_text().splitlines() if line and not line.startswith("#")]
    names = [line.split("#")[0].strip() for line in entries]
    assert all("#" in line and line.split("#", 1)[1].strip() for line in entries)  # a reason on every line
    assert len(names) == len(set(names))
    assert all(mutation.module_of(name).startswith("glue_repro/") and "__mutmut_" in name for name in names)
