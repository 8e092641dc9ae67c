"""The test report: accuracy and the per-class precision / recall / F1 / support table.

scikit-learn's ``classification_report`` and ``confusion_matrix`` count; ``format_report``
lays the table out as SPEC §2 shows it (one row per class and the support-weighted
``avg / total`` row), and ``per_class_report`` keeps the numbers in the shape ``report.json``
stores them.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from svhn_erase.data.crops import NO_DIGIT


def class_name(c: int) -> str:
    """The digit as text, or "none" for the judge's no-digit class."""
    return "none" if c == NO_DIGIT else str(c)


def _row(scores: dict) -> dict:
    row = {"precision": float(scores["precision"]), "recall": float(scores["recall"]),
           "f1": float(scores["f1-score"])}
    return {**row, "support": int(scores["support"])}


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """Accuracy, per-class precision / recall / F1 / support, the support-weighted average
    (the "avg / total" row of SPEC §2) and the confusion matrix (rows = true class,
    columns = predicted class); a class never predicted has precision 0."""
    labels = list(range(num_classes))
    names = [class_name(c) for c in labels]
    if len(y_true) == 0:  # scikit-learn refuses empty input: every number is 0
        matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        table = {name: dict.fromkeys(("precision", "recall", "f1-score", "support"), 0)
                 for name in (*names, "weighted avg")}
    else:
        matrix = confusion_matrix(y_true, y_pred, labels=labels)
        table = classification_report(y_true, y_pred, labels=labels, target_names=names,
                                      output_dict=True, zero_division=0)
    total = int(matrix.sum())
    return {"accuracy": float(np.trace(matrix) / total) if total else 0.0,
            "classes": {name: _row(table[name]) for name in names},
            "average": _row(table["weighted avg"]), "confusion_matrix": matrix.tolist()}


def format_report(report: dict) -> str:
    """The per-class table as text: precision, recall, f1-score, support per class and the
    support-weighted ``avg / total`` row."""
    lines = [f"{'':>11} {'precision':>10} {'recall':>9} {'f1-score':>9} {'support':>9}", ""]
    for name, r in report["classes"].items():
        lines.append(f"{name:>11} {r['precision']:>10.2f} {r['recall']:>9.2f} "
                     f"{r['f1']:>9.2f} {r['support']:>9d}")
    a = report["average"]
    lines += ["", f"{'avg / total':>11} {a['precision']:>10.2f} {a['recall']:>9.2f} "
              f"{a['f1']:>9.2f} {a['support']:>9d}"]
    return "\n".join(lines) + "\n"
