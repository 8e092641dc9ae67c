"""The per-background-kind breakdown as text (``bench``'s printout) and as report rows.

``summary.json``'s ``by_kind`` holds, per method and per kind (``background_kind.KINDS``),
the figures of the digits on that kind; these helpers lay one figure out as a method x kind
table: box PSNR with ground truth, still read on real photos. A kind's heading gives the
digits most methods have there; a method with another count (the seed on fewer images, the
real-photo floor on its decoy boxes) shows its own count beside its value, as ``15.0 % [206]``.
"""

from __future__ import annotations

from collections import Counter

from svhn_erase.evaluation.background_kind import KINDS

# per mode: (figure key, heading, format, scale, suffix)
FIGURES = {
    "groundtruth": [("psnr_box", "box PSNR dB (mean over digits)", "%.2f", 1.0, ""),
                    ("keypix_recall", "key-pixel recall", "%.3f", 1.0, ""),
                    ("keypix_precision", "key-pixel precision", "%.3f", 1.0, "")],
    "real": [("still_read", "still read (lower is better)", "%.1f", 100.0, " %")],
}


def kind_counts(by_kind: dict[str, dict]) -> dict[str, int]:
    """Digits per kind: the count most methods have there (ties: the larger)."""
    counts = {}
    for k in KINDS:
        tally = Counter(m[k]["n_digits"] for m in by_kind.values() if k in m)
        counts[k] = max(tally, key=lambda n: (tally[n], n)) if tally else 0
    return counts


def kind_rows(by_kind: dict[str, dict], key: str, scale: float = 1.0) -> list[dict]:
    """Per method: its name, one value per kind (None where missing) and, per kind, its
    digit count where it differs from the heading's (else None)."""
    counts = kind_counts(by_kind)
    rows = []
    for name, kinds in by_kind.items():
        values = [None if kinds.get(k, {}).get(key) is None else kinds[k][key] * scale
                  for k in KINDS]
        own = [kinds[k]["n_digits"] if v is not None and kinds[k]["n_digits"] != counts[k]
               else None for k, v in zip(KINDS, values, strict=True)]
        if any(v is not None for v in values):
            rows.append({"name": name, "values": values, "counts": own})
    return rows


def report_tables(by_kind: dict[str, dict], mode: str) -> list[dict]:
    """The report's breakdown tables: heading, format, suffix, kinds with counts, rows."""
    counts = kind_counts(by_kind)
    heads = [f"{k} ({counts[k]})" for k in KINDS]
    return [{"heading": heading, "spec": spec, "suffix": suffix, "kinds": heads,
             "rows": rows}
            for key, heading, spec, scale, suffix in FIGURES[mode]
            if (rows := kind_rows(by_kind, key, scale))]


def format_kind_table(by_kind: dict[str, dict], mode: str = "groundtruth") -> str:
    """The first figure of ``mode`` per method and kind, as fixed-width text."""
    if not by_kind:
        return ""
    key, heading, spec, scale, suffix = FIGURES[mode][0]
    counts = kind_counts(by_kind)
    width = max([16, *(len(name) + 1 for name in by_kind)])
    head = f"{'by background':<{width}}" + "".join(f"{f'{k} ({counts[k]})':>15}" for k in KINDS)
    lines = [f"{heading}, per background kind (digits):", head, "-" * len(head)]
    for row in kind_rows(by_kind, key, scale):
        cells = ["-" if v is None else (spec % v) + suffix + ("" if n is None else f" [{n}]")
                 for v, n in zip(row["values"], row["counts"], strict=True)]
        lines.append(f"{row['name']:<{width}}" + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)
