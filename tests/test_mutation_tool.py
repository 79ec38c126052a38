"""tools/mutation.py, the mutation testing driver: its small functions' doctests (tools/ is outside the
package, so pytest's --doctest-modules does not collect it)."""

import doctest


def test_the_mutation_drivers_doctests_pass():
    from tools import mutation

    outcome = doctest.testmod(mutation)
    assert outcome.attempted >= 4 and outcome.failed == 0
