"""Figures from result files (matplotlib, written to PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def smooth(values, window: int = 16) -> np.ndarray:
    """Trailing moving average, as long as the input.

    >>> smooth([0.0, 2.0, 4.0], window=2).tolist()
    [0.0, 1.0, 3.0]
    """
    x = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(x, 0, 0.0))
    counts = np.minimum(np.arange(1, len(x) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(x) + 1) - counts]) / counts


def plot_lr_decay(report: dict, out: Path) -> Path:
    """Training loss per step and validation accuracy per evaluation, one colour per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Reports before schema 2 were MRPC's, with an accuracy target.
    metric = report.get("target_metric", "accuracy")
    target = report.get("target", report["experiment"].get("accuracy_target"))
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(zip(sorted({r["arm"] for r in report["runs"]}), ("C0", "C1", "C2", "C3"), strict=False))
    for run in report["runs"]:
        label = run["arm"] if run["seed"] == report["runs"][0]["seed"] else None
        loss_ax.plot(smooth(run["train_loss"]), color=colours[run["arm"]], alpha=0.7, label=label)
        steps = [e["step"] for e in run["evals"]]
        acc_ax.plot(steps, [e[metric] for e in run["evals"]], marker="o", color=colours[run["arm"]], alpha=0.7,
                    label=label)
    acc_ax.axhline(target, color="grey", linestyle="--", label="target")
    loss_ax.set(xlabel="optimizer step", ylabel="training loss (16-step mean)", title="training loss")
    acc_ax.set(xlabel="optimizer step", ylabel=f"validation {metric}", title=f"validation {metric}")
    loss_ax.legend()
    acc_ax.legend()
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
