"""The HTML report: self-contained, holds the table, warns where it should."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pandas as pd

from svhn_erase.evaluation import report
from svhn_erase.removal.methods.base import method_class


def _summary(removal: float | None) -> dict:
    def m(psnr, kp=None, speed=100.0, n=3, ssim=0.8):
        return {"psnr_box": psnr, "ssim_box": ssim, "keypix_precision": kp,
                "keypix_recall": kp, "removal_rate": removal, "digits_per_s": speed,
                "n_images": n, "n_digits": 2 * n}
    return {"default": m(31.0, 0.97), "seed": m(25.0, 0.6, 2.0, n=2), "telea_box": m(27.5),
            "ns_true": m(31.5), "untouched": m(15.0, speed=None, ssim=0.95)}


def _settings(**over) -> dict:
    s = {"split": "test", "split_path": "/data/test", "images_listed": 3, "limit": None,
         "seed_limit": 2, "weights": "w.safetensors", "net": "ConvNet48_Dropout5",
         "judge": "j.safetensors", "judge_net": "ConvNet32_753",
         "judge_same_architecture": False, "calibration_original_no_digit": 0.02,
         "calibration_clean_no_digit": 0.9, "calibration_crops": 6, "device": "cpu",
         "gpu": None, "torch": "2.x", "opencv": "4.x", "python": "3.11",
         "machine": "Linux", "threads": 2, "date": "2026-01-01 00:00 UTC",
         "skipped": ["<bad>.png: does not decode"],
         "methods": {"default": {"method": "default", "clusters": 12},
                     "telea_box": {"method": "telea_box", "radius": 3}}}
    s.update(over)
    return s


def _rows_and_thumbs(summary: dict) -> tuple[pd.DataFrame, dict]:
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    rows, thumbs = [], {}
    for i in range(3):
        file = f"{i + 1}.png"
        thumbs[file] = {"original": png.tobytes(), "clean": png.tobytes(),
                        "true_mask": png.tobytes()}
        for method in summary:
            if method == "seed" and i == 2:
                continue
            thumbs[file][f"{method}:erased"] = png.tobytes()
            rows.append({"file": file, "method": method, "n_digits": 2,
                         "psnr_box": 20.0 + i, "ssim_box": 0.5, "keypix_precision": None,
                         "keypix_recall": None, "removal_rate": None, "seconds": 0.1})
    return pd.DataFrame(rows), thumbs


def test_report_is_self_contained_and_complete() -> None:
    summary = _summary(0.97)
    rows, thumbs = _rows_and_thumbs(summary)
    page = report.render_report(summary, rows, _settings(), thumbs)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "<table id='summary'>" in page
    for method in summary:
        assert f"<td class='name'>{method}</td>" in page
    assert "31.00" in page and "97.0 %" in page  # default's PSNR and removal rate
    assert page.count("data:image/png;base64,") >= 1 + 3 * len(summary)  # chart + galleries
    assert "&lt;bad&gt;.png" in page  # skipped files listed, escaped
    assert "on the 2 images seed ran on" in page
    assert "How to read this" in page and "2.x" in page  # settings: torch version
    assert page.count("class='pass'") == 4  # every target met in this made-up summary
    assert method_class("telea_box").description in page  # the registry's words
    assert "radius 3" in page and "clusters 12" in page  # each method's settings
    # the best of a column is marked; the untouched yardstick never ranks
    assert "<td class='best'>31.50</td>" in page and "<td class='best'>0.800</td>" in page
    assert "<td class='best'>0.950</td>" not in page


def test_report_without_judge_says_how_to_get_one() -> None:
    summary = _summary(None)
    rows, thumbs = _rows_and_thumbs(summary)
    page = report.render_report(summary, rows, _settings(
        judge=None, judge_net=None, calibration_original_no_digit=None,
        calibration_clean_no_digit=None), thumbs)
    assert "svhn-erase train --classes 11 --net ConvNet32_753" in page
    assert "class='na'" in page  # the removal target cannot be judged


def test_report_warns_when_judge_shares_the_architecture() -> None:
    summary = _summary(0.5)
    rows, thumbs = _rows_and_thumbs(summary)
    page = report.render_report(summary, rows, _settings(judge_same_architecture=True), thumbs)
    assert "same architecture" in page
    assert "class='fail'" in page


def test_bar_chart_is_a_png() -> None:
    png = report.bar_chart_png(_summary(None))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def _real(still: float, psnr: float | None, speed: float | None = 500.0, n: int = 4) -> dict:
    return {"still_read": still, "still_read_prob": still / 2, "decoy_psnr": psnr,
            "digits_per_s": speed, "n_images": n, "n_decoy_images": n - 1, "n_digits": 2 * n}


def test_real_report_marks_the_lowest_still_read_and_shows_the_floor() -> None:
    from svhn_erase.evaluation import real_report

    summary = {"default": _real(0.25, 28.0), "telea_box": _real(0.2, 25.0),
               "untouched": _real(0.95, 100.0, speed=None)}
    floor = {"still_read": 0.18, "still_read_prob": 0.15, "n_images": 3, "n_digits": 6}
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    row = pd.Series({"file": "1.png", "still_read_prob": 0.1, "still_read": 0.0,
                     "n_digits": 2, "decoy_psnr": float("nan")})
    thumbs = {"1.png": {"original": png.tobytes(), "default:erased": png.tobytes()}}
    settings = _settings(mode="real", files="1-4", reader="r.pkl", reader_net="ConvNet48_Dropout3",
                         reader_classes=10, reader_same_architecture=False, decoy_gap=2,
                         photos=4, photos_with_decoys=3, photos_without_room=1)
    page = real_report.render_real_report(summary, floor, settings,
                                          {"default": [("best", row)]}, thumbs)
    assert "<td class='best'>20.0 %</td>" in page  # telea_box: lowest still read
    assert "<td class='best'>28.00</td>" in page  # default: highest decoy PSNR
    assert "<td class='best'>95.0 %</td>" not in page  # untouched never ranks
    assert "<tr id='floor'>" in page and "18.0 %" in page
    floor_row = page[page.index("<tr id='floor'>"):]
    assert floor_row[:floor_row.index("</tr>")].count("&ndash;") == 4  # no "but 1s" figure
    with_not_1 = real_report.render_real_report(summary, {**floor, "still_read_not_1": 0.031},
                                                settings, {"default": [("best", row)]}, thumbs)
    assert "3.1 %" in with_not_1 and "still read, floor&#39;s digits but 1s" in with_not_1
    assert "1 of 4 photos" in page and "(photos 1-4)" in page
    assert "decoy PSNR &ndash;" in page  # a photo without decoys
    text = real_report.format_real_table(summary, floor)
    assert "floor (decoy boxes)" in text and "18.0 %" in text and "95.0 %" in text
