"""``python -m gwen``: the command line over the facade (``gwen.api.StudioAPI``).

Contract:
- ``--json`` prints exactly one JSON object on stdout; human text otherwise. Progress bars and messages go to
  stderr.
- Exit 0 on success; 2 on bad input or an unknown id (message on stderr, nothing written); 1 on an unexpected
  failure (``GWEN_DEBUG=1`` shows the traceback); ``verify`` exits 1 when the re-render differs.
- ``--remote URL`` (or ``GWEN_BACKEND=remote`` with ``GWEN_REMOTE_URL``) runs every command but ``serve`` and
  ``models`` against a ``gwen serve``: ``queue run`` and ``batch`` then drive the server's runner and stream its
  progress.
- One function per command (``gwen.cli.commands.COMMANDS``); the grammar is ``gwen.cli.parser``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from gwen.cli.parser import build_parser
from gwen.errors import GwenError, InvalidInput


def studio_for(args: argparse.Namespace):
    remote_url = args.remote or (os.environ.get("GWEN_REMOTE_URL") if os.environ.get("GWEN_BACKEND") == "remote"
                                 else None)
    if remote_url:
        from gwen.remote import RemoteStudio

        token = open(args.token_file).read().strip() if args.token_file else os.environ.get("GWEN_TOKEN")
        return RemoteStudio(remote_url, token)
    from gwen.studio import Studio

    return Studio(args.home)


def run(args: argparse.Namespace) -> int:
    from gwen.cli.commands import COMMANDS

    if args.command == "models":
        from gwen.cli.models import run_models
        return run_models(args)
    if args.command == "serve":
        if args.remote:
            raise InvalidInput("serve runs the service here; it cannot be combined with --remote")
        from gwen.cli.serve import run_serve
        return run_serve(args)
    name = f"queue {args.queue_command}" if args.command == "queue" else \
        f"styles {args.styles_command or 'list'}" if args.command == "styles" else args.command
    studio = studio_for(args)
    try:
        return COMMANDS[name](studio, args)
    finally:
        studio.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except GwenError as exc:
        print(f"gwen: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gwen: interrupted; nothing from the unfinished job was written", file=sys.stderr)
        return 130
    except Exception as exc:  # unexpected: a bug or the environment
        if os.environ.get("GWEN_DEBUG"):
            traceback.print_exc()
        print(f"gwen: unexpected error: {type(exc).__name__}: {exc} (set GWEN_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
