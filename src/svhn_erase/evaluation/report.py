"""The benchmark's report: one self-contained HTML page, readable offline, and a text table.

``render_report`` fills ``templates/report.html.j2`` (Jinja2, autoescaped) with what
``bench.run_bench`` gathered: everything is inside the page, CSS inline, the chart and the
thumbnails as base64 PNG data URIs; no script, font or style sheet is fetched from anywhere.
Each method's one-line description comes from the removal-method registry.
``format_table`` is the summary as fixed-width text for the terminal.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import cache

import jinja2
import numpy as np
import pandas as pd

from svhn_erase import atomic_io
from svhn_erase.evaluation.kind_table import report_tables
from svhn_erase.removal.methods.base import RemovalMethod, method_class, method_names

# (figure, heading, printf format, scale, suffix, ranked: higher is better)
COLUMNS = (("psnr_box", "PSNR dB", "%.2f", 1.0, "", True),
           ("ssim_box", "SSIM", "%.3f", 1.0, "", True),
           ("keypix_precision", "key-pixel precision", "%.3f", 1.0, "", True),
           ("keypix_recall", "key-pixel recall", "%.3f", 1.0, "", True),
           ("removal_rate", "removal rate", "%.1f", 100.0, " %", True),
           ("digits_per_s", "digits / s", "%.1f", 1.0, "", False))
CHART_PANELS = (("PSNR over boxes (dB, higher is better)", "psnr_box", 1.0, "linear"),
                ("removal rate (%, judge says 'no digit')", "removal_rate", 100.0, "linear"),
                ("digits per second (log)", "digits_per_s", 1.0, "log"))
PANELS = (("original", "original"), ("{m}:erased", "{m}"), ("clean", "clean (truth)"),
          ("true_mask", "true digit mask"), ("{m}:mask", "mask used"),
          ("{m}:keypix", "key pixels vs truth"))


def registered_class(name: str) -> type[RemovalMethod] | None:
    """The registered method class called ``name``; None if there is none (any more)."""
    return method_class(name) if name in method_names() else None


def is_reference(name: str) -> bool:
    """Whether ``name`` is a yardstick such as ``untouched`` (never ranked)."""
    cls = registered_class(name)
    return cls is not None and cls.reference


def _number(value) -> float | None:
    """``value`` as a float; None for None or NaN (nothing measured)."""
    return None if value is None or pd.isna(value) else float(value)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the reports' templates (autoescaped, strict)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("svhn_erase.evaluation", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["data_uri"] = _data_uri
    return env


# --------------------------------------------------------------------------- chart


def _bar_color(name: str) -> str:
    return {"default": "#1f6feb", "seed": "#bf8700"}.get(
        name, "#8c959f" if is_reference(name) else "#57606a")


def bar_chart_png(summary: dict[str, dict]) -> bytes:
    """A PNG with PSNR per method, removal rate and digits per second (log scale)."""
    methods = list(summary)
    fig, axes = atomic_io.new_figure(1, 3, figsize=(13, 0.38 * len(methods) + 1.4), sharey=True)
    y = np.arange(len(methods))
    for ax, (title, key, scale, xscale) in zip(axes, CHART_PANELS, strict=True):
        vals = [summary[m][key] for m in methods]
        shown = [v * scale if v is not None else 0.0 for v in vals]
        ax.barh(y, shown, color=[_bar_color(m) for m in methods], height=0.7)
        ax.set_title(title, fontsize=10)
        if xscale == "log" and any(shown):
            ax.set_xscale("log")
        for yi, v in zip(y, vals, strict=True):
            text = "n/a" if v is None else f"{v * scale:.0f}" if xscale == "log" else \
                f"{v * scale:.1f}"
            pos = v * scale if v is not None and v > 0 else ax.get_xlim()[0]
            ax.text(pos, yi, " " + text, va="center", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(y, methods, fontsize=9)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return atomic_io.figure_png(fig, dpi=100)


# --------------------------------------------------------------------------- page parts


def _table(summary: dict[str, dict]) -> list[dict]:
    """The results table: per method its cells, the best of each ranked column marked."""
    best = {}
    for key, *_, ranked in COLUMNS:
        vals = [m[key] for name, m in summary.items()
                if m[key] is not None and not is_reference(name)]
        if ranked and vals:
            best[key] = max(vals)
    return table_rows(summary, COLUMNS, best)


def table_rows(summary: dict[str, dict], columns: list[tuple], best: dict[str, float],
               counts: tuple[str, ...] = ("n_images", "n_digits")) -> list[dict]:
    """Per method its ``counts`` and one cell per column of ``columns`` (key, title, spec,
    scale, suffix, ranking), the cells equal to ``best[key]`` marked; shared by both reports."""
    rows = []
    for name, m in summary.items():
        cells = [{"value": None if m[key] is None else m[key] * scale, "spec": spec,
                  "suffix": suffix, "best": key in best and m[key] == best[key]}
                 for key, _, spec, scale, suffix, _ in columns]
        cls = registered_class(name)
        rows.append({"name": name, **{k: m[k] for k in counts}, "cells": cells,
                     "description": cls.description if cls else ""})
    return rows


def _subsets(summary: dict[str, dict], rows: pd.DataFrame) -> list[dict]:
    """For each method that ran on fewer images than the others: every method's mean PSNR
    on its images."""
    most = max(m["n_images"] for m in summary.values())
    out = []
    for method, m in summary.items():
        if m["n_images"] >= most:
            continue
        files = rows.loc[rows["method"] == method, "file"]
        on_them = rows[rows["file"].isin(files)].groupby("method")["psnr_box"].mean()
        psnr = {name: _number(on_them.get(name)) for name in summary}
        out.append({"method": method, "n_images": len(files), "psnr": psnr})
    return out


def _targets(summary: dict[str, dict]) -> list[dict]:
    """The project's targets for ``default``: ``ok`` None when a figure is missing."""
    d = summary.get("default")
    if d is None:
        return []

    def check(text: str, ok: Callable[[], bool], needed: list, value: str) -> dict:
        return {"text": text, "ok": None if None in needed else ok(), "value": value}

    def f(v, spec: str, suffix: str = "") -> str:
        return "\u2013" if v is None else f"{v:{spec}}{suffix}"

    psnr, removal, precision = d["psnr_box"], d["removal_rate"], d["keypix_precision"]
    tb = summary.get("telea_box", {}).get("psnr_box")
    nt = summary.get("ns_true", {}).get("psnr_box")
    return [
        check("PSNR at least 3 dB above telea_box", lambda: psnr >= tb + 3, [psnr, tb],
              f"{f(psnr, '.2f')} vs {f(tb, '.2f')} dB"),
        check("PSNR within 1 dB of ns_true (true-mask oracle)", lambda: psnr >= nt - 1,
              [psnr, nt], f"{f(psnr, '.2f')} vs {f(nt, '.2f')} dB"),
        check("removal rate at least 95 %", lambda: removal >= 0.95, [removal],
              f(None if removal is None else 100 * removal, ".2f", " %")),
        # four decimals, so that a near miss reads as one
        check("key-pixel precision at least 0.95", lambda: precision >= 0.95, [precision],
              f(precision, ".4f")),
    ]


def _case(label: str, row: pd.Series, method: str, thumbs: dict[str, bytes]) -> dict:
    extra = []
    if not pd.isna(row["keypix_precision"]):
        extra.append(f"key px prec {row['keypix_precision']:.2f}")
    if not pd.isna(row["removal_rate"]):
        extra.append(f"removed {100 * row['removal_rate']:.0f} %")
    figures = [(thumbs.get(key.format(m=method)), caption.format(m=method))
               for key, caption in PANELS]
    return {"label": label, "file": row["file"], "psnr": row["psnr_box"],
            "ssim": _number(row["ssim_box"]),
            "extra": ", ".join(extra), "figures": figures}


def _galleries(summary: dict[str, dict], rows: pd.DataFrame,
               thumbs: dict[str, dict[str, bytes]]) -> list[dict]:
    """Per method its best, median and worst image by PSNR."""
    galleries = []
    for method, m in summary.items():
        scored = rows[(rows["method"] == method) & rows["psnr_box"].notna()
                      & rows["file"].isin(set(thumbs))]
        if scored.empty:
            continue
        ranked = scored.sort_values("psnr_box", ascending=False, kind="stable")
        picks = {"best": 0, "median": len(ranked) // 2, "worst": len(ranked) - 1}
        cases = [_case(label, ranked.iloc[i], method, thumbs[ranked.iloc[i]["file"]])
                 for label, i in picks.items()]
        galleries.append({"method": method, "psnr": m["psnr_box"], "n_images": m["n_images"],
                          "cases": cases})
    return galleries


def _method_settings(settings: dict) -> dict[str, str]:
    """Per method with settings: ``name value, ...`` (its config, as summary.json has it)."""
    return {name: ", ".join(f"{k} {v}" for k, v in s.items() if k != "method")
            for name, s in settings.get("methods", {}).items() if len(s) > 1}


# --------------------------------------------------------------------------- page and table


def render_report(summary: dict[str, dict], rows: pd.DataFrame, settings: dict,
                  thumbs: dict[str, dict[str, bytes]], by_kind: dict | None = None) -> str:
    """The whole report page as one self-contained HTML string. ``rows``: the per-image
    table (``scoring.image_table``); ``thumbs``: per file, per panel, a PNG; ``by_kind``:
    ``summary.json``'s per-background-kind figures."""
    return environment().get_template("report.html.j2").render(
        kind_tables=report_tables(by_kind or {}, "groundtruth"),
        settings=settings, table=_table(summary), subsets=_subsets(summary, rows),
        targets=_targets(summary), chart=bar_chart_png(summary),
        galleries=_galleries(summary, rows, thumbs),
        n_images=max(m["n_images"] for m in summary.values()),
        n_digits=max(m["n_digits"] for m in summary.values()),
        keypix_methods=[n for n in summary
                        if (c := registered_class(n)) and c.finds_key_pixels],
        method_settings=_method_settings(settings), headings=[c[1] for c in COLUMNS],
        first=next(iter(summary)), paired=[{"name": n, **m} for n, m in summary.items()
                                           if m.get("psnr_vs_first") is not None])


def format_table(summary: dict[str, dict]) -> str:
    """The summary as a fixed-width text table."""
    width = max([16, *(len(name) + 1 for name in summary)])
    head = (f"{'method':<{width}}{'images':>7}{'digits':>7}{'PSNR dB':>9}{'SSIM':>7}"
            f"{'kp prec':>9}{'kp rec':>8}{'removed':>9}{'digits/s':>10}")
    lines = [head, "-" * len(head)]

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"

    for method, m in summary.items():
        removed = f(None if m["removal_rate"] is None else 100 * m["removal_rate"], ".1f")
        lines.append(f"{method:<{width}}{m['n_images']:>7}{m['n_digits']:>7}"
                     f"{f(m['psnr_box'], '.2f'):>9}{f(m['ssim_box'], '.3f'):>7}"
                     f"{f(m['keypix_precision'], '.3f'):>9}{f(m['keypix_recall'], '.3f'):>8}"
                     f"{removed + (' %' if removed != '-' else ''):>9}"
                     f"{f(m['digits_per_s'], '.1f'):>10}")
    return "\n".join(lines)


def format_paired(summary: dict[str, dict]) -> str:
    """One line per method: its PSNR less the first method's, image by image (mean, its
    standard error, images paired); empty with fewer than two methods."""
    names = list(summary)
    rows = [(n, summary[n]) for n in names[1:] if summary[n].get("psnr_vs_first") is not None]
    if not rows:
        return ""
    width = max(16, *(len(n) + 1 for n, _ in rows))
    lines = [f"PSNR per image against {names[0]} (paired: mean difference, its standard error, "
             "images):"]
    for name, m in rows:
        se = m["psnr_vs_first_se"]
        lines.append(f"  {name:<{width}}{m['psnr_vs_first']:+7.2f} dB  "
                     f"(SE {'-' if se is None else format(se, '.2f')}, {m['n_paired']} "
                     f"image{'' if m['n_paired'] == 1 else 's'})")
    return "\n".join(lines)
