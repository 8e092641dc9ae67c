"""Decoy boxes: the number's boxes moved beside it, inside the image, clear of every box, by
the smallest shift (checked against a brute-force search), deterministic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from svhn_erase.boxes import clip_boxes
from svhn_erase.evaluation.decoys import DIRECTIONS, GAP, decoy_boxes


def _clear(moved: np.ndarray, rects: np.ndarray, shape: tuple[int, int], gap: int) -> bool:
    """Whether the group of ``moved`` boxes (left, top, w, h) lies inside the image with
    ``gap`` pixels between its bounding rectangle and every rectangle (top, left, bottom,
    right)."""
    x0, y0 = moved[:, 0].min(), moved[:, 1].min()
    x1, y1 = (moved[:, 0] + moved[:, 2]).max(), (moved[:, 1] + moved[:, 3]).max()
    if x0 < 0 or y0 < 0 or x1 > shape[1] or y1 > shape[0]:
        return False
    return not np.any((y0 < rects[:, 2] + gap) & (rects[:, 0] - gap < y1)
                      & (x0 < rects[:, 3] + gap) & (rects[:, 1] - gap < x1))


def _brute_force(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """The boxes moved by the smallest clear shift (ties: left, right, up, down), searched
    one pixel at a time; None when no shift is clear."""
    rects = np.asarray([r for r in clip_boxes(boxes, shape) if r is not None])
    group = np.stack([rects[:, 1], rects[:, 0], rects[:, 3] - rects[:, 1],
                      rects[:, 2] - rects[:, 0]], 1)
    for s in range(1, max(shape) + 1):
        for dy, dx in DIRECTIONS:
            moved = group + np.array([dx * s, dy * s, 0, 0])
            if _clear(moved, rects, shape, GAP):
                return moved
    return None


boxes_strategy = st.integers(1, 4).flatmap(lambda k: st.lists(
    st.tuples(st.integers(-5, 60), st.integers(-5, 40), st.integers(1, 25), st.integers(1, 30)),
    min_size=k, max_size=k))


@settings(max_examples=150, deadline=None)
@given(boxes=boxes_strategy, height=st.integers(8, 60), width=st.integers(8, 90))
def test_decoys_lie_inside_clear_of_every_box_by_the_smallest_shift(boxes, height, width):
    boxes = np.asarray(boxes, float)
    shape = (height, width)
    inside = [r for r in clip_boxes(boxes, shape) if r is not None]
    found = decoy_boxes(boxes, shape)
    expected = _brute_force(boxes, shape) if inside else None
    if found is None:
        assert expected is None
        return
    decoys, index = found
    assert expected is not None
    rects = np.asarray(inside)
    assert len(decoys) == len(index) == len(inside)
    assert _clear(decoys, rects, shape, GAP)  # inside the image, overlapping no box
    # the same sizes and layout: one shift for the whole group, the smallest there is
    sizes = np.stack([rects[:, 3] - rects[:, 1], rects[:, 2] - rects[:, 0]], 1)
    np.testing.assert_array_equal(decoys[:, 2:], sizes)
    shift = decoys[:, :2] - np.stack([rects[:, 1], rects[:, 0]], 1)
    assert (shift == shift[0]).all() and (shift[0] == 0).sum() == 1
    np.testing.assert_array_equal(decoys, expected)
    np.testing.assert_array_equal(decoy_boxes(boxes, shape)[0], decoys)  # deterministic


def test_decoys_take_the_smallest_shift_left_first_and_none_without_room() -> None:
    shape = (20, 100)  # no room above or below a 12 px high number
    decoys, index = decoy_boxes(np.array([[40, 4, 8, 12], [50, 4, 8, 12]]), shape)
    # the group is 18 px wide: left by 18 + GAP, keeping the layout (right ties, left wins)
    np.testing.assert_array_equal(decoys, [[20, 4, 8, 12], [30, 4, 8, 12]])
    assert index.tolist() == [0, 1]
    right = decoy_boxes(np.array([[2, 4, 8, 12]]), shape)[0]
    np.testing.assert_array_equal(right, [[12, 4, 8, 12]])  # no room on the left
    down = decoy_boxes(np.array([[40, 4, 8, 12], [50, 4, 8, 12]]), (60, 100))[0]
    np.testing.assert_array_equal(down[:, 1], [18, 18])  # 14 px down beats 20 px left
    assert decoy_boxes(np.array([[0, 0, 100, 20]]), shape) is None  # the box fills the image
    assert decoy_boxes(np.array([[200, 0, 10, 10]]), shape) is None  # no box inside
