"""The HTML report: self-contained, holds the table, warns where it should."""

from __future__ import annotations

import re

import cv2
import numpy as np

from svhn_erase.evaluation import report


def _summary(removal: float | None) -> dict:
    def m(psnr, kp=None, speed=100.0, n=3):
        return {"psnr_box": psnr, "ssim_box": 0.8, "keypix_precision": kp,
                "keypix_recall": kp, "removal_rate": removal, "digits_per_s": speed,
                "n_images": n, "n_digits": 2 * n}
    return {"default": m(31.0, 0.97), "seed": m(25.0, 0.6, 2.0, n=2), "telea_box": m(27.5),
            "ns_true": m(31.5), "untouched": m(15.0, speed=None)}


def _settings(**over) -> dict:
    s = {"split": "test", "split_path": "/data/test", "images_listed": 3, "limit": None,
         "seed_limit": 2, "weights": "w.safetensors", "net": "ConvNet48_Dropout5",
         "judge": "j.safetensors", "judge_net": "ConvNet32_753",
         "judge_same_architecture": False, "calibration_original_no_digit": 0.02,
         "calibration_clean_no_digit": 0.9, "calibration_crops": 6, "device": "cpu",
         "gpu": None, "torch": "2.x", "opencv": "4.x", "python": "3.11",
         "machine": "Linux", "threads": 2, "date": "2026-01-01 00:00 UTC",
         "skipped": ["<bad>.png: does not decode"], "inpaint_radius": 3,
         "biharmonic_margin": 6}
    s.update(over)
    return s


def _rows_and_thumbs(summary: dict) -> tuple[list[dict], dict]:
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
    return rows, thumbs


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
