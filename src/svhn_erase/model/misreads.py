"""What a classifier got wrong, for people to read and look at: the per-digit report and the
commonest confusions of a ``classify`` result (``summary_text``), and a contact sheet of the
misread digits, most confident mistakes first (``misread_sheet``; a training run draws its
test split's from a crop set's logits, ``crop_result``).

Each cell of the sheet is the digit's box cut from its photo with a quarter of the box's size
of context around it (the box drawn in red), enlarged to the cell, and a caption
``true>pred  prob`` with the photo's name and the digit's place in it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont

from svhn_erase import atomic_io
from svhn_erase.boxes import Box
from svhn_erase.data import split as split_mod
from svhn_erase.data.crops import NO_DIGIT, CropSet
from svhn_erase.model.classify import result_frame
from svhn_erase.model.train.report import class_name, format_report, per_class_report

CELL, CAPTION, GAP, COLUMNS = 96, 28, 4, 8
CONTEXT = 0.25  # context around the box, as a share of its width and height
TOP_CONFUSIONS = 5


def confusions(result: pd.DataFrame, top: int = TOP_CONFUSIONS) -> list[tuple[int, int, int]]:
    """The ``top`` commonest (true digit, read as, count) of the misread rows of a
    ``classify`` result, commonest first (ties: by true digit, then by the digit read)."""
    wrong = result[result["label"] != result["pred"]]
    counts = wrong.groupby(["label", "pred"]).size().reset_index(name="n")
    counts = counts.sort_values(["n", "label", "pred"], ascending=[False, True, True])
    return [(int(r.label), int(r.pred), int(r.n)) for r in counts.head(top).itertuples()]


def summary_text(result: pd.DataFrame) -> str:
    """The per-digit precision / recall / F1 / support table of a ``classify`` result and
    its commonest confusions, as ``classify`` prints them; a judge's "no digit" (class 10)
    gets a row of its own ("none") when it was read."""
    labels, preds = result["label"].to_numpy(), result["pred"].to_numpy()
    classes = NO_DIGIT + 1 if (preds == NO_DIGIT).any() or (labels == NO_DIGIT).any() else 10
    lines = [format_report(per_class_report(labels, preds, classes)).rstrip("\n")]
    pairs = confusions(result)
    if pairs:
        lines.append("commonest misreads: " + ", ".join(
            f"{class_name(t)} read as {class_name(p)} ({n})" for t, p, n in pairs))
    return "\n".join(lines) + "\n"


def crop_result(table: pd.DataFrame, crop_set: CropSet, logits: torch.Tensor) -> pd.DataFrame:
    """``classify``'s table (``classify.result_frame``) of a crop set's digit crops read as
    ``logits``."""
    prob, pred = torch.softmax(logits.float(), 1).max(1)
    return result_frame(table, crop_set, pred.numpy(), prob.numpy())


def misread_rows(result: pd.DataFrame, table: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The misread digits of ``result`` with their boxes from the split's ``table``, the most
    confident mistakes first (ties in table order), at most ``limit``."""
    wrong = result[result["label"] != result["pred"]]
    boxes = table[["file", "digit_index", "left", "top", "width", "height"]]
    rows = wrong.merge(boxes, on=["file", "digit_index"], how="left", sort=False)
    return rows.sort_values("prob", ascending=False, kind="stable").head(limit)


def _cell(image: np.ndarray, box: Box) -> Image.Image:
    """The box with its context, the box outlined, fitted into a CELL x CELL square."""
    rect = box.crop_rect(image.shape, margin=CONTEXT)
    region = Image.fromarray(np.ascontiguousarray(image[rect.top:rect.bottom,
                                                        rect.left:rect.right]))
    scale = CELL / max(region.width, region.height)
    size = (max(1, round(region.width * scale)), max(1, round(region.height * scale)))
    region = region.resize(size, Image.Resampling.BILINEAR)
    x0, y0 = (box.left - rect.left) * scale, (box.top - rect.top) * scale
    ImageDraw.Draw(region).rectangle(
        [round(x0), round(y0), round(x0 + box.width * scale) - 1,
         round(y0 + box.height * scale) - 1], outline=(255, 0, 0))
    cell = Image.new("RGB", (CELL, CELL), "white")
    cell.paste(region, ((CELL - size[0]) // 2, (CELL - size[1]) // 2))
    return cell


def misread_sheet(split_path: Path, result: pd.DataFrame, table: pd.DataFrame,
                  out: str | os.PathLike[str], limit: int = 64) -> int:
    """Write the contact sheet of ``result``'s misread digits (at most ``limit``, the most
    confident first) to ``out``, atomically, and return how many it shows; with none, a
    small picture that says so. Photos that no longer decode are left out."""
    rows = misread_rows(result, table, limit)
    font = ImageFont.load_default(size=11)
    cells = []
    for row in rows.itertuples():
        photo = split_mod.read_or_skip(split_path / row.file)
        if photo is None:
            continue
        box = Box.of([row.left, row.top, row.width, row.height])
        cell = Image.new("RGB", (CELL, CELL + CAPTION), "white")
        cell.paste(_cell(photo.pixels, box), (0, 0))
        draw = ImageDraw.Draw(cell)
        draw.text((2, CELL + 1),
                  f"{class_name(row.label)}>{class_name(row.pred)}  {row.prob:.2f}", fill="black",
                  font=font)
        draw.text((2, CELL + 14), f"{row.file} #{row.digit_index + 1}", fill="dimgray",
                  font=font)
        cells.append(cell)
    atomic_io.write_image(out, np.asarray(_tile(cells, font)))
    return len(cells)


def _tile(cells: list[Image.Image], font: ImageFont.ImageFont) -> Image.Image:
    """The cells in rows of COLUMNS, or a note when there is none."""
    if not cells:
        sheet = Image.new("RGB", (240, 40), "white")
        ImageDraw.Draw(sheet).text((8, 12), "no misread digits", fill="black", font=font)
        return sheet
    columns = min(COLUMNS, len(cells))
    rows = -(-len(cells) // columns)
    sheet = Image.new("RGB", (columns * (CELL + GAP) - GAP, rows * (CELL + CAPTION + GAP) - GAP),
                      "white")
    for i, cell in enumerate(cells):
        sheet.paste(cell, ((i % columns) * (CELL + GAP), (i // columns) * (CELL + CAPTION + GAP)))
    return sheet
