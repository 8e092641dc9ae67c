"""Contact sheet of generated SVHN-like images: image, image with boxes, clean scene, mask.

Usage: python benchmarks/synth_preview.py [--out /tmp/synth_preview.png] [--n 24]
       [--seed 0] [--style all] [--difficulty realistic] [--split-dir DIR]
Generates ``n`` images into a temporary split (unless --split-dir is given) and writes the
sheet with ``svhn_erase.synth.preview_sheet``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from svhn_erase.data import synth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/synth_preview.png"), help="sheet PNG")
    p.add_argument("--n", type=int, default=24, help="images on the sheet (default: 24)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    p.add_argument("--style", default="all", choices=list(synth.STYLES), help="font/background set")
    p.add_argument("--difficulty", default=synth.DEFAULT_DIFFICULTY,
                   choices=list(synth.DIFFICULTIES), help="recipe preset (default: realistic)")
    p.add_argument("--split-dir", type=Path, default=None, help="preview an existing split")
    p.add_argument("--cell-h", type=int, default=96, help="row height in pixels (default: 96)")
    args = p.parse_args()
    if args.split_dir is not None:
        synth.preview_sheet(args.split_dir, args.out, n=args.n, cell_h=args.cell_h)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            folder = synth.generate_split(tmp, "preview", args.n, seed=args.seed,
                                          style=args.style, workers=1, progress=False,
                                          difficulty=args.difficulty)
            synth.preview_sheet(folder, args.out, n=args.n, cell_h=args.cell_h)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
