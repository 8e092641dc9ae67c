"""The real-photo benchmark's report: one self-contained HTML page, and a text table.

``render_real_report`` fills ``templates/real_report.html.j2`` (Jinja2, autoescaped; the
style sheet and helpers are shared with ``report``) with what ``real.run_real`` gathered:
per method still read (over all photos, and over the floor's own digits), the probability of
the true digit, decoy PSNR and speed, the floor,
a chart and galleries of real photos. ``format_real_table`` is the same table as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from svhn_erase import atomic_io
from svhn_erase.evaluation.kind_table import report_tables
from svhn_erase.evaluation.report import environment, is_reference, table_rows

# (figure, heading, printf format, scale, suffix, better: "low" / "high" / None)
COLUMNS = (("still_read", "still read", "%.1f", 100.0, " %", "low"),
           ("still_read_floor_digits", "still read, floor's digits", "%.1f", 100.0, " %", "low"),
           ("still_read_not_1", "still read, floor's digits but 1s", "%.1f", 100.0, " %", "low"),
           ("still_read_prob", "P(true digit)", "%.3f", 1.0, "", "low"),
           ("decoy_psnr", "decoy PSNR dB", "%.2f", 1.0, "", "high"),
           ("digits_per_s", "digits / s", "%.1f", 1.0, "", None))
PANELS = (("original", "original"), ("{m}:erased", "{m}"), ("{m}:mask", "mask used"),
          ("decoys", "decoy boxes"), ("{m}:decoys", "{m} on the decoys"))


def _complete(summary: dict[str, dict]) -> dict[str, dict]:
    """``summary`` with every column's figure present (None where a summary lacks it)."""
    return {name: {**dict.fromkeys(c[0] for c in COLUMNS), **m} for name, m in summary.items()}


def _best(summary: dict[str, dict]) -> dict[str, float]:
    best = {}
    for key, *_, better in COLUMNS:
        vals = [m[key] for name, m in summary.items()
                if m[key] is not None and not is_reference(name)]
        if better and vals:
            best[key] = min(vals) if better == "low" else max(vals)
    return best


def _table(summary: dict[str, dict]) -> list[dict]:
    """The results table: per method its cells, the best of each ranked column marked."""
    summary = _complete(summary)
    return table_rows(summary, COLUMNS, _best(summary),
                      counts=("n_images", "n_digits", "n_decoy_images"))


def chart_png(summary: dict[str, dict], floor: dict) -> bytes:
    """A PNG: still read per method with the floor as a line, and decoy PSNR."""
    methods = list(summary)
    fig, axes = atomic_io.new_figure(1, 2, figsize=(11, 0.38 * len(methods) + 1.4), sharey=True)
    y = np.arange(len(methods))
    panels = (("still read as the true digit (%, lower is better)", "still_read", 100.0),
              ("PSNR over the decoy boxes (dB, higher is better)", "decoy_psnr", 1.0))
    for ax, (title, key, scale) in zip(axes, panels, strict=True):
        vals = [summary[m][key] for m in methods]
        colors = ["#1f6feb" if m == "default" else "#8c959f" if is_reference(m) else "#57606a"
                  for m in methods]
        ax.barh(y, [0.0 if v is None else v * scale for v in vals], color=colors, height=0.7)
        for yi, v in zip(y, vals, strict=True):
            ax.text(0 if v is None else v * scale, yi,
                    " n/a" if v is None else f" {v * scale:.1f}", va="center", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    if floor.get("still_read") is not None:
        axes[0].axvline(100 * floor["still_read"], color="#cf222e", linestyle="--", linewidth=1)
        axes[0].text(100 * floor["still_read"], -0.7, " floor", color="#cf222e", fontsize=8)
    axes[0].set_yticks(y, methods, fontsize=9)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return atomic_io.figure_png(fig, dpi=100)


def _galleries(summary: dict[str, dict], picks: dict[str, list],
               thumbs: dict[str, dict[str, bytes]]) -> list[dict]:
    galleries = []
    for method, cases in picks.items():
        shown = []
        for label, row in cases:
            panels = thumbs.get(row["file"], {})
            figures = [(panels.get(key.format(m=method)), caption.format(m=method))
                       for key, caption in PANELS]
            shown.append({"label": label, "file": row["file"], "prob": row["still_read_prob"],
                          "read": row["still_read"], "n_digits": int(row["n_digits"]),
                          "decoy_psnr": None if pd.isna(row["decoy_psnr"])
                          else float(row["decoy_psnr"]), "figures": figures})
        galleries.append({"method": method, "prob": summary[method]["still_read_prob"],
                          "n_images": summary[method]["n_images"], "cases": shown})
    return galleries


def render_real_report(summary: dict[str, dict], floor: dict, settings: dict,
                       picks: dict[str, list], thumbs: dict[str, dict[str, bytes]],
                       by_kind: dict | None = None) -> str:
    """The whole real-photo report as one self-contained HTML string. ``picks``: per method
    ``[(label, results row)]`` (``real.gallery_picks``); ``thumbs``: per file, per panel, a
    PNG; ``by_kind``: ``summary.json``'s per-background-kind figures."""
    most = max(m["n_images"] for m in summary.values())
    subsets = [{"method": n, "n_images": m["n_images"]} for n, m in summary.items()
               if m["n_images"] < most]
    method_settings = {name: ", ".join(f"{k} {v}" for k, v in s.items() if k != "method")
                       for name, s in settings.get("methods", {}).items() if len(s) > 1}
    return environment().get_template("real_report.html.j2").render(
        settings=settings, table=_table(summary), floor=floor, subsets=subsets,
        chart=chart_png(summary, floor), galleries=_galleries(summary, picks, thumbs),
        n_images=most, n_digits=max(m["n_digits"] for m in summary.values()),
        method_settings=method_settings, headings=[c[1] for c in COLUMNS],
        kind_tables=report_tables(by_kind or {}, "real"))


def format_real_table(summary: dict[str, dict], floor: dict) -> str:
    """The real-photo summary and its floor as a fixed-width text table."""
    head = (f"{'method':<22}{'images':>7}{'digits':>7}{'still read':>11}{'floor dig.':>11}"
            f"{'but 1s':>8}{'P(true)':>9}{'decoy imgs':>11}{'decoy PSNR':>11}{'digits/s':>10}")
    lines = [head, "-" * len(head)]

    def f(v, fmt, scale=1.0, suffix=""):
        return format(v * scale, fmt) + suffix if v is not None else "-"

    for name, m in summary.items():
        lines.append(f"{name:<22}{m['n_images']:>7}{m['n_digits']:>7}"
                     f"{f(m['still_read'], '.1f', 100, ' %'):>11}"
                     f"{f(m.get('still_read_floor_digits'), '.1f', 100, ' %'):>11}"
                     f"{f(m.get('still_read_not_1'), '.1f', 100, ' %'):>8}"
                     f"{f(m['still_read_prob'], '.3f'):>9}{m['n_decoy_images']:>11}"
                     f"{f(m['decoy_psnr'], '.2f'):>11}{f(m['digits_per_s'], '.1f'):>10}")
    lines.append(f"{'floor (decoy boxes)':<22}{floor['n_images']:>7}{floor['n_digits']:>7}"
                 f"{f(floor['still_read'], '.1f', 100, ' %'):>11}"
                 f"{f(floor['still_read'], '.1f', 100, ' %'):>11}"
                 f"{f(floor.get('still_read_not_1'), '.1f', 100, ' %'):>8}"
                 f"{f(floor['still_read_prob'], '.3f'):>9}{'-':>11}{'-':>11}{'-':>10}")
    return "\n".join(lines)
