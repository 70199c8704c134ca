"""Reports beside each model version: metrics JSON, a Markdown summary and (with matplotlib) PNG plots.

`train` writes `report.json` and `report.md` (threshold table from out-of-fold scores, frozen-set figures) into
models/<version>/ with the runtime dependencies only. `evaluate --protocols` adds `protocols.json`,
`protocols.md` and, when matplotlib (requirements-dev.txt) is installed, the PNG plots.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from moderation.registry import current_umask
from training import protocols
from training.metrics import THRESHOLD_GRID, threshold_table


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.fchmod(handle, 0o666 & ~current_umask())  # as open() would: the report sits beside a model others read
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, path)


def _threshold_markdown(rows: list[dict], chosen: dict) -> str:
    lines = ["| threshold | precision | spam caught | legitimate caught |", "|---|---|---|---|"]
    for r in rows:
        mark = " (reject)" if r["threshold"] == chosen["spam_reject"] else (
            " (flag)" if r["threshold"] == chosen["spam_flag"] else "")
        lines.append(f"| {r['threshold']:.4f}{mark} | {r['precision']:.4f} | {r['spam_caught']:.4f} | "
                     f"{r['ham_caught']:.4f} |")
    return "\n".join(lines)


def training_report(folder: Path, metadata: dict, y: np.ndarray, out_of_fold: np.ndarray) -> dict:
    """report.json + report.md for a trained version: how its thresholds were chosen and its held-out figures."""
    chosen = metadata["thresholds"]
    grid = sorted(set(THRESHOLD_GRID) | {chosen["spam_flag"], chosen["spam_reject"]})
    table = threshold_table(y, out_of_fold, grid)
    report = {
        "version": metadata["version"],
        "thresholds": chosen,
        "threshold_rule": metadata.get("threshold_rule", {}),
        "threshold_table_out_of_fold": table,
        "evaluation": metadata.get("metrics", {}).get("evaluation", {}),
    }
    _write(folder / "report.json", json.dumps(report, indent=2) + "\n")
    lines = [f"# Model {metadata['version']}", "",
             "## Thresholds (chosen from out-of-fold scores of the training data)", "",
             f"Rule: {json.dumps(report['threshold_rule'])}", "", _threshold_markdown(table, chosen), ""]
    evaluation = report["evaluation"]
    if evaluation:
        lines += ["## Frozen evaluation set (never trained on)", "",
                  "| slice | n | spam | ROC AUC | ECE | reject precision | reject recall | legitimate rejected |"
                  " flag recall | legitimate flagged |", "|---|---|---|---|---|---|---|---|---|---|"]
        slices = {"overall": evaluation["overall"], **evaluation.get("by_source", {})}
        for name, f in slices.items():
            r, fl = f["at_spam_reject"], f["at_spam_flag"]
            lines.append(f"| {name} | {f['n']} | {f['spam']} | {f.get('roc_auc', '-')} | {f['ece']} | "
                         f"{r['precision']} | {r['recall']} | {r['ham_rate']} | {fl['recall']} | {fl['ham_rate']} |")
    _write(folder / "report.md", "\n".join(lines) + "\n")
    return report


def protocol_report(folder: Path, rows: dict[str, dict], details: dict[str, dict], extra: str = "") -> None:
    """protocols.json, protocols.md and PNG plots for the protocol results of one or more models."""
    serialisable = {name: {k: v for k, v in d.items() if k != "pooled"} for name, d in details.items()}
    _write(folder / "protocols.json", json.dumps(serialisable, indent=2, default=float) + "\n")
    lines = ["# Evaluation protocols (data never trained on, deduplicated first)", "",
             protocols.__doc__.strip(), "", "## Figures", "", protocols.table(rows), ""]
    for name, d in details.items():
        lines += [f"## {name}: per held-out slice", "",
                  "| slice | n | spam | accuracy | ROC AUC | spam caught | legitimate rejected | legitimate flagged |"
                  " thresholds (flag / reject) |", "|---|---|---|---|---|---|---|---|---|"]
        for group in ("youtube_leave_one_video_out", "fox_by_article", "sms_5_fold"):
            for key, f in d[group].items():
                t = f["thresholds"]
                lines.append(f"| {group.split('_')[0]} {key} | {f['n']} | {f['spam']} | {f['accuracy']} | "
                             f"{f.get('roc_auc', '-')} | {f['spam_caught']} | {f['ham_rejected']} | "
                             f"{f['ham_flagged_or_rejected']} | {t['spam_flag']} / {t['spam_reject']} |")
        pooled = d["pooled"]
        lines += ["", f"Threshold table on the pooled held-out scores of {name}:", "",
                  _threshold_markdown(threshold_table(pooled["y"], pooled["scores"]),
                                      {"spam_flag": -1, "spam_reject": -1}), ""]
    if extra:
        lines += [extra, ""]
    written = plots(folder, details)
    if written:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in written]
    _write(folder / "protocols.md", "\n".join(lines) + "\n")


def plots(folder: Path, details: dict[str, dict]) -> list[Path]:
    """Precision-recall curves, score histograms by class and source, calibration; [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve

    written = []
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, d in details.items():
        p, r, _ = precision_recall_curve(d["pooled"]["y"], d["pooled"]["scores"])
        ax.plot(r, p, label=name)
    ax.set(xlabel="spam caught (recall)", ylabel="precision", title="Precision-recall, held-out folds pooled")
    ax.legend()
    written.append(_save(fig, folder / "precision_recall.png"))
    for name, d in details.items():
        pooled = d["pooled"]
        sources = sorted(set(pooled["source"]))
        fig, axes = plt.subplots(1, len(sources), figsize=(4 * len(sources), 3.5), squeeze=False)
        for ax, source in zip(axes[0], sources):
            m = pooled["source"] == source
            for label, cls in (("legitimate", 0), ("spam", 1)):
                values = pooled["scores"][m & (pooled["y"] == cls)]
                if len(values):
                    ax.hist(values, bins=40, range=(0, 1), alpha=0.6, label=label, log=True)
            ax.set(title=f"{source}", xlabel="spam score")
            ax.legend()
        fig.suptitle(f"{name}: score histograms by class and source (held out)")
        written.append(_save(fig, folder / f"histograms_{_slug(name)}.png"))
        fig, ax = plt.subplots(figsize=(5, 5))
        true, predicted = calibration_curve(pooled["y"], pooled["scores"], n_bins=10, strategy="quantile")
        ax.plot(predicted, true, marker="o", label=name)
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set(xlabel="predicted spam probability", ylabel="observed spam share", title="Calibration (held out)")
        ax.legend()
        written.append(_save(fig, folder / f"calibration_{_slug(name)}.png"))
        fig, ax = plt.subplots(figsize=(6, 4.5))
        table = threshold_table(pooled["y"], pooled["scores"], np.linspace(0.05, 0.99, 60))
        ts = [r["threshold"] for r in table]
        ax.plot(ts, [r["precision"] for r in table], label="precision")
        ax.plot(ts, [r["spam_caught"] for r in table], label="spam caught")
        ax.plot(ts, [r["ham_caught"] for r in table], label="legitimate caught")
        ax.set(xlabel="threshold", title=f"{name}: threshold table (held out)", ylim=(0, 1.05))
        ax.legend()
        written.append(_save(fig, folder / f"thresholds_{_slug(name)}.png"))
    return written


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
