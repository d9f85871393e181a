"""The edit commands: ``vary-region``, ``pan`` and ``zoom`` (grammar and one function each, like ``commands``).

Contract:
- ``vary-region ID (--box X,Y,W,H | --mask FILE) [--prompt P] [--n N] [--seed S] [--strength F] [--mask-blur PX]``
  redraws a region and keeps the rest; ``pan ID (--left|--right|--up|--down) FRACTION`` extends one side by that
  fraction of the image; ``zoom ID --out FACTOR`` extends every side (1.5, 2). Each prints the children like
  ``generate`` (``--json``: one JSON object).
- Bad input (a malformed box, a mask file that is not there, any value the studio refuses) exits 2 naming the
  value and the rule; nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gwen.cli.output import render_and_print
from gwen.errors import InvalidInput


def add_edit_commands(cmd) -> None:
    vr = cmd("vary-region", "redraw a region of an image (a box or a mask), keep the rest: op inpaint")
    vr.add_argument("id")
    where = vr.add_mutually_exclusive_group(required=True)
    where.add_argument("--box", metavar="X,Y,W,H", help="the region, in the image's pixels")
    where.add_argument("--mask", metavar="FILE", help="a PNG the image's size: white = redraw, black = keep")
    _common(vr)
    pan = cmd("pan", "extend the canvas on one side by a fraction of the image, filling it coherently: op pan")
    pan.add_argument("id")
    side = pan.add_mutually_exclusive_group(required=True)
    for name in ("left", "right", "up", "down"):
        side.add_argument(f"--{name}", type=float, metavar="FRACTION", help=f"extend {name}wards, e.g. 0.5 (0-1]"
                          if name in ("up", "down") else f"extend to the {name}, e.g. 0.5 (0-1]")
    _common(pan)
    zoom = cmd("zoom", "zoom out: extend every side, the canvas FACTOR times larger: op zoom")
    zoom.add_argument("id")
    zoom.add_argument("--out", type=float, required=True, metavar="FACTOR", help="1.5 or 2 (more than 1, at most 4)")
    _common(zoom)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", help="a new prompt for the redrawn area (default: the image's own)")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed", type=int, help="seed of the first child (the others take seed+1, ...)")
    p.add_argument("--strength", type=float, help="how much is redrawn, (0, 1] (default 0.75; pan and zoom 0.9)")
    p.add_argument("--mask-blur", type=int, help="feather of the mask's edge in pixels (default 4)")


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput(f"--box={text!r}: write it as X,Y,W,H in the image's pixels, e.g. 16,16,32,32") from None
    return x, y, w, h


def read_mask_file(path: str) -> bytes:
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"--mask={path!r}: no such file")
    return file.read_bytes()


def _options(args) -> dict:
    return dict(prompt=args.prompt, n=args.n, seed=args.seed, strength=args.strength, mask_blur=args.mask_blur)


def _render(studio, args, work) -> int:
    return render_and_print(studio, args.json, work)


def vary_region(studio, args) -> int:
    box = parse_box(args.box) if args.box is not None else None
    mask = read_mask_file(args.mask) if args.mask is not None else None
    return _render(studio, args, lambda bar: studio.vary_region(args.id, box=box, mask=mask, on_step=bar,
                                                                **_options(args)))


def pan(studio, args) -> int:
    side = next(name for name in ("left", "right", "up", "down") if getattr(args, name) is not None)
    return _render(studio, args, lambda bar: studio.pan(args.id, side, getattr(args, side), on_step=bar,
                                                        **_options(args)))


def zoom(studio, args) -> int:
    return _render(studio, args, lambda bar: studio.zoom(args.id, args.out, on_step=bar, **_options(args)))


EDIT_COMMANDS = {"vary-region": vary_region, "pan": pan, "zoom": zoom}
