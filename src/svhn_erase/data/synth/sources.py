"""What scenes are made of: font families, photos and wall styles, and the ``style``
partition that keeps a training set's sources apart from a held-out set's."""

from __future__ import annotations

from svhn_erase.errors import SvhnEraseError

STYLES = ("all", "train", "heldout")

# font families: name -> list of faces; a face is ("ttf", file name) under matplotlib's
# font folder, ("pil", "") for Pillow's bundled default face, or ("hershey", "id:italic")
FONT_FAMILIES: dict[str, list[tuple[str, str]]] = {
    "dejavu_sans": [("ttf", "DejaVuSans.ttf"), ("ttf", "DejaVuSans-Bold.ttf"),
                    ("ttf", "DejaVuSans-Oblique.ttf"), ("ttf", "DejaVuSans-BoldOblique.ttf")],
    "dejavu_mono": [("ttf", "DejaVuSansMono.ttf"), ("ttf", "DejaVuSansMono-Bold.ttf"),
                    ("ttf", "DejaVuSansMono-Oblique.ttf")],
    "stix": [("ttf", "STIXGeneral.ttf"), ("ttf", "STIXGeneralBol.ttf"),
             ("ttf", "STIXGeneralItalic.ttf")],
    "cm_roman": [("ttf", "cmr10.ttf"), ("ttf", "cmb10.ttf")],
    "cm_mono": [("ttf", "cmtt10.ttf")],
    "hershey": [("hershey", "simplex:0"), ("hershey", "duplex:0"), ("hershey", "plain:0"),
                ("hershey", "simplex:1")],
    # held out
    "dejavu_serif": [("ttf", "DejaVuSerif.ttf"), ("ttf", "DejaVuSerif-Bold.ttf"),
                     ("ttf", "DejaVuSerif-Italic.ttf")],
    "cm_sans": [("ttf", "cmss10.ttf")],
    "aileron": [("pil", "")],
    "hershey_serif": [("hershey", "complex:0"), ("hershey", "triplex:0")],
}
HELDOUT_FONTS = ("dejavu_serif", "cm_sans", "aileron", "hershey_serif")

PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coins", "grass", "moon", "page", "text",
          "stereo_motorcycle", "rocket", "coffee", "gravel", "clock")
HELDOUT_PHOTOS = ("rocket", "coffee", "gravel", "clock")

WALLS = ("flat", "stucco", "siding", "bricks", "metal", "gradient", "plaster", "wood", "tiles",
         "concrete")
HELDOUT_WALLS = ("gradient", "plaster", "wood", "tiles", "concrete")
SMOOTH_WALLS = ("flat", "gradient", "plaster")  # drawn Difficulty.smooth_weight times as often


def style_sources(style: str) -> tuple[list[str], list[str], list[str]]:
    """Font families, photo names and wall styles used by ``style`` ("all"/"train"/"heldout")."""
    if style not in STYLES:
        raise SvhnEraseError(f"unknown synth style {style!r}; expected one of {STYLES}")

    def pick(names, held):
        if style == "all":
            return list(names)
        return [n for n in names if (n in held) == (style == "heldout")]

    return pick(FONT_FAMILIES, HELDOUT_FONTS), pick(PHOTOS, HELDOUT_PHOTOS), pick(WALLS,
                                                                                  HELDOUT_WALLS)
