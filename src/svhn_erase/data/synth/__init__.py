"""Generate realistic SVHN-like Format 1 splits with ground truth for removal (SPEC §1, §3).

One image is made from one ``numpy`` Generator seeded with ``(seed, index)``, so a split
is byte-identical for a given seed whatever the number of worker processes. The recipe
(``render.render_sample`` runs it, one module per stage):

1. ``number``: pick the number (1-5 digits, mostly 2-3; first digits by Benford's law as
   in real SVHN), its digit height in final pixels (10-80), a font (``fonts``: TrueType
   faces shipped with matplotlib, Pillow's default face, OpenCV's Hershey stroke fonts),
   weight, width (narrow, as real house numbers), spacing, and the share of the parent's
   width the number takes (about 0.26: SVHN parents keep much context);
2. ``number``: lay the glyphs out at about twice the final resolution ("work" resolution)
   and warp them with one rotation + shear + perspective homography;
3. ``scenery``: render the background at work resolution: a random crop of a scikit-image
   photo (``photos``: scaled, tinted, flipped) or a painted wall (``walls``: flat, gradient,
   plaster, stucco, siding, bricks, metal, wood, tiles, concrete), sometimes with a plaque
   (warped with the number) and door/window edges; optionally a strip of a real photo
   (``backgrounds``: digit-free strips cut outside every box of real SVHN photos);
   ``palette`` holds the colours real walls, plates and digits come in;
4. ``digits``: colours, outline and drop shadow; composite the digits over the scene with
   their alpha (a later digit is painted over an earlier one, so where two digits overlap
   the later one wins in both the image and the mask);
5. ``degrade``: apply the *same* camera to the composite and to the clean background
   (capture at or below the final size, blur, lighting, haze, colour grading, sensor noise
   and JPEG there, then scaling up to the final size), and the same geometric ops to every
   digit's alpha;
6. ``truth``: ``clean`` is the degraded background; ``mask`` holds k (1-based, digitStruct
   order) where the k-th digit's degraded alpha (fill, outline and shadow) exceeds
   ``mask_threshold`` (the pixels the digit touched). Outside the mask dilated by
   ``halo_px`` pixels (square kernel) the image equals ``clean`` exactly: the faint blur and
   JPEG tail there is dropped, feathered over the last two pixels. Boxes are the tight box
   of each digit's alpha > ``box_threshold`` (the visible ink) grown by 0-2 px per side
   like a human annotator, clipped to the image.

``difficulty`` picks the ranges the recipe draws from (``difficulty.DIFFICULTIES``):
``"realistic"`` (the default) is tuned against real SVHN train photos 1-1600 (``stats``
measures both; ``benchmarks/generated_vs_real.py`` prints them side by side); ``"hard"``
is a stress test. ``style`` partitions fonts and background sources (``sources``): ``"train"``
and ``"heldout"`` use disjoint font families, photos and wall styles; ``"all"`` uses
everything. ``generate`` writes a split to disk in parallel; ``preview`` draws a contact
sheet of one.
"""

from svhn_erase.data.synth.difficulty import (
    DEFAULT_DIFFICULTY,
    DIFFICULTIES,
    Difficulty,
    difficulty_of,
)
from svhn_erase.data.synth.generate import generate_split, summary_of
from svhn_erase.data.synth.preview import preview_sheet
from svhn_erase.data.synth.render import RECIPE_VERSION, Sample, render_sample
from svhn_erase.data.synth.sources import FONT_FAMILIES, PHOTOS, STYLES, WALLS, style_sources

__all__ = [
    "DEFAULT_DIFFICULTY", "DIFFICULTIES", "FONT_FAMILIES", "PHOTOS", "RECIPE_VERSION",
    "STYLES", "WALLS", "Difficulty", "Sample", "difficulty_of", "generate_split",
    "preview_sheet", "render_sample", "style_sources", "summary_of",
]
