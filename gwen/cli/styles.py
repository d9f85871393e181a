"""``python -m gwen styles``: list the prompt styles, save one, import an A1111 styles.csv (``gwen.styles``).

Contract: ``styles`` (or ``styles list``) prints every style a grid may name (``generate --style NAME``) with its
source; ``styles save NAME --prompt TEMPLATE [--negative TEXT]`` and ``styles import FILE.csv`` validate first
(exit 2 naming the value and the rule, nothing written), then add or replace rows of ``$GWEN_HOME/styles.csv``.
All go through the facade, so ``--remote`` lists and saves the server's styles.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gwen.errors import InvalidInput


def add_style_commands(cmd) -> None:
    from gwen.cli.parser import Parser

    styles = cmd("styles", "the prompt styles: list them, save one, import an A1111 styles.csv", json_flag=False)
    sub = styles.add_subparsers(dest="styles_command", parser_class=Parser)
    sub.add_parser("list", help="every style (built-in, styles.toml, styles.csv)").add_argument(
        "--json", action="store_true")
    save = sub.add_parser("save", help="save a style into $GWEN_HOME/styles.csv (replacing one of the same name)")
    save.add_argument("name")
    save.add_argument("--prompt", default="", help="the template: {prompt} stands for the grid's prompt")
    save.add_argument("--negative", default="", help="added to the negative prompt")
    save.add_argument("--json", action="store_true")
    imp = sub.add_parser("import", help="add the styles of an A1111 styles.csv (name, prompt, negative_prompt)")
    imp.add_argument("file")
    imp.add_argument("--json", action="store_true")


def styles_list(studio, args: argparse.Namespace) -> int:
    styles = studio.list_styles()
    if getattr(args, "json", False):  # `gwen styles` alone: the list, as text
        print(json.dumps({"styles": styles}))
        return 0
    for style in styles:
        print(f"{style['name']:24} {style['source']:11} {style['prompt']}")
        if style["negative_prompt"]:
            print(f"{'':24} {'':11} negative: {style['negative_prompt']}")
    return 0


def styles_save(studio, args: argparse.Namespace) -> int:
    return _report(studio.save_style(args.name, args.prompt, args.negative), args.json)


def styles_import(studio, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise InvalidInput(f"styles file {args.file!r}: no such file")
    return _report(studio.import_styles(path.read_bytes(), path.name), args.json)


def _report(result: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(result))
    else:
        for key in ("added", "replaced"):
            if result[key]:
                print(f"{key}: {', '.join(result[key])}")
        print(f"saved in {result['path']}")
    return 0


STYLE_COMMANDS = {"styles list": styles_list, "styles save": styles_save, "styles import": styles_import}
