"""One function per command: ``COMMANDS[name](studio, args) -> exit code``. Each calls the facade
(``gwen.api.StudioAPI``: a local studio, or a remote one with ``--remote``) and prints through ``output``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

from gwen.cli.edits import EDIT_COMMANDS
from gwen.cli.styles import STYLE_COMMANDS
from gwen.cli.output import image_json, print_differences, print_images, render_and_print
from gwen.errors import InvalidInput
from gwen.records import Filter, SearchQuery, parse_day


def generate(studio, args) -> int:
    width, height = args.size if args.size else (None, None)
    if (args.init is None) != (args.denoise is None):
        raise InvalidInput("--init and --denoise go together (img2img from a catalog image)")
    return render_and_print(studio, args.json, lambda bar: studio.generate(
        args.prompt, negative=args.negative, model=args.model, n=args.n, seed=args.seed, steps=args.steps,
        guidance=args.guidance, width=width, height=height, scheduler=args.scheduler,
        variations=[_variation(v) for v in args.variation], init_image_id=args.init, denoise=args.denoise,
        styles=args.styles, on_step=bar))


def use(studio, args) -> int:
    """The generate command that re-creates an image's settings; ``--run`` renders it (one new image)."""
    from gwen.cli.recreate import generate_argv, generate_options

    record = studio.get(args.id)
    params = studio.params_of(record)
    if params.edit is not None:
        return _use_edit(studio, record, params, args)
    options = generate_options(params, studio.list_styles() if params.styles else None)
    if args.run:
        prompt = options.pop("prompt")
        return render_and_print(studio, args.json, lambda bar: studio.generate(prompt, n=1, on_step=bar, **options))
    argv = generate_argv(params, studio.list_styles() if params.styles else None)
    print(json.dumps({"id": record.id, "argv": argv, "command": shlex.join(argv), "options": options}) if args.json
          else shlex.join(argv))
    return 0


def _use_edit(studio, record, params, args) -> int:
    """``use`` of a Vary Region / Pan / Zoom Out child: the edit command that makes it again (``--run``: now)."""
    from gwen.cli.recreate import edit_argv, edit_options
    from gwen.files import mask_path

    command, options = edit_options(params)
    mask_file = mask_path(Path(studio.path_of(record)))
    if args.run:
        if command == "vary-region" and options["box"] is None:
            if not mask_file.is_file():
                raise InvalidInput(f"image {record.id}: its painted mask is not on this machine (it lies beside the "
                                   "image where it was made); run this there")
            options["mask"] = mask_file.read_bytes()
        parent = params.init_image_id
        if command == "pan":
            side, fraction = options.pop("side"), options.pop("fraction")
            return render_and_print(studio, args.json, lambda bar: studio.pan(parent, side, fraction, on_step=bar,
                                                                              **options))
        if command == "zoom":
            factor = options.pop("factor")
            return render_and_print(studio, args.json, lambda bar: studio.zoom(parent, factor, on_step=bar, **options))
        return render_and_print(studio, args.json, lambda bar: studio.vary_region(parent, on_step=bar, **options))
    argv = edit_argv(params, str(mask_file))
    print(json.dumps({"id": record.id, "argv": argv, "command": shlex.join(argv), "options": options},
                     default=list) if args.json else shlex.join(argv))
    return 0


def reroll(studio, args) -> int:
    return render_and_print(studio, args.json, lambda bar: studio.reroll(args.id, args.n, args.seed, on_step=bar))


def vary(studio, args) -> int:
    options = dict(strength=args.strength, modes=args.mode, n=args.n, prompt=args.prompt,
                   locks=[x.strip() for x in args.lock.split(",") if x.strip()],
                   guidance_range=_range(args.guidance_range, float, "guidance range"),
                   steps_range=_range(args.steps_range, int, "steps range"),
                   denoise_range=_range(args.denoise_range, float, "denoise range"),
                   schedulers=[x.strip() for x in args.schedulers.split(",") if x.strip()]
                   if args.schedulers else None, seed=args.seed, taste=args.taste)
    if args.dry_run:
        from gwen.cli.output import print_planned

        parent, children, plan = studio.plan_variations(args.id, **options)
        print_planned(parent, children, plan, args.json, options["locks"])
        return 0
    return render_and_print(studio, args.json, lambda bar: studio.vary(args.id, on_step=bar, **options))


def upscale(studio, args) -> int:
    from gwen.upscale import parse_tile

    record = studio.upscale(args.source, model=args.model, scale=args.scale,
                            tile=parse_tile(args.tile) if args.tile is not None else None, pre_shrink=args.pre_shrink)
    print_images(studio, [record], args.json)
    return 0


def verify(studio, args) -> int:
    result = studio.verify(args.id)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{result.image_id}: max pixel difference {result.max_diff}/255 (mean {result.mean_diff:.4f}), "
              f"re-rendered in a batch of {result.batch_size}: {'identical' if result.identical else 'DIFFERS'}")
    return 0 if result.identical else 1


def show(studio, args) -> int:
    record = studio.get(args.id)
    info = studio.infotext(record)
    if args.json:
        print(json.dumps({**record.to_dict(), "abs_path": studio.location_of(record), "infotext": info}))
    else:
        print(f"{record.id}  op={record.op}  parent={record.parent_id}  root={record.root_id}  rating={record.rating}"
              f"  favorite={record.favorite}  tags={','.join(record.tags)}  worker={record.worker or '-'}")
        print(studio.location_of(record))
        print(info)
    return 0


def search(studio, args) -> int:
    records, total = studio.search(query_of(args))
    print_images(studio, records, args.json, total)
    return 0


def mark(studio, args) -> int:
    c = args.command
    if c == "rate":
        record = studio.rate(args.id, args.stars)
    elif c == "favorite":
        record = studio.favorite(args.id, not args.off)
    elif c == "tag":
        record = studio.tag(args.id, args.tags, remove=args.remove)
    else:
        record = getattr(studio, c)(args.id)
    print_images(studio, [record], args.json)
    return 0


def diff(studio, args) -> int:
    result = studio.compare(args.ids)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "images"}))
    else:
        print_differences(result)
    return 0


def lineage(studio, args) -> int:
    tree = studio.lineage(args.id)
    if args.json:
        print(json.dumps(tree))
    else:
        for node in tree["nodes"]:
            mark_ = "→" if node["id"] == tree["image"] else " "
            print(f"{mark_} {node['id']}  {node['op']:8} parent={node['parent_id'] or '-':26}  rating={node['rating']}")
    return 0


def import_(studio, args) -> int:
    result = studio.import_paths(args.paths)
    if args.json:
        print(json.dumps({"images": [image_json(studio, r) for r in result["imported"]],
                          "skipped": result["skipped"], "notes": result.get("notes", [])}))
    else:
        print_images(studio, result["imported"], False)
        for s in result["skipped"]:
            print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
        for n in result.get("notes", []):
            print(f"note on {n['path']}: {n['note']}", file=sys.stderr)
    return 0


def reindex(studio, args) -> int:
    result = studio.reindex()
    print(json.dumps(result) if args.json else
          f"reindexed {result['images']} images ({result['marked']} with marks from the journal, "
          f"{len(result['skipped'])} files skipped) and {result['jobs']} queue jobs")
    torn = result["journal_lines_skipped"] + result["jobs_journal_lines_skipped"]
    if torn and not args.json:
        print(f"skipped {torn} torn or unreadable journal line(s) (a crash or a full disk mid-append); "
              "the lines after them were kept", file=sys.stderr)
    return 0


def export(studio, args) -> int:
    result = studio.export(query_of(args, paged=False), args.target)
    print(json.dumps(result) if args.json else f"exported {result['images']} images to {result['path']}")
    return 0


def stats(studio, args) -> int:
    if args.by:
        rows = studio.rating_stats(args.by, query_of(args, paged=False))
        if args.json:
            print(json.dumps({"by": args.by, "rows": rows}))
        elif not rows:
            print("no rated images among those selected: rate some to see which settings you like")
        else:
            print(f"{args.by:>24}  mean rating  rated images")
            for row in rows:
                print(f"{str(row['group']):>24}  {row['mean_rating']:>11.2f}  {row['images']:>12}")
        return 0
    result = studio.stats()
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def queue_add(studio, args) -> int:
    jobs = studio.queue_add(args.file, batch_defaults(args))
    print(json.dumps({"jobs": [j.to_dict() for j in jobs], "count": len(jobs)}) if args.json
          else f"enqueued {len(jobs)} jobs")
    return 0


def queue_run(studio, args) -> int:
    from gwen.cli.queue_run import run_queue

    return run_queue(studio, until_empty=args.until_empty, as_json=args.json)


def queue_list(studio, args) -> int:
    jobs = studio.queue_list(args.status)
    if args.json:
        print(json.dumps({"jobs": [j.to_dict() for j in jobs]}))
    else:
        for j in jobs:
            detail = j.error or (f"{len(j.image_ids)} images" if j.status == "done" else j.source or "")
            print(f"{j.id}  {j.kind:8} {j.status:9} attempts={j.attempts}/{j.max_attempts}  {detail}")
    return 0


def queue_change(studio, args) -> int:
    job = studio.queue_cancel(args.job) if args.queue_command == "cancel" else studio.queue_retry(args.job)
    print(json.dumps(job.to_dict()) if args.json else f"{job.id}: {job.status}"
          + (" (cancel requested)" if job.cancel_requested and job.status == "running" else ""))
    return 0


def batch(studio, args) -> int:
    from gwen.cli.queue_run import run_queue

    jobs = studio.queue_add(args.file, batch_defaults(args))
    if not args.json:
        print(f"enqueued {len(jobs)} jobs", file=sys.stderr)
    return run_queue(studio, until_empty=True, as_json=args.json, added=[j.id for j in jobs])


COMMANDS: dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "generate": generate, "use": use, "reroll": reroll, "vary": vary, "upscale": upscale, "verify": verify,
    "show": show, "search": search, "rate": mark, "favorite": mark, "tag": mark, "delete": mark, "restore": mark,
    "diff": diff, "lineage": lineage, "import": import_, "reindex": reindex, "export": export, "stats": stats,
    "batch": batch, "queue add": queue_add, "queue run": queue_run, "queue list": queue_list,
    "queue cancel": queue_change, "queue retry": queue_change,
}
COMMANDS.update(EDIT_COMMANDS)  # vary-region, pan, zoom: gwen.cli.edits
COMMANDS.update(STYLE_COMMANDS)  # styles list / save / import: gwen.cli.styles


def batch_defaults(args: argparse.Namespace) -> dict[str, Any]:
    width, height = args.size if args.size else (None, None)
    return {"n": args.n, "steps": args.steps, "guidance": args.guidance, "width": width, "height": height,
            "model": args.model, "seed": args.seed, "scheduler": args.scheduler, "negative": args.negative,
            "styles": args.styles}


def query_of(args: argparse.Namespace, paged: bool = True) -> SearchQuery:
    sort, _, direction = (getattr(args, "sort", None) or "created_at").partition(":")
    if direction not in ("", "asc", "desc"):
        raise InvalidInput(f"sort={args.sort!r}: the direction after ':' must be asc or desc")
    return SearchQuery(
        text=args.text, filters=tuple(Filter.parse(f) for f in args.filter), model=args.model, op=args.op,
        min_rating=args.min_rating, favorite=True if args.favorite else None, tags=tuple(args.tag),
        styles=tuple(args.style),
        since=parse_day(args.since, "since") if args.since else None,
        until=parse_day(args.until, "until") if args.until else None, only_deleted=args.deleted,
        sort=sort, descending=direction != "asc",
        limit=args.limit if paged else 1000, offset=args.offset if paged else 0)


def _variation(text: str) -> dict[str, Any]:
    seed, _, strength = text.partition(":")
    try:
        return {"seed": int(seed), "strength": float(strength)}
    except ValueError:
        raise InvalidInput(f"--variation={text!r}: write it as SEED:STRENGTH, e.g. 1234:0.2") from None


def _range(text: str | None, kind: type, label: str):
    if not text:
        return None
    try:
        lo, hi = text.split(":")
        return kind(lo), kind(hi)
    except ValueError:
        raise InvalidInput(f"{label}={text!r}: write it as LO:HI") from None
