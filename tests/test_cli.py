"""The command line as a user meets it: help for every option, one-line answers to typos, where files go."""

import argparse
import json

import pytest

from glue_repro import cli


def _commands() -> dict[str, argparse.ArgumentParser]:
    top = cli.parser()
    (sub,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": top, **sub.choices}


@pytest.mark.parametrize("name", list(_commands()))
def test_every_option_of_every_command_has_help_and_says_its_default(name):
    parser = _commands()[name]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        text = parser._get_formatter()._expand_help(action) if action.help else ""
        assert text, f"{name} {action.option_strings or action.dest}: no help"
        if action.option_strings or action.nargs == "*":  # optional: the user must know what happens without it
            assert "default" in text, f"{name} {action.option_strings or action.dest}: no default in {text!r}"


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["run", "--seed", "1-3"], "(did you mean --seeds 1-3?)"),
        (["run", "--epcohs", "2"], "(did you mean --epochs?)"),
        (["run", "--task", "mrcp"], "(did you mean --task mrpc?)"),
        (["run", "--preset", "quik"], "(did you mean --preset quick?)"),
        (["report", "--format", "tabel"], "(did you mean --format table?)"),
        (["lr-decay", "--eval-evry", "8"], "(did you mean --eval-every?)"),
        (["run", "--epochs", "two"], None),  # nothing near: the error alone
    ],
)
def test_a_mistyped_option_or_value_is_one_line_with_the_nearest_valid_one(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1 and err.startswith(f"glue-repro: error: {argv[0]}: ")
    assert err.endswith(f"; see 'glue-repro {argv[0]} --help'\n")
    assert (hint in err) if hint else "did you mean" not in err


def test_gate_help_says_how_the_floor_is_computed_and_what_each_exit_code_means(capsys):
    from glue_repro import gate

    with pytest.raises(SystemExit):
        cli.main(["gate", "--help"])
    text = capsys.readouterr().out
    assert f"{gate.FLOOR_STANDARD_ERRORS} * max(std_baseline, {gate.MIN_STD})" in text
    assert all(f"  {code}  " in text for code in (0, 1, 2))


def test_a_seeds_run_elsewhere_keeps_everything_there_and_its_banner_says_what_it_trains_on(glue_dir, tmp_path,
                                                                                            capsys):
    quick = tmp_path / "quick"
    assert cli.main(["run", "--preset", "tiny", "--train-rows", "12", "--epochs", "1", "--seeds", "1",
                     "--data-dir", str(glue_dir), "--results-dir", str(quick), "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "first 12 training rows, every validation row" in out and "all rows" not in out
    assert f"aggregate: {quick / 'aggregates'}/" in out
    (aggregate,) = (quick / "aggregates").glob("*.json")
    listed = json.loads(aggregate.read_text())["files"]
    assert len(listed) == 1 and all(name.startswith("../") and (aggregate.parent / name).is_file() for name in listed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quick"]  # nothing written anywhere else
