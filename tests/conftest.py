import functools
import gc
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # unit tests never touch the network
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from glue_repro import runtime  # noqa: E402

runtime.prefer_onednn()  # test the kernels `glue-repro run` runs on


def pytest_collection_modifyitems(config, items):
    """Under mutation testing (tools/mutation.py): each doctest once, and the quickest tests first,
    those written for the mutated module (its tests/test_<module>.py, its doctests) before the rest.

    mutmut keeps a copy of each function per mutant, docstring included: only the original's
    doctests run. A mutant most tests kill dies at its first failing test: run the quick ones first.
    A function every whole tiny run reaches is reached by hundreds of tests, most of them about
    something else; the budget goes first to those that state what the module does. A mutant listed
    as equivalent (tools/mutation.py names them) runs none: it would spend the whole budget surviving.
    """
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    copies = [item for item in items if "__mutmut_" in item.name]
    items[:] = [item for item in items if "__mutmut_" not in item.name]
    config.hook.pytest_deselected(items=copies)
    mutant = os.environ["MUTANT_UNDER_TEST"]
    cost = {item.nodeid: _cost(item) for item in items}
    items.sort(key=lambda item: (not _written_for(item.nodeid, mutant), cost[item.nodeid]))
    if mutant in os.environ.get("MUTATION_EQUIVALENTS", "").split():  # counted by neither side: no test run
        config.hook.pytest_deselected(items=items[:])
        del items[:]
    if "__mutmut_" in mutant:  # a mutant's own child, not the stats or clean runs
        budget = float(os.environ.get("MUTATION_TEST_SECONDS", "inf"))
        costs = [cost[item.nodeid] for item in items]
        keep = _within(budget, costs)
        config.hook.pytest_deselected(items=items[keep:])
        del items[keep:]
        killers = _killers(mutant)
        items.sort(key=lambda item: item.nodeid not in killers)  # the same tests, the likeliest killers first
        exit_as_timeout_after(wall_limit(sum(costs[:keep])))


KILLERS = Path("mutmut-killers")  # beside mutmut's stats: per mutated function, the tests that killed its mutants


def _killers(mutant: str) -> set[str]:
    """The tests that killed earlier mutants of the same function (mutmut tests a function's mutants one after
    another): run first, they end most of its other mutants at once. Only the order changes, not the tests.

    >>> _killers("glue_repro.a.x_f__mutmut_3")  # none killed yet
    set()
    """
    killed = _killers_file(mutant)
    return set(killed.read_text().splitlines()) if killed.exists() else set()


def _killers_file(mutant: str) -> Path:
    """
    >>> _killers_file("glue_repro.a.x_f__mutmut_3")
    PosixPath('mutmut-killers/glue_repro.a.x_f')
    """
    return KILLERS / mutant.rpartition("__mutmut_")[0]


def pytest_runtest_logreport(report):
    """In a mutant's child, note the test that killed it (see _killers)."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if report.failed and "__mutmut_" in mutant:
        KILLERS.mkdir(exist_ok=True)
        with _killers_file(mutant).open("a") as killed:
            killed.write(report.nodeid + "\n")


def _written_for(nodeid: str, mutant: str) -> bool:
    """Whether a test is one of those written for the module of a mutant (or of a mutmut stats run: none).

    >>> _written_for("tests/test_train.py::test_fit", "glue_repro.train.x_fit__mutmut_3")
    True
    >>> _written_for("glue_repro/train.py::glue_repro.train.fit", "glue_repro.train.x_fit__mutmut_3")
    True
    >>> _written_for("tests/test_run.py::test_fit", "glue_repro.train.x_fit__mutmut_3"), _written_for("x", "stats")
    (False, False)
    """
    module = mutant.partition(".x")[0].rpartition(".")[2]
    path = nodeid.partition("::")[0]
    return bool(module) and "__mutmut_" in mutant and path in (f"tests/test_{module}.py", f"glue_repro/{module}.py")


def _cost(item) -> float:
    """What a test costs a mutant's child, alone: its call (mutmut's stats time only that) and the setup
    of each fixture it uses (a module's fixture that runs a whole model is most of some tests' cost)."""
    fixtures = _fixture_seconds()
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return _test_seconds().get(item.nodeid, 0.0) + sum(fixtures.get(_key(d[-1]), 0.0) for d in defs.values() if d)


def _key(fixturedef) -> str:
    return f"{fixturedef.baseid}::{fixturedef.argname}"


FIXTURE_SECONDS = Path("mutmut-fixture-seconds.json")  # beside mutmut's stats, in mutants/
_timed: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """During mutmut's stats run, time each fixture's own setup (those it uses are set up before)."""
    start = time.perf_counter()
    yield
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        _timed[_key(fixturedef)] = max(_timed.get(_key(fixturedef), 0.0), time.perf_counter() - start)


def _within(budget: float, durations: list[float]) -> int:
    """How many of the quickest tests a mutant runs: those that fit the budget, and at least one.

    >>> _within(10.0, [1.0, 4.0, 4.0, 5.0]), _within(0.5, [1.0, 2.0]), _within(float("inf"), [1.0, 9.0])
    (3, 1, 2)
    """
    spent = 0.0
    for n, duration in enumerate(durations):
        spent += duration
        if spent > budget and n:
            return n
    return len(durations)


def wall_limit(seconds: float) -> float:
    """A mutant's child's wall-clock limit for tests that took `seconds` in the stats run: five times
    that (the stats run had both cores, a child shares them with another, and this machine runs up
    to 2x slower between runs) and a minute for the child's first ops.

    mutmut's own limit is (every test reaching the function + 4) x 15 s, up to half an hour for a
    mutant that loops forever in a function a whole tiny run reaches.

    >>> wall_limit(30.0)
    210.0
    """
    return 5 * seconds + 60


def exit_as_timeout_after(seconds: float) -> threading.Timer:
    """End this process after `seconds` with mutmut's exit code for a timeout (36: counted as killed).

    A thread, not a signal: a signal's handler waits for the main thread to leave TensorFlow's C++.
    """
    timer = threading.Timer(seconds, os._exit, args=(36,))
    timer.daemon = True
    timer.start()
    return timer


def _read_fixture_seconds() -> dict[str, float]:
    return json.loads(FIXTURE_SECONDS.read_text()) if FIXTURE_SECONDS.exists() else {}


_fixture_seconds = functools.cache(_read_fixture_seconds)  # a child reads it once


@functools.cache
def _test_seconds() -> dict[str, float]:
    """Each test's duration from mutmut's stats (it runs the tests in mutants/, beside them)."""
    stats = Path("mutmut-stats.json")
    return json.loads(stats.read_text())["duration_by_test"] if stats.exists() else {}


CHILD_SECONDS = Path("mutmut-child-seconds.jsonl")  # beside mutmut's stats: a line per mutant's child
_began = time.monotonic()  # in a mutant's child: re-set as its pytest starts


def pytest_configure(config):
    global _began
    _began = time.monotonic()


def pytest_sessionfinish(session, exitstatus):
    """Under mutation testing, keep the fixtures' setup times of a stats run (mutmut's runs only the new
    tests after the first: merged), note what a mutant's child took (tools/mutation.py sums it per module),
    and freeze what the fork server's warm-up collection built.

    mutmut forks a child per mutant from it; pytest's own garbage collections in each child
    then skip the TensorFlow-sized heap, most of a child's start-up otherwise.
    """
    if os.environ.get("MUTANT_UNDER_TEST") == "stats" and _timed:
        FIXTURE_SECONDS.write_text(json.dumps(_read_fixture_seconds() | _timed, indent=0, sort_keys=True))
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        line = {"mutant": os.environ["MUTANT_UNDER_TEST"], "seconds": round(time.monotonic() - _began, 3),
                "exit": int(exitstatus)}
        with CHILD_SECONDS.open("a") as log:  # one short write: the other child's lines stay whole
            log.write(json.dumps(line) + "\n")
    if "MUTANT_UNDER_TEST" in os.environ and session.config.option.collectonly:
        _draw_once()
        gc.collect()
        gc.freeze()


def _draw_once() -> None:
    """Import pyplot and draw a figure with text in the fork server (no TensorFlow op): every child that
    draws a report figure would otherwise import it and load its fonts again."""
    import io

    from glue_repro.report import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots()
    ax.set_title("warm-up")
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


REPO = Path(__file__).resolve().parents[1]
HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


@pytest.fixture(scope="module")
def tiny():
    """The tiny tokenizer and a tiny BERT, seeded: one per test module."""
    import tf_keras

    from glue_repro import model

    tf_keras.utils.set_random_seed(0)
    tokenizer = model.load_tokenizer("tiny")
    return tokenizer, model.build_model("tiny", vocab_size=len(tokenizer))


@pytest.fixture(scope="session")
def launcher():
    """Forks whole `glue-repro` processes from one that imported TensorFlow once (tests/launcher.py)."""
    from tests.launcher import Launcher

    started = Launcher()
    yield started
    started.close()


@pytest.fixture(scope="session")
def isolated_launcher():
    """A launcher inside a network namespace of its own, for processes that listen on every interface."""
    from tests.launcher import Launcher

    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.fail("cannot create a network namespace (unshare -n): TensorFlow's workers would listen on every "
                    "interface")
    started = Launcher(isolated=True)
    yield started
    started.close()


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    """The real GLUE folder: $GLUE_DIR, else ../shared/data/glue_data beside the checkout."""
    # Absolute: CI sets a relative GLUE_DIR, and tests link to it from temporary folders.
    path = Path(os.environ.get("GLUE_DIR", REPO.parent / "shared" / "data" / "glue_data")).resolve()
    if not (path / "MRPC").is_dir():
        pytest.fail(f"GLUE data not found at {path}; set GLUE_DIR to the GLUE folder")
    return path


@pytest.fixture(scope="session")
def mrpc(glue_dir):
    from glue_repro.data import load_local

    return load_local(glue_dir, "mrpc")[0]


def write_raw_mrpc(folder: Path, train_rows, test_rows, dev_ids) -> Path:
    """Write a small MRPC folder in the raw MSR layout; rows are (label, id1, id2, s1, s2)."""
    folder.mkdir(parents=True, exist_ok=True)

    def table(rows):
        return HEADER + "".join("\t".join(map(str, row)) + "\n" for row in rows)

    (folder / "msr_paraphrase_train.txt").write_text(table(train_rows), encoding="utf-8")
    (folder / "msr_paraphrase_test.txt").write_text(table(test_rows), encoding="utf-8")
    (folder / "dev_ids.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in dev_ids))
    return folder


@pytest.fixture
def small_mrpc(tmp_path) -> Path:
    train = [(1, 10, 11, "A cat sat .", "A cat was sitting ."), (0, 20, 21, "Rain today .", "Sun tomorrow ."),
             (1, 30, 31, "He left .", "He went away ."), (0, 40, 41, "Blue car .", "Red bike .")]
    test = [(1, 50, 51, "Big dog .", "Large dog ."), (0, 60, 61, "Up .", "Down .")]
    return write_raw_mrpc(tmp_path / "MRPC", train, test, dev_ids=[(30, 31)])


@pytest.fixture(scope="session")
def small_pairs():
    """13 sentence pairs in train and validation: not a multiple of the batch size 8."""
    import datasets

    from glue_repro.data import features
    from glue_repro.tasks import TASKS

    rows = [
        {"sentence1": f"sentence number {i} about cats .", "sentence2": "a cat" + " sat" * (i % 5) + " .",
         "label": i % 2, "idx": i}
        for i in range(13)
    ]
    split = datasets.Dataset.from_list(rows, features=features(TASKS["mrpc"]))
    return datasets.DatasetDict({"train": split, "validation": split})


@pytest.fixture(scope="session")
def varied_pairs():
    """23 pairs whose lengths differ widely and out of order, with idx not equal to the position.

    With the tiny character tokenizer and max_length 128 they span several padded lengths, so the
    bucketed pipelines really reorder them; a row's idx is what predictions are joined by.
    """
    import datasets
    import numpy as np

    from glue_repro.data import features
    from glue_repro.tasks import TASKS

    words = np.random.default_rng(7).permutation(23)  # 0..22 extra words, in a shuffled order
    rows = [
        {"sentence1": f"pair {i} .", "sentence2": " ".join(["cats"] * int(k) + ["sat ."]),
         "label": int(k) % 2, "idx": 1000 + 7 * i}
        for i, k in enumerate(words)
    ]
    split = datasets.Dataset.from_list(rows, features=features(TASKS["mrpc"]))
    return datasets.DatasetDict({"train": split, "validation": split})
