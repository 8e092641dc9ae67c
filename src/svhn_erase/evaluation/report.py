"""The benchmark's HTML report: one self-contained page, readable offline.

Everything is inside the file: CSS inline, the chart and the thumbnails as base64 PNG data
URIs; no script, font or style sheet is fetched from anywhere. ``render_report`` takes what
``bench.run_bench`` gathered and returns the page as a string.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

METHOD_NOTES = {
    "default": "this project's removal (feature-map key pixels, exact GRNN, digit-only paste)",
    "seed": "the original 2018 pipeline (40x40 key pixels, Adagrad GRNN, whole-box paste)",
    "telea_box": "OpenCV Telea, mask = the whole box",
    "ns_box": "OpenCV Navier-Stokes, mask = the whole box",
    "telea_ours": "OpenCV Telea, mask = the digit mask found by default",
    "ns_ours": "OpenCV Navier-Stokes, mask = the digit mask found by default",
    "telea_true": "OpenCV Telea, mask = the true digit mask (oracle)",
    "ns_true": "OpenCV Navier-Stokes, mask = the true digit mask (oracle)",
    "biharmonic_true": "scikit-image biharmonic, mask = the true digit mask (oracle)",
    "untouched": "the input image, nothing removed",
}

CSS = """
:root { --ink:#1d2430; --muted:#5b6678; --line:#dde2ea; --bg:#f6f7fa; --card:#fff;
        --accent:#1f6feb; --good:#1a7f37; --bad:#cf222e; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 12px; padding-bottom: 6px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 18px 0 8px; }
.sub { color: var(--muted); margin: 0 0 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        padding: 14px 18px; margin: 12px 0; }
.note { border-left: 4px solid var(--warn); background: #fff8e6; }
.note.info { border-left-color: var(--accent); background: #eef4ff; }
table { border-collapse: collapse; width: 100%; background: var(--card); font-size: 14px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th { background: #eef1f6; font-weight: 600; position: sticky; top: 0; }
td.name, th.name { text-align: left; }
td.desc { text-align: left; color: var(--muted); white-space: normal; font-size: 13px; }
tr.ours td { background: #f1f7ff; font-weight: 600; }
td.best { color: var(--good); font-weight: 700; }
.settings { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; font-size: 14px; }
.settings dt { color: var(--muted); }
.settings dd { margin: 0; word-break: break-all; }
.targets li { margin: 3px 0; }
.pass { color: var(--good); font-weight: 700; }
.fail { color: var(--bad); font-weight: 700; }
.na { color: var(--muted); font-weight: 700; }
img.chart { max-width: 100%; height: auto; display: block; margin: 0 auto; }
details { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          margin: 10px 0; padding: 0 14px; }
summary { cursor: pointer; padding: 10px 0; font-weight: 600; }
summary .m { color: var(--muted); font-weight: 400; margin-left: 8px; }
.case { display: flex; flex-wrap: nowrap; gap: 10px; align-items: flex-start;
        padding: 10px 0; border-top: 1px solid var(--line); overflow-x: auto; }
.case .label { flex: 0 0 120px; font-size: 13px; color: var(--muted); }
.case .label b { display: block; color: var(--ink); font-size: 14px; }
figure { margin: 0; text-align: center; }
figure img { display: block; image-rendering: pixelated; border: 1px solid var(--line);
             background: #000; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 2px; }
.legend { font-size: 13px; color: var(--muted); }
.sw { display: inline-block; width: 11px; height: 11px; vertical-align: -1px; margin: 0 3px 0 8px;
      border: 1px solid #999; }
code { background: #eef1f6; padding: 1px 5px; border-radius: 4px; font-size: 13px; }
ul { padding-left: 22px; }
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _fmt(value, spec: str, suffix: str = "") -> str:
    return "&ndash;" if value is None else f"{format(value, spec)}{suffix}"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def bar_chart_png(summary: dict[str, dict]) -> bytes:
    """A PNG with PSNR per method, removal rate and digits per second (log scale)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    methods = list(summary)
    colors = ["#1f6feb" if m == "default" else "#8c959f" if m == "untouched" else
              "#bf8700" if m == "seed" else "#57606a" for m in methods]
    panels = [("PSNR over boxes (dB, higher is better)", "psnr_box", 1.0, "linear"),
              ("removal rate (%, judge says 'no digit')", "removal_rate", 100.0, "linear"),
              ("digits per second (log)", "digits_per_s", 1.0, "log")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.38 * len(methods) + 1.4), sharey=True)
    y = np.arange(len(methods))
    for ax, (title, key, scale, yscale) in zip(axes, panels, strict=True):
        vals = [summary[m][key] for m in methods]
        shown = [v * scale if v is not None else 0.0 for v in vals]
        ax.barh(y, shown, color=colors, height=0.7)
        ax.set_title(title, fontsize=10)
        if yscale == "log" and any(v for v in shown):
            ax.set_xscale("log")
        for yi, v in zip(y, vals, strict=True):
            text = "n/a" if v is None else (f"{v * scale:.1f}" if key != "digits_per_s"
                                            else f"{v:.0f}")
            pos = v * scale if v is not None and v > 0 else (ax.get_xlim()[0])
            ax.text(pos, yi, " " + text, va="center", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(y, methods, fontsize=9)
    axes[0].invert_yaxis()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _settings_html(s: dict) -> str:
    judge = "none"
    if s.get("judge"):
        judge = f"{_esc(s['judge'])} ({_esc(s['judge_net'])})"
    calib = "&ndash;"
    if s.get("calibration_original_no_digit") is not None:
        calib = (f"original digit crops called 'no digit': "
                 f"<b>{100 * s['calibration_original_no_digit']:.1f} %</b> (should be near 0); "
                 f"true clean background crops (same boxes): "
                 f"<b>{100 * s['calibration_clean_no_digit']:.1f} %</b> (should be near 100); "
                 f"{s['calibration_crops']} crops each")
    seed = ("all images" if s.get("seed_limit") is None else
            f"first {s['seed_limit']} images")
    machine = f"{s['machine']}, {s['threads']} torch threads, device {s['device']}"
    if s.get("gpu"):
        machine += f" ({s['gpu']})"
    images = f"{s['images_listed']} listed"
    if s.get("limit"):
        images += f" (limit {s['limit']})"
    if s.get("skipped"):
        images += f", {len(s['skipped'])} skipped"
    items = [  # values are HTML
        ("data", _esc(s["split_path"])),
        ("images", _esc(images)),
        ("removal weights", f"{_esc(s['weights'])} ({_esc(s['net'])})"),
        ("judge", judge),
        ("judge calibration", calib),
        ("seed method", _esc(seed)),
        ("baselines", f"OpenCV inpaint radius {s['inpaint_radius']}; biharmonic on the boxes' "
                      f"rectangle + {s['biharmonic_margin']} px"),
        ("machine", _esc(machine)),
        ("software", f"torch {_esc(s['torch'])}, OpenCV {_esc(s['opencv'])}, "
                     f"Python {_esc(s['python'])}"),
        ("date", _esc(s["date"])),
    ]
    return "<dl class='settings'>" + "".join(
        f"<dt>{_esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _notes_html(summary: dict, settings: dict) -> str:
    notes = []
    if not settings.get("judge"):
        notes.append("<b>No judge:</b> removal rates are not measured. Train an 11-class judge "
                     "of another architecture than the removal net, e.g. "
                     "<code>svhn-erase train --classes 11 --net ConvNet32_753 --data DIR "
                     "--split train</code>, and pass its run folder with <code>--judge</code> "
                     "(or ship it as <code>svhn_erase/checkpoints/judge.safetensors</code>).")
    if settings.get("judge_same_architecture"):
        notes.append(f"<b>Warning:</b> the judge has the same architecture as the removal "
                     f"classifier ({_esc(settings['net'])}); the removal rate is not an "
                     "independent opinion. Use a judge of another architecture.")
    if "seed" in summary and summary["seed"]["n_images"] < summary["default"]["n_images"]:
        notes.append(f"<b>seed</b> ran on the first {summary['seed']['n_images']} images only "
                     f"(--seed-limit); its figures are over those images, see the subset "
                     "comparison below.")
    if settings.get("skipped"):
        items = "".join(f"<li>{_esc(s)}</li>" for s in settings["skipped"][:50])
        more = len(settings["skipped"]) - 50
        notes.append(f"<b>{len(settings['skipped'])} image(s) skipped</b> (unreadable image or "
                     f"ground truth):<ul>{items}</ul>" + (f"and {more} more" if more > 0 else ""))
    return "".join(f"<div class='card note'>{n}</div>" for n in notes)


def _targets_html(summary: dict) -> str:
    d = summary.get("default")
    if d is None:
        return ""

    def get(method, key):
        return summary.get(method, {}).get(key)

    def verdict(ok):
        if ok is None:
            return "<span class='na'>n/a</span>"
        return "<span class='pass'>met</span>" if ok else "<span class='fail'>missed</span>"

    psnr, tb, nt = d["psnr_box"], get("telea_box", "psnr_box"), get("ns_true", "psnr_box")
    checks = [
        ("PSNR at least 3 dB above telea_box",
         None if psnr is None or tb is None else psnr >= tb + 3,
         f"{_fmt(psnr, '.2f')} vs {_fmt(tb, '.2f')} dB"),
        ("PSNR within 1 dB of ns_true (true-mask oracle)",
         None if psnr is None or nt is None else psnr >= nt - 1,
         f"{_fmt(psnr, '.2f')} vs {_fmt(nt, '.2f')} dB"),
        ("removal rate at least 95 %",
         None if d["removal_rate"] is None else d["removal_rate"] >= 0.95,
         _fmt(None if d["removal_rate"] is None else 100 * d["removal_rate"], ".2f", " %")),
        ("key-pixel precision at least 0.95",
         None if d["keypix_precision"] is None else d["keypix_precision"] >= 0.95,
         _fmt(d["keypix_precision"], ".4f")),  # enough digits that a near miss reads as one
    ]
    items = "".join(f"<li>{verdict(ok)} &nbsp;{_esc(text)}: {value}</li>"
                    for text, ok, value in checks)
    return f"<div class='card'><ul class='targets'>{items}</ul></div>"


def _table_html(summary: dict) -> str:
    cols = [("psnr_box", "PSNR dB", ".2f", 1.0, max), ("ssim_box", "SSIM", ".3f", 1.0, max),
            ("keypix_precision", "key-pixel precision", ".3f", 1.0, max),
            ("keypix_recall", "key-pixel recall", ".3f", 1.0, max),
            ("removal_rate", "removal rate", ".1f", 100.0, max),
            ("digits_per_s", "digits / s", ".1f", 1.0, None)]
    best = {}
    for key, *_, pick in cols:
        vals = [m[key] for name, m in summary.items() if m[key] is not None
                and name != "untouched"]
        if pick and vals:
            best[key] = pick(vals)
    head = ("<tr><th class='name'>method</th><th>images</th><th>digits</th>"
            + "".join(f"<th>{_esc(label)}</th>" for _, label, *_ in cols)
            + "<th class='name'>what it is</th></tr>")
    body = []
    for name, m in summary.items():
        cells = []
        for key, _, spec, scale, _ in cols:
            v = m[key]
            cls = " class='best'" if key in best and v is not None and v == best[key] else ""
            suffix = " %" if key == "removal_rate" else ""
            cells.append(f"<td{cls}>{_fmt(None if v is None else v * scale, spec, suffix)}</td>")
        row_cls = " class='ours'" if name == "default" else ""
        body.append(f"<tr{row_cls}><td class='name'>{_esc(name)}</td><td>{m['n_images']}</td>"
                    f"<td>{m['n_digits']}</td>{''.join(cells)}"
                    f"<td class='desc'>{_esc(METHOD_NOTES.get(name, ''))}</td></tr>")
    return f"<table id='summary'>{head}{''.join(body)}</table>"


def _subset_html(summary: dict, rows: list[dict]) -> str:
    """Mean PSNR of every method on the images ``seed`` ran on, when that is a subset."""
    if "seed" not in summary or summary["seed"]["n_images"] >= summary["default"]["n_images"]:
        return ""
    files = {r["file"] for r in rows if r["method"] == "seed"}
    heads, cells = [], []
    for method in summary:
        vals = [r["psnr_box"] for r in rows if r["method"] == method and r["file"] in files
                and r["psnr_box"] is not None]
        heads.append(f"<th>{_esc(method)}</th>")
        cells.append(f"<td>{_fmt(float(np.mean(vals)) if vals else None, '.2f')}</td>")
    return (f"<h3>PSNR (dB) of every method on the {len(files)} images seed ran on</h3>"
            f"<table><tr>{''.join(heads)}</tr><tr>{''.join(cells)}</tr></table>")


def _figure(png: bytes | None, caption: str) -> str:
    if not png:
        return ""
    return (f"<figure><img src='{_data_uri(png)}' alt='{_esc(caption)}'>"
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _gallery_html(summary: dict, rows: list[dict], thumbs: dict[str, dict[str, bytes]]) -> str:
    parts = []
    for method in summary:
        scored = [r for r in rows if r["method"] == method and r["psnr_box"] is not None
                  and r["file"] in thumbs]
        if not scored:
            continue
        scored.sort(key=lambda r: r["psnr_box"], reverse=True)
        picks = [("best", scored[0]), ("median", scored[len(scored) // 2]),
                 ("worst", scored[-1])]
        cases = []
        for label, row in picks:
            t = thumbs[row["file"]]
            extra = []
            if row["keypix_precision"] is not None:
                extra.append(f"key px prec {row['keypix_precision']:.2f}")
            if row["removal_rate"] is not None:
                extra.append(f"removed {100 * row['removal_rate']:.0f} %")
            figs = [_figure(t.get("original"), "original"),
                    _figure(t.get(f"{method}:erased"), f"{method}"),
                    _figure(t.get("clean"), "clean (truth)"),
                    _figure(t.get("true_mask"), "true digit mask"),
                    _figure(t.get(f"{method}:mask"), "mask used"),
                    _figure(t.get(f"{method}:keypix"), "key pixels vs truth")]
            cases.append(f"<div class='case'><div class='label'><b>{label}</b>"
                         f"{_esc(row['file'])}<br>{row['psnr_box']:.2f} dB, "
                         f"SSIM {_fmt(row['ssim_box'], '.3f')}<br>{_esc(', '.join(extra))}"
                         f"</div>{''.join(figs)}</div>")
        m = summary[method]
        is_open = " open" if method == "default" else ""
        parts.append(f"<details{is_open}><summary>{_esc(method)}<span class='m'>"
                     f"mean {_fmt(m['psnr_box'], '.2f')} dB over {m['n_images']} images"
                     f"</span></summary>{''.join(cases)}</details>")
    legend = ("<p class='legend'>Thumbnails show the rectangle around the boxes, enlarged "
              "without smoothing. Masks: <span class='sw' style='background:#fff'></span>in "
              "the mask <span class='sw' style='background:#3c3c3c'></span>inside a box, not "
              "in the mask. Key pixels: <span class='sw' style='background:#28dc46'></span>kept "
              "and truly background <span class='sw' style='background:#ff2828'></span>kept but "
              "truly digit (a precision error).</p>")
    return legend + "".join(parts)


HOW_TO_READ = """
<ul>
<li><b>PSNR over boxes</b> compares the erased image with the clean ground truth on the
pixels of the digit boxes only (RGB, 0&ndash;255); +3 dB is about half the squared error.
Identical pixels are capped at 100 dB. <b>SSIM</b> is computed on the smallest rectangle
holding all boxes (1 = identical structure).</li>
<li><b>Key-pixel precision</b>: of the pixels a method keeps as background inside a box,
the share that truly are background (pixels of any digit count as not background).
<b>Recall</b>: of the true background pixels in the box, the share it keeps. Only methods
that pick key pixels (default, seed) have them. Low precision means digit pixels feed the
infill, which then redraws the digit.</li>
<li><b>Removal rate</b>: the share of erased digit boxes an independent 11-class judge calls
"no digit". Read it against the judge's calibration in the settings: the untouched row is
the judge on the original digits, and clean backgrounds are not always called "no digit".</li>
<li><b>*_true</b> rows use the true digit mask, which no real photo has: they are the
ceiling for an inpainter given a perfect mask. <b>*_box</b> rows need no mask at all;
<b>*_ours</b> use the mask that default found, so the gap between *_ours and *_true is the
cost of imperfect masks.</li>
<li><b>Digits per second</b> counts each method's own compute on this machine in this run
(no file reading, no metrics). *_ours times only the inpainting, not the mask discovery.
default and seed work on chunks of images at once; in results.csv their time per image is
the chunk's time shared out by digit count.</li>
<li>The galleries show, per method, its best, median and worst image by PSNR; the worst
ones show where a method fails.</li>
</ul>
"""


def render_report(summary: dict[str, dict], rows: list[dict], settings: dict,
                  thumbs: dict[str, dict[str, bytes]]) -> str:
    """The whole report page as one self-contained HTML string."""
    chart = _data_uri(bar_chart_png(summary)) if summary else ""
    n_images = max((m["n_images"] for m in summary.values()), default=0)
    n_digits = max((m["n_digits"] for m in summary.values()), default=0)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>svhn-erase removal benchmark: {_esc(settings.get('split', ''))}</title>
<style>{CSS}</style></head>
<body><main>
<h1>Removal benchmark</h1>
<p class="sub">split <b>{_esc(settings.get('split', ''))}</b> &middot; {n_images} images,
{n_digits} digits &middot; {_esc(settings.get('date', ''))}</p>
{_notes_html(summary, settings)}
<h2>Results</h2>
{_table_html(summary)}
{_subset_html(summary, rows)}
<h2>Targets for default</h2>
{_targets_html(summary)}
<h2>Chart</h2>
<div class="card"><img class="chart" src="{chart}" alt="bar chart of the results"></div>
<h2>How to read this</h2>
<div class="card note info">{HOW_TO_READ}</div>
<h2>Settings</h2>
<div class="card">{_settings_html(settings)}</div>
<h2>Best, median and worst images per method</h2>
{_gallery_html(summary, rows, thumbs)}
</main></body></html>
"""
