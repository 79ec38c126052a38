"""`glue-repro report`: one page (REPORT.md) and its figures from whatever result files exist.

Each kind of result is drawn when there is some: the seed spread of every task and preset,
the LR-decay experiments, and the benchmarks' throughput; a missing kind is a line saying so.
The table of every run is on the page, and `--format` prints it alone (writing nothing).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from glue_repro import metric, results
from glue_repro.config import COURSE_SPEED, PRESETS, recipe_of
from glue_repro.environment import now, vector_units
from glue_repro.errors import GlueReproError
from glue_repro.gate import device_class
from glue_repro.tasks import TASKS

FORMATS = ("table", "markdown", "csv", "json")


@dataclass
class Collected:
    """The result files found, by kind, each with its path."""

    runs: list[tuple[Path, dict]] = field(default_factory=list)
    lr_decay: list[tuple[Path, dict]] = field(default_factory=list)
    benchmarks: list[tuple[Path, dict]] = field(default_factory=list)
    baselines: list[tuple[Path, dict]] = field(default_factory=list)
    peers: list[tuple[Path, dict]] = field(default_factory=list)  # the PyTorch peer's runs (tools/peer_pairs.sh)
    skipped: list[str] = field(default_factory=list)  # files that were none of these, and why

    @property
    def empty(self) -> bool:
        return not (self.runs or self.lr_decay or self.benchmarks or self.baselines or self.peers)


def collect(paths: list[Path]) -> Collected:
    """Every result file under `paths` (files or folders), sorted into its kind."""
    found = Collected()
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.json") if "report" not in p.parts))
        elif path.is_file():
            files.append(path)
        else:
            raise GlueReproError(f"{path}: no such file or folder")
    for path in files:
        try:
            data = results.load(path)
        except (GlueReproError, KeyError, TypeError) as err:
            found.skipped.append(str(err) if isinstance(err, GlueReproError) else f"{path}: unreadable ({err!r})")
            continue
        shelf = {"run": found.runs, "lr-decay": found.lr_decay, "benchmark": found.benchmarks,
                 "baseline": found.baselines, "peer": found.peers}.get(data["kind"])
        if shelf is not None:  # aggregates and gate verdicts: their runs are read from their own files
            shelf.append((path, data))
    return found


def run_rows(runs: list[tuple[Path, dict]]) -> list[dict]:
    """One row per run: when, what, where, how well and how fast."""
    rows = []
    for path, run in sorted(runs, key=lambda item: item[1]["created"]):
        config = run["config"]
        recipe = recipe_of(config)
        limit, train_rows = recipe.get("limit"), recipe.get("train_rows")
        cut = f" (limit {limit})" if limit else f" ({train_rows} training rows)" if train_rows else ""
        timing = run.get("timing") or {}
        rows.append({
            "date": run["created"][:16].replace("T", " "),
            "task": run["task"],
            "preset": run["label"] + cut + _epochs_note(config["preset"], recipe["epochs"]),
            "differs from preset": _differences(config),
            "device": _device(run),
            "seed": run["seed"],
            "metrics": " ".join(f"{k} {v:.4f}" for k, v in run["metrics"].items() if v is not None)
            + (" (collapsed)" if run["collapsed"] else ""),
            "fit ex/s": _round(timing.get("fit_examples_per_second")),
            "predict ex/s": _round(timing.get("predict_examples_per_second")),
            "MFU fit/predict": "/".join(f"{m:.2f}" for m in (timing.get("fit_mfu"), timing.get("predict_mfu"))
                                        if m is not None),
            "commit": (run["git"].get("commit") or "")[:7] + ("+" if run["git"].get("dirty") else ""),
            "file": path.name,
        })
    return rows


def _device(run: dict) -> str:
    """The GPUs, else the CPU with what tells its generations apart where the run recorded it (schema 8).

    >>> _device({"device": {"gpus": [], "cpu": "AMD EPYC", "cpu_cores": 2, "cpu_id": "AuthenticAMD family 25 "
    ...          "model 1", "vector_units": "AVX2"}})
    'AMD EPYC (2 cores, family 25 model 1, AVX2)'
    """
    device = run["device"]
    if device["gpus"]:
        return ", ".join(device["gpus"])
    known = [f"{device['cpu_cores']} cores", (device.get("cpu_id") or "").partition(" ")[2], device.get("vector_units")]
    return f"{device['cpu']} ({', '.join(filter(None, known))})"


def peer_rows(peers: list[tuple[Path, dict]]) -> list[dict]:
    """One row per PyTorch peer run."""
    return [{
        "file": path.name, "epochs": peer["epochs"], "train rows": peer["train_rows"], "seed": peer["seed"],
        "metrics": f"accuracy {peer['accuracy']:.4f} f1 {peer['f1']:.4f}",
        "fit s": _round(peer["fit_seconds"]), "fit ex/s": _round(peer["fit_examples_per_second"]),
        "predict s": _round(peer["predict_seconds"]), "predict ex/s": _round(peer["predict_examples_per_second"]),
        "torch": peer["torch"],
    } for path, peer in sorted(peers, key=lambda item: item[0].name)]


def peer_pairs(runs: list[tuple[Path, dict]], peers: list[tuple[Path, dict]]) -> list[dict]:
    """The suite against the PyTorch peer, like for like: each peer run beside the suite's run that
    tools/peer_pairs.sh made just before it (same seed, epochs and rows; the suite's bfloat16 matmul mode
    beside the peer's), summarised per CPU, budget and mode: the median of the pairs' ratios and their range."""
    groups = {}
    for path, peer in peers:
        started = datetime.strptime(path.name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
        mode = "bf16-matmul" if "-bf16-matmul-" in path.name else "bf16" if "-bf16-" in path.name else "float32"
        label = {"float32": "minilm", "bf16-matmul": "minilm+bf16-matmul", "bf16": "minilm+mixed_bfloat16"}[mode]
        before = [r for _, r in runs if r["task"] == "mrpc" and r["label"] == label and r["seed"] == peer["seed"]
                  and recipe_of(r["config"])["epochs"] == peer["epochs"]
                  and (recipe_of(r["config"]).get("train_rows") or 0) in (peer["train_rows"], 0)
                  and bool(recipe_of(r["config"]).get("train_rows")) == (peer["train_rows"] < 3668)
                  and r["created"] and datetime.fromisoformat(r["created"]) < started]
        if not before:
            continue
        suite = max(before, key=lambda r: r["created"])
        rows = f"{peer['train_rows']:,} rows" if peer["train_rows"] < 3668 else "all rows"
        key = (_device(suite), f"{peer['epochs']} epoch{'' if peer['epochs'] == 1 else 's'}, {rows}", mode)
        groups.setdefault(key, []).append((suite, peer))
    table = []
    for (cpu, budget, mode), pairs in sorted(groups.items()):
        fit = [s["timing"]["fit_examples_per_second"] / p["fit_examples_per_second"] for s, p in pairs]
        predict = [s["timing"]["predict_examples_per_second"] / p["predict_examples_per_second"] for s, p in pairs]
        table.append({"CPU": cpu, "budget": budget, "mode": mode, "pairs": len(pairs),
                      "fit, suite / peer": _ratio(fit), "predict, suite / peer": _ratio(predict),
                      "accuracy, suite / peer": f"{np.median([s['metrics']['accuracy'] for s, _ in pairs]):.4f} / "
                                                f"{np.median([p['accuracy'] for _, p in pairs]):.4f}"})
    return table


def _ratio(values: list[float]) -> str:
    """
    >>> _ratio([1.5, 1.2, 1.7])
    '1.50x (1.20-1.70)'
    """
    return f"{np.median(values):.2f}x" + (f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else "")


# Shown by the label or the row-cut and epoch notes already.
_NOTED = {"model", "revision", "precision", "matmul_precision", "limit", "train_rows", "epochs", "task"}


def _differences(config: dict) -> str:
    """Every recipe and speed field whose value is not the preset's, as `field=value`.

    >>> from glue_repro.config import MINILM_PRESET
    >>> _differences(MINILM_PRESET.replace(learning_rate=1e-4, xla=True).to_dict())
    'learning_rate=0.0001, xla=True'
    >>> _differences(dataclasses.replace(MINILM_PRESET, speed=COURSE_SPEED).to_dict())
    "verbatim (the course's input pipeline and Keras defaults)"
    """
    own = PRESETS.get(config["preset"])
    if own is None or "speed" not in config:
        return ""
    if config["speed"] == dataclasses.asdict(COURSE_SPEED) and own.speed != COURSE_SPEED:
        speed = ["verbatim (the course's input pipeline and Keras defaults)"]
    else:
        speed = [f"{k}={v}" for k, v in config["speed"].items() if getattr(own.speed, k, v) != v]
    recipe = [f"{k}={v}" for k, v in recipe_of(config).items() if k not in _NOTED and getattr(own.recipe, k, v) != v]
    return ", ".join(recipe + speed)


def _epochs_note(preset: str, epochs: int) -> str:
    own = PRESETS.get(preset)
    return "" if own is None or epochs == own.recipe.epochs else f" ({epochs} epoch{'' if epochs == 1 else 's'})"


def _round(value):
    return None if value is None else round(value, 1)


def glue_table(runs: list[tuple[Path, dict]]) -> list[dict]:
    """The GLUE table: a row per preset (and device class), a column per task with its primary metric's
    mean +- std over the healthy seeds of runs on every row (n seeds), and the GLUE average; then a row
    per published reference.

    The average follows the GLUE paper: a task with two metrics scores their mean (MNLI: the mean over
    its validation splits), x100, averaged over the tasks present ("k of 9 tasks" when some are missing).
    A task's runs at another number of epochs than the preset's say so in the cell.
    """
    return [row for row, _ in _measured_rows(runs)] + _published_rows()


def glue_sources(runs: list[tuple[Path, dict]]) -> list[str]:
    """What each measured row of the GLUE table summarises: its seeds, dates and commits."""
    lines = []
    for row, used in _measured_rows(runs):
        seeds = ", ".join(map(str, sorted({r["seed"] for r in used})))
        dates = sorted(r["created"][:10] for r in used if r["created"])
        commits = sorted({(r["created"] or "", (r.get("git") or {}).get("commit") or "?") for r in used})
        span = f"{dates[0]} to {dates[-1]}" if dates and dates[0] != dates[-1] else (dates[0] if dates else "?")
        first, last = commits[0][1][:7], commits[-1][1][:7]
        lines.append(f"{row['preset']} ({row['device']}): {len(used)} run{'s' if len(used) > 1 else ''}, "
                     f"seed{'s' if ',' in seeds else ''} {seeds}; {span}; "
                     + (f"commit {first}" if first == last else f"commits {first} to {last}"))
    return lines


def _measured_rows(runs: list[tuple[Path, dict]]) -> list[tuple[dict, list[dict]]]:
    """The GLUE table's measured rows, each with the runs its cells summarise."""
    newest = {}
    for _, r in sorted(runs, key=lambda item: item[1]["created"] or ""):
        recipe = recipe_of(r["config"])
        if not r["partial_data"] and not recipe.get("train_rows"):
            newest[r["label"], device_class(r), r["task"], recipe["epochs"], r["seed"]] = r
    rows = {}
    for (label, device, task, epochs, _), r in newest.items():
        rows.setdefault((label, device), {}).setdefault(task, {}).setdefault(epochs, []).append(r)
    return [_glue_row(label, device, cells) for (label, device), cells in sorted(rows.items())]


def _glue_row(label: str, device: str, cells: dict) -> tuple[dict, list[dict]]:
    some_run = next(r for by_epochs in cells.values() for group in by_epochs.values() for r in group)
    preset = PRESETS.get(some_run["config"]["preset"])  # a label names one preset
    row, scores, used = {"preset": label, "device": device}, [], []
    for task, spec in TASKS.items():
        by_epochs = cells.get(task)
        if not by_epochs:
            row |= dict.fromkeys(glue_columns(spec), "")
            continue
        own = preset.recipe.epochs if preset else None
        epochs = own if own in by_epochs else max(by_epochs, key=lambda e: len(by_epochs[e]))
        healthy = [r for r in by_epochs[epochs] if not r["collapsed"]]
        used += by_epochs[epochs]
        note = "" if epochs == own else f", {epochs} epoch{'' if epochs == 1 else 's'}"
        if not healthy:
            row |= dict.fromkeys(glue_columns(spec), f"collapsed ({len(by_epochs[epochs])}{note})")
            continue
        for column, split in glue_columns(spec).items():
            values = [r["metrics_by_split"][split][spec.primary_metric] for r in healthy]
            spread = f" +- {np.std(values, ddof=1):.4f}" if len(values) > 1 else ""
            row[column] = f"{np.mean(values):.4f}{spread} ({len(values)}{note})"
        scores.append(np.mean([task_score(r) for r in healthy]))
    row["GLUE avg"] = _average(scores)
    return row, used


def glue_columns(spec) -> dict[str, str]:
    """The GLUE table's column per validation split of a task (MNLI has two), and the split.

    >>> from glue_repro.tasks import TASKS
    >>> glue_columns(TASKS["mrpc"]), list(glue_columns(TASKS["mnli"]))
    ({'mrpc': 'validation'}, ['mnli matched', 'mnli mismatched'])
    """
    if len(spec.validation_splits) == 1:
        return {spec.name: spec.validation_splits[0]}
    return {f"{spec.name} {split.removeprefix('validation_')}": split for split in spec.validation_splits}


def task_score(run: dict) -> float:
    """A run's GLUE score for its task: the mean of its metrics over its validation splits.

    >>> task_score({"metrics_by_split": {"validation": {"accuracy": 0.75, "f1": 0.25}}})
    0.5
    """
    values = [v for split in run["metrics_by_split"].values() for v in split.values()]
    return float(np.mean(values))


def _average(scores: list[float]) -> str:
    if not scores:
        return ""
    partial = "" if len(scores) == len(TASKS) else f" ({len(scores)} of {len(TASKS)} tasks)"
    return f"{100 * np.mean(scores):.1f}{partial}"


def _published_rows() -> list[dict]:
    """A row per source of the tasks' published references, apart from what was measured."""
    sources = {}
    for task, spec in TASKS.items():
        for reference in spec.references:
            sources.setdefault(reference.source, {})[task] = reference.scores
    rows = []
    for source, found in sources.items():
        row = {"preset": f"published: {source}", "device": ""}
        for task, spec in TASKS.items():
            row |= dict.fromkeys(glue_columns(spec), f"{found[task][spec.primary_metric]:.4f}" if task in found else "")
        row["GLUE avg"] = _average([float(np.mean(list(scores.values()))) for scores in found.values()])
        rows.append(row)
    return rows


def format_rows(rows: list[dict], fmt: str) -> str:
    """The run table as aligned text, Markdown, CSV or JSON."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if not rows:
        return "no run result files found"
    keys = list(rows[0])
    cells = [[("" if r[k] is None else str(r[k])) for k in keys] for r in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows(cells)
        return out.getvalue().rstrip("\n")
    if fmt == "markdown":
        lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells])
    widths = [max(len(k), *(len(row[i]) for row in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def is_full_run(result: dict) -> bool:
    """A run of its preset's whole recipe: every row, and the preset's number of epochs.

    >>> from glue_repro.config import MINILM_PRESET
    >>> [is_full_run({"config": c.to_dict()}) for c in (MINILM_PRESET, MINILM_PRESET.replace(train_rows=1000),
    ...                                                 MINILM_PRESET.replace(epochs=1))]
    [True, False, False]
    """
    recipe, preset = recipe_of(result["config"]), PRESETS.get(result["config"]["preset"])
    whole = not recipe.get("limit") and not recipe.get("train_rows")
    return whole and (preset is None or recipe["epochs"] == preset.recipe.epochs)


def budget(result: dict) -> str:
    """How a run's training differs from its preset's whole recipe, as a figure names its group; "" if not.

    >>> from glue_repro.config import MINILM_PRESET
    >>> [budget({"config": c.to_dict()}) for c in (MINILM_PRESET, MINILM_PRESET.replace(epochs=1),
    ...                                            MINILM_PRESET.replace(train_rows=2000, epochs=1),
    ...                                            MINILM_PRESET.replace(train_rows=2000))]
    ['', '1 epoch', '2,000 rows, 1 epoch', '2,000 rows, 3 epochs']
    """
    if is_full_run(result):
        return ""
    recipe = recipe_of(result["config"])
    rows = f"{recipe['train_rows']:,} rows, " if recipe.get("train_rows") else ""
    return f"{rows}{recipe['epochs']} epoch{'' if recipe['epochs'] == 1 else 's'}"


def spread_groups(runs: list[tuple[Path, dict]], task: str) -> dict[tuple[str, str], list[dict]]:
    """The task's runs scored on its whole validation split (no `--limit`), the newest of each seed,
    grouped by preset and training budget: full recipes first, then each cut one."""
    newest = {}
    for r in sorted((r for _, r in runs if r["task"] == task and not r["partial_data"]), key=lambda r: r["created"]):
        newest[r["label"], budget(r), r["seed"]] = r
    groups = {}
    for (label, cut, _), r in sorted(newest.items(), key=lambda item: (item[0][1] != "", item[0])):
        groups.setdefault((label, cut), []).append(r)
    return groups


def seed_spread(runs: list[tuple[Path, dict]], baselines: list[tuple[Path, dict]], task: str, out: Path) -> Path:
    """Per-seed metrics of one task, a group per preset and budget, against what makes them meaningful:
    chance, the majority class (what a collapsed run scores), the committed baseline, the published score."""
    plt = _pyplot()
    spec = TASKS[task]
    groups = spread_groups(runs, task)
    collapse = collapse_level(runs, task)
    width = max(5.5, 1.2 * len(groups))
    fig, axes = plt.subplots(1, len(spec.metrics), figsize=(width * len(spec.metrics), 4.8), squeeze=False)
    for ax, name in zip(axes[0], spec.metrics, strict=True):
        for x, ((label, cut), group) in enumerate(groups.items()):
            offsets = x + 0.07 * (np.arange(len(group)) - (len(group) - 1) / 2)  # seeds side by side
            for dx, r in zip(offsets, group, strict=True):
                bad = r["collapsed"]
                ax.scatter(dx, r["metrics"][name], marker="x" if bad else "o", color="C3" if bad else "C0",
                           alpha=0.8, zorder=3, label="collapsed seed" if bad else "one seed")
            healthy = [r["metrics"][name] for r in group if not r["collapsed"]]
            if len(healthy) > 1:
                ax.errorbar(x + 0.07 * len(group) / 2 + 0.12, np.mean(healthy), yerr=np.std(healthy, ddof=1), fmt="s",
                            color="C1", capsize=4, label="mean +- std (healthy seeds)")
            for _, base in baselines:
                if base["task"] == task and base["preset"] == label and not cut and name in base["summary"]:
                    m = base["summary"][name]
                    ax.fill_between([x - 0.3, x + 0.3], m["mean"] - m["std"], m["mean"] + m["std"], color="C2",
                                    alpha=0.2, label="committed baseline, mean +- std")
        if collapse and collapse.get(name) is not None:
            ax.axhline(collapse[name], color="C3", linestyle=":", zorder=2.5,  # over a published line at the same level
                       label="majority class for every row (collapsed)")
        if metric.chance_level(spec, name) is not None:
            ax.axhline(metric.chance_level(spec, name), color="black", linestyle="-.", linewidth=0.8,
                       label="chance (random guess)")
        for reference, style in zip(spec.references, ("--", (0, (1, 3))), strict=False):
            if name in reference.scores:
                ax.axhline(reference.scores[name], color="grey", linestyle=style,
                           label=f"published: {reference.source}")
        _pad_y(ax)
        ticks = [label + (f"\n{cut}" if cut else "") for label, cut in groups]
        ax.set_xticks(range(len(groups)), ticks, rotation=25, ha="right", fontsize=8)
        ax.set(xlim=(-0.6, len(groups) - 0.4), ylabel=f"validation {name}", title=f"{task}: {name} per seed")
    handles = {}
    for ax in axes[0]:
        handles.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    columns = 3 if width * len(spec.metrics) >= 9 else 2
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=columns, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 * (1 + (len(handles) - 1) // columns), 1, 1))
    return _save(fig, out)


def _pad_y(ax, share: float = 0.06) -> None:
    """Y limits that hold every point and every horizontal reference line clear of the frame."""
    levels = [line.get_ydata()[0] for line in ax.get_lines() if np.ptp(line.get_ydata()) == 0]
    low, high = min(ax.dataLim.y0, *levels), max(ax.dataLim.y1, *levels)
    pad = share * (high - low) or 0.01
    ax.set_ylim(low - pad, high + pad)


def lr_decay_figure(report: dict, out: Path) -> Path:
    """Training loss per step and the primary metric per evaluation, mean and range over seeds, per arm."""
    plt = _pyplot()
    metric, target = report["target_metric"], report["target"]
    arms = list(report["final"])
    seeds = sorted({r["seed"] for r in report["runs"]})
    window = max(1, min(16, len(report["runs"][0]["train_loss"]) // 10))
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, arm in enumerate(arms):
        mine = [r for r in report["runs"] if r["arm"] == arm]
        losses = np.array([_smooth(r["train_loss"], window) for r in mine])
        steps = np.arange(1, losses.shape[1] + 1)
        loss_ax.plot(steps, losses.mean(0), color=f"C{i}", label=arm)
        loss_ax.fill_between(steps, losses.min(0), losses.max(0), color=f"C{i}", alpha=0.2)
        eval_steps = [e["step"] for e in mine[0]["evals"]]
        values = np.array([[e[metric] for e in r["evals"]] for r in mine])
        metric_ax.plot(eval_steps, values.mean(0), marker="o", color=f"C{i}", label=arm)
        metric_ax.fill_between(eval_steps, values.min(0), values.max(0), color=f"C{i}", alpha=0.2)
        reached = report["steps_to_target"][arm]["mean_steps"]
        if reached is not None:
            metric_ax.axvline(reached, color=f"C{i}", linestyle=":", alpha=0.8)
    metric_ax.axhline(target, color="grey", linestyle="--", label=f"target {metric} {target}")
    seeds_text = f"seeds {', '.join(map(str, seeds))}: mean line, min-max band"
    loss_ax.set(xlabel="optimizer step", ylabel=f"training loss ({window}-step mean)" if window > 1 else
                "training loss", title=f"training loss per step ({seeds_text})")
    metric_ax.set(xlabel="optimizer step", ylabel=f"validation {metric}",
                  title=f"validation {metric}; dotted: mean steps to target")
    for ax in (loss_ax, metric_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    fig.suptitle(lr_decay_budget(report), fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def lr_decay_budget(report: dict) -> str:
    """An LR-decay experiment named by its training budget: task, rows, epochs, steps.

    >>> lr_decay_budget({"task": "mrpc", "runs": [{"steps": 1386, "config": {"recipe": {"train_rows": None,
    ...                  "epochs": 3}}}]})
    'mrpc: all training rows x 3 epochs = 1,386 steps a run'
    """
    run = report["runs"][0]
    recipe = recipe_of(run["config"])
    cut = recipe.get("train_rows") or (report.get("experiment") or {}).get("train_rows")  # early files: there
    rows = f"{cut:,} training rows" if cut else "all training rows"
    epochs = f"{recipe['epochs']} epoch{'' if recipe['epochs'] == 1 else 's'}"
    return f"{report.get('task') or 'mrpc'}: {rows} x {epochs} = {run['steps']:,} steps a run"


def _smooth(values, window: int) -> np.ndarray:
    """Trailing moving average, as long as the input.

    >>> _smooth([1.0, 3.0, 5.0, 9.0], window=2).tolist()
    [1.0, 2.0, 4.0, 7.0]
    """
    x = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(x, 0, 0.0))
    counts = np.minimum(np.arange(1, len(x) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(x) + 1) - counts]) / counts


def pipeline_name(info: dict) -> str:
    """One name for an input pipeline in every benchmark file, whatever its parameter was called then.

    >>> pipeline_name({"input_pipeline": "bucketed", "xla": True}), pipeline_name({"input_pipeline": "course"})
    ('bucketed + XLA', 'course')
    """
    return info["input_pipeline"] + (" + XLA" if info.get("xla") else "")


def cpu_heading(machine_info: dict) -> str:
    """The CPU a benchmark file ran on, with the vector units that decide its speed.

    >>> cpu_heading({"cpu": {"brand_raw": "AMD EPYC", "count": 2, "family": 25, "model": 1, "flags": ["avx2"]}})
    'AMD EPYC (family 25 model 1), 2 cores, AVX2'
    >>> cpu_heading({"cpu": {"family": 25, "flags": []}})  # what pytest-benchmark could not read
    '?, ? cores, SSE'
    """
    cpu = machine_info.get("cpu", {})
    units = vector_units(set(cpu.get("flags", [])))
    model = f" (family {cpu['family']} model {cpu['model']})" if "family" in cpu and "model" in cpu else ""
    return f"{cpu.get('brand_raw', '?')}{model}, {cpu.get('count', '?')} cores, {units}"


def benchmark_rows(benchmarks: list[tuple[Path, dict]]) -> list[dict]:
    """Each machine's newest measurement of each benchmark, a row each: the median round's examples/s,
    the slowest and fastest rounds', MFU, and the ratio to the course pipeline of the same measurement."""
    newest = {}
    for path, data in sorted(benchmarks, key=lambda item: item[1]["datetime"]):
        for bench in data["benchmarks"]:
            kind = {"test_fit": "fit", "test_predict": "predict"}.get(bench["name"].partition("[")[0])
            if kind is None:
                continue  # a whole quick run (bench/test_quick_runs.py), not steady-state throughput
            info, stats = bench["extra_info"], bench.get("stats", {})
            examples = info.get("examples")
            newest[path.parent.parent.name, bench["name"]] = {
                "machine": path.parent.parent.name, "cpu": cpu_heading(data.get("machine_info", {})), "kind": kind,
                "preset": info["preset"], "pipeline": pipeline_name(info),
                "strategy": info.get("strategy") or "default", "examples_per_second": info["examples_per_second"],
                "slowest": examples / stats["max"] if examples and stats.get("max") else None,
                "fastest": examples / stats["min"] if examples and stats.get("min") else None,
                "rounds": stats.get("rounds"), "mfu": info["mfu"], "file": path.name, "date": data["datetime"][:10],
            }
    rows = list(newest.values())
    for row in rows:
        course = [r for r in rows if (r["machine"], r["kind"], r["preset"], r["strategy"], r["pipeline"])
                  == (row["machine"], row["kind"], row["preset"], row["strategy"], "course")]
        row["vs_course"] = row["examples_per_second"] / course[0]["examples_per_second"] if course else None
    return rows


def throughput_table(rows: list[dict]) -> str:
    """One machine's benchmark rows as Markdown."""
    lines = ["| | preset | pipeline | strategy | examples/s (median round) | slowest - fastest round | MFU "
             "| vs course pipeline | measured |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["kind"], r["preset"] == "tiny", r["preset"], r["pipeline"])):
        spread = f"{r['slowest']:.1f} - {r['fastest']:.1f} ({r['rounds']})" if r["slowest"] else ""
        ratio = f"{r['vs_course']:.2f}x" if r["vs_course"] else ""
        lines.append(f"| {r['kind']} | {r['preset']} | {r['pipeline']} | {r['strategy']} | "
                     f"{r['examples_per_second']:.1f} | {spread} | {r['mfu']:.2f} | {ratio} | {r['date']} |")
    return "\n".join(lines)


def throughput_figure(rows: list[dict], out: Path) -> Path:
    """Fit and predict examples/s of the models users run (not the test-only tiny one), per pipeline:
    bars at the median round on a linear axis, whiskers from the slowest round to the fastest."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind in zip(axes, ["fit", "predict"], strict=True):
        mine = sorted((r for r in rows if r["kind"] == kind and r["preset"] != "tiny"),
                      key=lambda r: (r["preset"], r["pipeline"], r["strategy"]))
        labels = [f"{r['preset']}\n{r['pipeline']}" + ("" if r["strategy"] == "default" else f"\n{r['strategy']}")
                  for r in mine]
        medians = [r["examples_per_second"] for r in mine]
        whiskers = [[m - (r["slowest"] or m) for m, r in zip(medians, mine, strict=True)],
                    [(r["fastest"] or m) - m for m, r in zip(medians, mine, strict=True)]]
        ax.bar(range(len(mine)), medians, yerr=whiskers, capsize=4, color="C0")
        ax.set_xticks(range(len(mine)), labels, fontsize=8)
        ax.set(ylabel="examples per second", title=f"{kind}: median round, slowest to fastest")
    fig.suptitle(rows[0]["cpu"], fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    _pyplot().close(fig)
    return out


def collapse_level(runs: list[tuple[Path, dict]], task: str) -> dict | None:
    """What a collapsed run scores on the task's whole validation split, as the newest run that
    validated on all of it stored it (runs before schema 6 did not)."""
    whole = sorted((r for _, r in runs if r["task"] == task and not r["partial_data"] and r.get("collapse_level")),
                   key=lambda r: r["created"])
    return whole[-1]["collapse_level"] if whole else None


def _references(task: str, found: Collected) -> str:
    """The caption's list of the lines drawn beside the points: what this task's figure has."""
    spec = TASKS[task]
    drawn = [("the committed baseline band", any(b["task"] == task for _, b in found.baselines)),
             ("the majority-class level", collapse_level(found.runs, task) is not None),
             ("chance", any(metric.chance_level(spec, name) is not None for name in spec.metrics)),
             ("the published scores", bool(TASKS[task].references))]
    names = [name for name, there in drawn if there]
    return ", " + ", ".join(names) + "." if names else "."


def write(found: Collected, out_dir: Path) -> Path:
    """REPORT.md and its figures in `out_dir`; figures of a kind with no results are not drawn."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# glue_repro report", "", f"Made {now()} from the result files below.", ""]

    table = glue_table(found.runs)
    lines += ["## The GLUE table", "", "Validation, the primary metric of each task: mean +- std over healthy seeds "
              "of runs on every row (seeds in brackets); the GLUE average as in the GLUE paper (a task with two "
              "metrics scores their mean), x100.", "", format_rows(table, "markdown"), "",
              "Each measured row summarises the newest full run of each seed:", "",
              *[f"- {line}" for line in glue_sources(found.runs)], ""]
    if found.runs and all(row["preset"].startswith("published: ") for row in table):
        lines += [f"No measured row: all {len(found.runs)} run(s) here cut the training rows or use `--limit` "
                  "(see the run table).", ""]

    lines += ["## Seed spread", ""]
    tasks = sorted({r["task"] for _, r in found.runs}, key=list(TASKS).index)
    if not found.runs:
        lines += ["No run result files found.", ""]
    for task in tasks:
        limited = sum(r["task"] == task and bool(r["partial_data"]) for _, r in found.runs)
        left_out = (f" Not drawn: {limited} run(s) with `--limit`, scored on part of the validation split."
                    if limited else "")
        groups = spread_groups(found.runs, task)
        if not groups:
            lines += [f"No {task} figure: every {task} run used `--limit` (see the run table).", ""]
            continue
        figure = seed_spread(found.runs, found.baselines, task, out_dir / f"seed-spread-{task}.png")
        cut = [f"{label}, {budget}" for label, budget in groups if budget]
        named = f" Groups that cut the recipe, named under their preset: {'; '.join(cut)}." if cut else ""
        lines += [f"**{task}**: validation metrics, one point per seed (its newest run; a cross for a collapsed "
                  "seed), per preset, with the mean and std of the healthy seeds" + _references(task, found)
                  + named + left_out, "", f"![{task} seed spread]({figure.name})", ""]

    lines += ["## LR decay", ""]
    if not found.lr_decay:
        lines += ["No LR-decay result files found (`glue-repro lr-decay`).", ""]
    for path, report in found.lr_decay:
        figure = lr_decay_figure(report, out_dir / f"lr-decay-{path.stem}.png")
        lines += [f"**{lr_decay_budget(report)}** (`{path.name}`): each arm's training loss per step and validation "
                  f"{report['target_metric']} per evaluation over its seeds, the target, and the "
                  "mean steps each arm took to reach it.", "", f"![LR decay]({figure.name})", ""]

    lines += ["## Throughput", ""]
    rows = benchmark_rows(found.benchmarks)
    if not rows:
        lines += ["No benchmark files found (`python -m pytest bench/`).", ""]
    for machine in sorted({r["machine"] for r in rows}):
        mine = [r for r in rows if r["machine"] == machine]
        lines += [f"### {mine[0]['cpu']}", "", f"Steady-state examples/s, the newest measurement of each benchmark "
                  f"(`results/benchmarks/{machine}/`), with MFU (achieved over the matmul peak measured in the same "
                  "run) and the ratio to the course's input pipeline.", "", throughput_table(mine), ""]
        if any(r["preset"] != "tiny" for r in mine):
            figure = throughput_figure(mine, out_dir / f"throughput-{machine}.png")
            lines += [f"![throughput on {mine[0]['cpu']}]({figure.name})", ""]

    if found.runs:
        table = ["# Every run", "", f"{len(found.runs)} runs, oldest first; the report: [REPORT.md](REPORT.md).", "",
                 format_rows(run_rows(found.runs), "markdown"), ""]
        if found.peers:
            table += ["## The PyTorch peer's runs", "", format_rows(peer_rows(found.peers), "markdown"), ""]
        _write_atomically(out_dir / "runs.md", "\n".join(table))
        lines += ["## Every run", "", f"A row per run, {len(found.runs)} of them: [runs.md](runs.md).", ""]
    if found.peers:
        lines += ["## The PyTorch peer", "", "Whole runs of `../shared/peers/torch_trainer.py` (PyTorch + HF Trainer, "
                  "its fit including the per-epoch evaluation) paired with the suite's run made just before each "
                  "(`tools/peer_pairs.sh`: MRPC, `minilm`, seed 42): the median ratio of the pairs and its range. "
                  "Every peer run is in [runs.md](runs.md).", "",
                  format_rows(peer_pairs(found.runs, found.peers), "markdown"), ""]
    if (out_dir / "measurements.md").is_file():  # kept by hand beside the page
        lines += ["## Measurements", "", "The measurements behind the design, and the design choices they led to: "
                  "[measurements.md](measurements.md).", ""]
    if found.skipped:
        lines += ["Files skipped:", "", *[f"- {s}" for s in found.skipped], ""]
    page = _write_atomically(out_dir / "REPORT.md", "\n".join(lines))
    write_html(out_dir)
    return page


HTML_STYLE = """body { font-family: sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; line-height: 1.4 }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0 }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left }
img { max-width: 100% }
summary { cursor: pointer; font-weight: bold }"""


def write_html(out_dir: Path) -> Path:
    """REPORT.html beside REPORT.md: the same page as one self-contained file to share (figures embedded as
    data URIs, the run table folded in at the end)."""
    import base64
    import html

    from markdown_it import MarkdownIt

    render = MarkdownIt("commonmark").enable("table").render
    body = render((out_dir / "REPORT.md").read_text())
    for figure in sorted(out_dir.glob("*.png")):
        data = base64.b64encode(figure.read_bytes()).decode()
        body = body.replace(f'src="{figure.name}"', f'src="data:image/png;base64,{data}"')
    runs = out_dir / "runs.md"
    if runs.is_file():
        body = body.replace('href="runs.md"', 'href="#every-run"')
        body += f'<details id="every-run"><summary>Every run</summary>{render(runs.read_text())}</details>'
    head = f'<meta charset="utf-8"><title>{html.escape("glue_repro report")}</title><style>{HTML_STYLE}</style>'
    page = f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{body}</body></html>\n'
    return _write_atomically(out_dir / "REPORT.html", page)


def _write_atomically(path: Path, text: str) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
