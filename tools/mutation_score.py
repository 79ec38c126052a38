"""Summarize a finished `mutmut run`: `mutmut results --all true | python tools/mutation_score.py`.

Mutants listed in tests/mutation_equivalents.txt (one name per line, `#` starts the reason)
are equivalent to the original: they count neither as killed nor as surviving. A mutant that
makes its tests time out (an endless loop) is detected, and counts as killed. Prints every
other survivor, then the final line `mutation score: K/N killed`.
"""

import sys
from collections import Counter
from pathlib import Path

EQUIVALENTS = Path(__file__).resolve().parents[1] / "tests" / "mutation_equivalents.txt"


def main() -> int:
    equivalent = {line.split("#")[0].strip() for line in EQUIVALENTS.read_text().splitlines()} - {""}
    states = {}
    for line in sys.stdin:
        name, _, state = line.strip().rpartition(": ")
        if name:
            states[name] = state
    counted = {name: "killed" if state == "timeout" else state for name, state in states.items()
               if name not in equivalent}
    tally = Counter(counted.values())
    for name, state in sorted(counted.items()):
        if state != "killed":
            print(f"{state}: {name}")
    print(f"{len(states) - len(counted)} equivalent mutants not counted; "
          + ", ".join(f"{n} {state}" for state, n in sorted(tally.items())))
    print(f"mutation score: {tally['killed']}/{len(counted)} killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
