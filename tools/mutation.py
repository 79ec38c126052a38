"""Mutation testing of every module of glue_repro/: `tox -e mutation` runs this.

mutmut 3 generates the mutants and runs them through its fork server: one process imports
TensorFlow, the package and the tests once and runs no TensorFlow op; each mutant is tested
in a child forked from it, running the tests that reach the mutated function, quickest first,
as many as fit --test-seconds (a survivor costs at most that; one no quick test kills counts
as survived, so the cap can only lower the score).

    python tools/mutation.py                  # every module, then the score
    python tools/mutation.py --shard 2/4      # a quarter of the modules (one machine of four)
    python tools/mutation.py --modules train,lr_decay   # those modules only
    python tools/mutation.py --score-only     # the score of what mutants/ already holds
    python tools/mutation.py --again          # test again only the mutants not killed last time

Without --shard, --modules or --again, a mutant that has a result keeps it (mutmut reruns those
of changed functions only); with them, every mutant named is tested again.

Mutants listed in tests/mutation_equivalents.txt (one name a line, `#` starts the reason) cannot
change any result: they count neither as killed nor as surviving. A mutant whose tests time out
(an endless loop) counts as killed. Prints every other survivor, a line per module
(`glue_repro/<module>.py: K/N killed`), then `mutation score: K/N killed` and the time taken.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = REPO / "tests" / "mutation_equivalents.txt"
CHILDREN = REPO / "mutants" / "mutmut-child-seconds.jsonl"  # tests/conftest.py writes a line per mutant's child
PACKAGE = REPO / "glue_repro"


def modules() -> list[str]:
    """Every module mutmut mutates, as dotted names, largest first (so shards come out even)."""
    files = sorted(PACKAGE.rglob("*.py"), key=lambda p: -p.stat().st_size)
    return [".".join(p.relative_to(REPO).with_suffix("").parts) for p in files if p.stem != "__init__"]


def shard(names: list[str], spec: str) -> list[str]:
    """Shard i of n ("i/n", 1-based): every n-th module from the i-th, of the largest-first list.

    >>> shard(["a", "b", "c", "d", "e"], "2/2")
    ['b', 'd']
    """
    i, _, n = spec.partition("/")
    if not (i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise SystemExit(f"--shard {spec!r}: give i/n with 1 <= i <= n, e.g. 1/4")
    return names[int(i) - 1::int(n)]


def picked(names: list[str], wanted: list[str]) -> list[str]:
    """The dotted names of the modules asked for by their last part.

    >>> picked(["glue_repro.train", "glue_repro.run"], ["train"])
    ['glue_repro.train']
    """
    by_last = {name.rpartition(".")[2]: name for name in names}
    unknown = sorted(set(wanted) - set(by_last))
    if unknown:
        raise SystemExit(f"--modules: no module {', '.join(unknown)} (known: {', '.join(sorted(by_last))})")
    return [name for last, name in by_last.items() if last in wanted]


def module_of(mutant: str) -> str:
    """The file a mutant name belongs to.

    >>> module_of("glue_repro.config.xǁRunConfigǁreplace__mutmut_10")
    'glue_repro/config.py'
    """
    return mutant.partition(".x")[0].replace(".", "/") + ".py"


def equivalents(text: str | None = None) -> list[str]:
    """The mutants tests/mutation_equivalents.txt lists, in its order: a name a line, `#` starts its reason.

    >>> equivalents("# header\\nglue_repro.a.x_f__mutmut_1  # never read\\n\\n")
    ['glue_repro.a.x_f__mutmut_1']
    """
    lines = (EQUIVALENTS.read_text() if text is None else text).splitlines()
    return [name for name in (line.split("#")[0].strip() for line in lines) if name]


def score(lines: list[str], equivalent: set[str], wanted: set[str] | None = None) -> list[str]:
    """The report's lines from `mutmut results --all true` output (`name: state` a line). A mutant not
    checked yet counts as not killed, and each module says how many it has.

    >>> score(["glue_repro.a.x_f__mutmut_1: killed", "glue_repro.a.x_f__mutmut_2: survived",
    ...        "glue_repro.a.x_f__mutmut_3: timeout", "glue_repro.b.x_g__mutmut_1: survived",
    ...        "glue_repro.b.x_g__mutmut_2: not checked"], equivalent={"glue_repro.b.x_g__mutmut_1"})
    ['survived: glue_repro.a.x_f__mutmut_2', 'glue_repro/a.py: 2/3 killed', \
'glue_repro/b.py: 0/1 killed (1 not checked yet)', '1 equivalent mutants not counted', 'mutation score: 2/4 killed \
(1 not checked yet)']
    """
    states = {name: "killed" if state == "timeout" else state for name, state in parsed(lines).items()
              if wanted is None or module_of(name) in wanted}
    by_module = defaultdict(Counter)
    out = []
    for name, state in sorted(states.items()):
        counted = name not in equivalent
        by_module[module_of(name)]["tested"] += counted
        by_module[module_of(name)]["killed"] += counted and state == "killed"
        by_module[module_of(name)]["unchecked"] += counted and state == "not checked"
        if counted and state not in ("killed", "not checked"):
            out.append(f"{state}: {name}")
    for module, n in sorted(by_module.items()):
        out.append(f"{module}: {n['killed']}/{n['tested']} killed" + _unchecked(n["unchecked"]))
    killed, tested, unchecked = (sum(n[k] for n in by_module.values()) for k in ("killed", "tested", "unchecked"))
    out.append(f"{sum(name in equivalent for name in states)} equivalent mutants not counted")
    out.append(f"mutation score: {killed}/{tested} killed" + _unchecked(unchecked))
    return out


def parsed(lines: list[str]) -> dict[str, str]:
    """Each mutant's state from `mutmut results --all true` lines.

    >>> parsed(["    glue_repro.a.x_f__mutmut_1: killed", "", "glue_repro.a.x_f__mutmut_2: not checked"])
    {'glue_repro.a.x_f__mutmut_1': 'killed', 'glue_repro.a.x_f__mutmut_2': 'not checked'}
    """
    return {name: state for name, _, state in (line.strip().rpartition(": ") for line in lines) if name}


def child_minutes(lines: list[str]) -> str:
    """The minutes mutants' children took per module, most first: what to balance shards by.

    >>> child_minutes(['{"mutant": "glue_repro.a.x_f__mutmut_1", "seconds": 90.0, "exit": 1}', '',
    ...                '{"mutant": "glue_repro.b.x_g__mutmut_1", "seconds": 30.0, "exit": 0}'])
    "children's time: glue_repro/a.py 1.5 min, glue_repro/b.py 0.5 min; 2.0 min in all"
    """
    minutes = Counter()
    for line in filter(None, lines):
        child = json.loads(line)
        minutes[module_of(child["mutant"])] += child["seconds"] / 60
    each = ", ".join(f"{module} {m:.1f} min" for module, m in minutes.most_common())
    return f"children's time: {each}; {sum(minutes.values()):.1f} min in all"


def _unchecked(count: int) -> str:
    return f" ({count} not checked yet)" if count else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard", help="i/n: test only the i-th of n shares of the modules (default: all)")
    parser.add_argument("--modules", help="comma-separated module names, e.g. train,lr_decay: test only those")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default: 2)")
    parser.add_argument("--test-seconds", type=float, default=20.0,
                        help="each mutant runs the quickest tests reaching it that fit this many seconds (by their "
                             "times in mutmut's stats), at least one; a mutant they miss counts as survived "
                             "(default: %(default)s)")
    parser.add_argument("--again", action="store_true",
                        help="test again only the mutants not killed last time (after new tests)")
    parser.add_argument("--score-only", action="store_true", help="score what mutants/ holds; run nothing")
    args = parser.parse_args(argv)
    names = shard(modules(), args.shard) if args.shard else modules()
    if args.modules:
        names = picked(names, args.modules.split(","))
    wanted = {module_of(n + ".x") for n in names}
    began = time.monotonic()
    equivalent = set(equivalents())
    if not args.score_only:
        patterns = [f"{name}.*" for name in names] if args.shard or args.modules else []
        if args.again:
            patterns = [name for name, state in parsed(_listed()).items()
                        if state not in ("killed", "timeout", "not checked") and name not in equivalent
                        and module_of(name) in wanted]
            if not patterns:
                print("no mutant to test again")
        env = os.environ | {"MUTATION_TEST_SECONDS": str(args.test_seconds),  # both read by tests/conftest.py
                            "MUTATION_EQUIVALENTS": " ".join(sorted(equivalent))}
        # mutmut copies results/ over its old copy, keeping files a mutant wrote there (one that moved a default
        # folder): start from the committed files, which the committed-page test compares with the report
        shutil.rmtree(REPO / "mutants" / "results", ignore_errors=True)
        CHILDREN.unlink(missing_ok=True)  # this run's children only
        if patterns or not args.again:
            subprocess.run(["mutmut", "run", "--max-children", str(args.max_children), *patterns], cwd=REPO, env=env,
                           check=True)
    print("\n".join(score(_listed(), equivalent, wanted)))
    if not args.score_only:
        if CHILDREN.exists():
            print(child_minutes(CHILDREN.read_text().splitlines()))
        print(f"time: {(time.monotonic() - began) / 60:.1f} min on {args.max_children} children")
    return 0


def _listed() -> list[str]:
    """`mutmut results --all true`: a line per mutant, `name: state`."""
    return subprocess.run(["mutmut", "results", "--all", "true"], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.splitlines()


if __name__ == "__main__":
    sys.exit(main())
