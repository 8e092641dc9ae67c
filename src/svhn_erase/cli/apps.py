"""The ``serve`` command: the local web app."""

from __future__ import annotations

import argparse
from pathlib import Path

from svhn_erase.cli.common import WEIGHTS_HELP, positive


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="a local web app: upload a photo, box the digits, erase",
                       description="Start the web app at http://HOST:PORT/: upload a photo "
                       "or pick a generated example, find or draw the digit boxes, erase with "
                       "any method, compare before and after, download the PNG, or erase a "
                       "batch into a zip. The JSON API is under /api (see the README).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=positive, default=8000, help="port (default 8000)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="the only folder the server writes in (batch zips); default: a new "
                   "temporary folder, removed when the server stops")
    p.add_argument("--weights", type=Path, default=None, help=WEIGHTS_HELP)
    p.add_argument("--detector", type=Path, default=None,
                   help="the digit detector's weights (.safetensors; default: the packaged one)")
    p.add_argument("--max-upload-mb", type=positive, default=20,
                   help="largest photo in megabytes (default 20)")
    p.add_argument("--max-megapixels", type=positive, default=12,
                   help="largest photo in megapixels (default 12)")
    p.add_argument("--max-boxes", type=positive, default=64,
                   help="most boxes per photo (default 64)")
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> None:
    import os

    from svhn_erase.errors import SvhnEraseError
    from svhn_erase.paths import make_folder

    try:
        import uvicorn

        from svhn_erase.apps.web import WebSettings, create_app
    except ImportError as exc:
        raise SvhnEraseError(f"the web app needs the 'web' extra ({exc}); install it with "
                             "pip install -e '.[web]'") from exc
    for option, path in (("--weights", args.weights), ("--detector", args.detector)):
        if path is not None and not path.exists():
            raise SvhnEraseError(f"{path}: not found ({option})")
    if args.workdir is not None:
        make_folder(args.workdir)  # a file in the way or no write permission: refused here
        # matplotlib (the example generator's fonts) keeps its cache in the working folder
        os.environ.setdefault("MPLCONFIGDIR", str(args.workdir.resolve() / "matplotlib"))
    settings = WebSettings(workdir=args.workdir, weights=args.weights, detector=args.detector,
                           max_upload_bytes=args.max_upload_mb * 1_000_000,
                           max_pixels=args.max_megapixels * 1_000_000,
                           max_boxes=args.max_boxes)
    app = create_app(settings)
    print(f"svhn-erase web app on http://{args.host}:{args.port}/ (working folder "
          f"{app.state.workdir}); Ctrl-C stops it")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
