"""Write docs/cli.md: every glue-repro command's --help, as the parser prints it at 100 columns.

    python tools/cli_reference.py        # rewrite docs/cli.md (tests/test_cli.py checks it is current)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
COLUMNS = "100"


def reference() -> str:
    """The page: the top-level help, then each command's, in the parser's order."""
    os.environ["COLUMNS"] = COLUMNS  # argparse wraps to the terminal's width
    from glue_repro import cli

    top = cli.parser()
    (commands,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    parts = ["# glue-repro: every command's help", "",
             "Generated from the parser by `python tools/cli_reference.py`; "
             "`glue-repro COMMAND --help` prints the same.",
             "", "```", top.format_help().rstrip(), "```", ""]
    for name, command in commands.choices.items():
        parts += [f"## glue-repro {name}", "", "```", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(reference())
    print(f"wrote {REFERENCE}")
