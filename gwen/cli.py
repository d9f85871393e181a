"""``python -m gwen``: the command line over the ``Studio`` facade.

Contract:
- ``--json`` prints exactly one JSON object on stdout; human text otherwise.
  Progress bars and messages go to stderr.
- Exit 0 on success; 2 on bad input or an unknown id (message on stderr,
  nothing written); 1 on an unexpected failure (``GWEN_DEBUG=1`` shows the
  traceback); ``verify`` exits 1 when the re-render differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any

from gwen.records import Filter, ImageRecord, SearchQuery, parse_day
from gwen.errors import GwenError, InvalidInput


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size={text!r}: write it as WIDTHxHEIGHT, e.g. 512x512") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gwen", description="GWEN: generate, pick, vary, upscale, catalog.")
    parser.add_argument("--home", help="data folder (default: $GWEN_HOME or ./data)")
    parser.add_argument("--remote", metavar="URL", help="drive a `gwen serve` service instead (or GWEN_REMOTE_URL "
                        "with GWEN_BACKEND=remote); the token comes from --token-file or GWEN_TOKEN")
    parser.add_argument("--token-file", help="file holding the bearer token (serve: required off loopback)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def cmd(name: str, help_: str, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        return p

    models = cmd("models", "manage models", json_flag=False)
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    tiny = msub.add_parser("make-tiny", help="write the tiny random-weight models into DIR")
    tiny.add_argument("dir")
    tiny.add_argument("--json", action="store_true")
    mlist = msub.add_parser("list", help="list model presets (diffusion and upscalers) and what is downloaded")
    mlist.add_argument("--json", action="store_true")
    mdl = msub.add_parser("download", help="download a preset now (upscaler file or Hugging Face pipeline)")
    mdl.add_argument("name")
    mdl.add_argument("--json", action="store_true")

    g = cmd("generate", "a grid of N images, one seed each (seed, seed+1, ...)")
    g.add_argument("prompt")
    g.add_argument("--negative", default="")
    g.add_argument("--model", help="preset name, Hugging Face id, diffusers folder or .safetensors/.ckpt file")
    g.add_argument("--n", type=int, default=4)
    g.add_argument("--seed", type=int)
    g.add_argument("--steps", type=int)
    g.add_argument("--guidance", type=float)
    g.add_argument("--size", type=_size)
    g.add_argument("--scheduler")

    r = cmd("reroll", "same settings, new seeds")
    r.add_argument("id")
    r.add_argument("--n", type=int, default=4)
    r.add_argument("--seed", type=int, help="seed of the seed sampler (reproducible reroll)")

    v = cmd("vary", "variations around an image")
    v.add_argument("id")
    v.add_argument("--strength", default="subtle",
                   help="subtle, strong, low, moderate, high, very-high, or a number from 0 to 1")
    v.add_argument("--mode", default="mix", help="noise, img2img, jitter or mix (noise+jitter); comma-separated")
    v.add_argument("--lock", default="", help="parameters to keep: guidance,steps,scheduler")
    v.add_argument("--guidance-range", help="LO:HI bounds for jittered guidance")
    v.add_argument("--steps-range", help="LO:HI bounds for jittered steps")
    v.add_argument("--prompt", help="remix: a new prompt for the children")
    v.add_argument("--n", type=int, default=4)
    v.add_argument("--seed", type=int, help="seed of the variation sampler (reproducible children)")

    up = cmd("upscale", "upscale a catalog image (or an image file, imported first) with Real-ESRGAN")
    up.add_argument("source", help="image id, or a path to an image file")
    up.add_argument("--model", help="x4plus, x2plus, general-x4v3, tiny (offline demo), or a .pth/.safetensors file "
                    "(default: GWEN_UPSCALER, else settings.toml, else x4plus)")
    up.add_argument("--scale", type=float, help="final scale (default: the model's)")
    up.add_argument("--tile", help="tile side in input pixels (>= 32; default 256 on CPU, 512 on CUDA)")
    up.add_argument("--pre-shrink", type=float, default=1.0, help="shrink the input by this factor first (0-1]")

    s = cmd("show", "an image's record and A1111 infotext")
    s.add_argument("id")
    ver = cmd("verify", "re-render an image from its record (writes nothing) and compare pixels")
    ver.add_argument("id")

    se = cmd("search", "search the catalog")
    _add_filters(se)
    se.add_argument("--sort", default="created_at", help="FIELD or FIELD:desc / FIELD:asc")
    se.add_argument("--limit", type=int, default=50)
    se.add_argument("--offset", type=int, default=0)

    ra = cmd("rate", "rate an image 0-5")
    ra.add_argument("id")
    ra.add_argument("stars", type=int)
    fa = cmd("favorite", "mark (or --off unmark) a favorite")
    fa.add_argument("id")
    fa.add_argument("--off", action="store_true")
    ta = cmd("tag", "add (or --remove) tags")
    ta.add_argument("id")
    ta.add_argument("tags", nargs="+")
    ta.add_argument("--remove", action="store_true")
    de = cmd("delete", "hide an image (soft delete; restore brings it back)")
    de.add_argument("id")
    re_ = cmd("restore", "undo a delete")
    re_.add_argument("id")
    di = cmd("diff", "compare 2 to 4 images: the settings that differ")
    di.add_argument("ids", nargs="+", metavar="ID")
    li = cmd("lineage", "ancestors and descendants of an image")
    li.add_argument("id")
    im = cmd("import", "import images (A1111, ComfyUI, InvokeAI, GWEN metadata is read)")
    im.add_argument("paths", nargs="+")
    cmd("reindex", "rebuild the catalog from the image files and the journal")
    ex = cmd("export", "export matching images (.zip) or their parameters (.parquet, .csv)")
    _add_filters(ex)
    ex.add_argument("--to", required=True, dest="target")
    cmd("stats", "catalog statistics")
    sv = cmd("serve", "serve the facade over HTTP (FastAPI); needs the full install", json_flag=False)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8765)
    sv.add_argument("--token-file", default=argparse.SUPPRESS, help="file holding the bearer token")
    sv.add_argument("--api-docs", action="store_true", help="serve /docs, /redoc and /openapi.json (behind the token)")

    queue = cmd("queue", "persistent job queue", json_flag=False)
    qsub = queue.add_subparsers(dest="queue_command", required=True, parser_class=_Parser)
    qadd = qsub.add_parser("add", help="enqueue the jobs of a batch file (.txt prompts, .json, .jsonl, .toml)")
    _add_batch_flags(qadd)
    qrun = qsub.add_parser("run", help="run pending jobs (one runner per data folder)")
    qrun.add_argument("--until-empty", action="store_true", help="stop when no job is pending (default: keep polling)")
    qrun.add_argument("--json", action="store_true")
    qlist = qsub.add_parser("list", help="list jobs")
    qlist.add_argument("--status", help="pending, running, done, failed or cancelled")
    qlist.add_argument("--json", action="store_true")
    for name, help_ in (("cancel", "cancel a pending (or stop a running) job"), ("retry", "re-queue a failed job")):
        q = qsub.add_parser(name, help=help_)
        q.add_argument("job")
        q.add_argument("--json", action="store_true")
    batch = cmd("batch", "enqueue a batch file and run the queue until it is empty", json_flag=False)
    _add_batch_flags(batch)
    return parser


def _add_batch_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")
    p.add_argument("--n", type=int, help="images per prompt (default 4)")
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--size", type=_size)
    p.add_argument("--model")
    p.add_argument("--seed", type=int)
    p.add_argument("--scheduler")
    p.add_argument("--negative")
    p.add_argument("--json", action="store_true")


def _batch_defaults(args: argparse.Namespace) -> dict[str, Any]:
    width, height = args.size if args.size else (None, None)
    return {"n": args.n, "steps": args.steps, "guidance": args.guidance, "width": width, "height": height,
            "model": args.model, "seed": args.seed, "scheduler": args.scheduler, "negative": args.negative}


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", help="words that must appear in the prompt or negative prompt")
    p.add_argument("--filter", action="append", default=[], help="FIELD OP VALUE, e.g. 'guidance>=5' (repeatable)")
    p.add_argument("--model")
    p.add_argument("--op")
    p.add_argument("--min-rating", type=int)
    p.add_argument("--favorite", action="store_true")
    p.add_argument("--tag", action="append", default=[])
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--deleted", action="store_true", help="show deleted images only")


def _query(args: argparse.Namespace, paged: bool = True) -> SearchQuery:
    sort, _, direction = (getattr(args, "sort", None) or "created_at").partition(":")
    if direction not in ("", "asc", "desc"):
        raise InvalidInput(f"sort={args.sort!r}: the direction after ':' must be asc or desc")
    return SearchQuery(
        text=args.text, filters=tuple(Filter.parse(f) for f in args.filter), model=args.model, op=args.op,
        min_rating=args.min_rating, favorite=True if args.favorite else None, tags=tuple(args.tag),
        since=parse_day(args.since, "since") if args.since else None,
        until=parse_day(args.until, "until") if args.until else None, only_deleted=args.deleted,
        sort=sort, descending=direction != "asc",
        limit=args.limit if paged else 1000, offset=args.offset if paged else 0)


def _range(text: str | None, kind: type, label: str):
    if not text:
        return None
    try:
        lo, hi = text.split(":")
        return kind(lo), kind(hi)
    except ValueError:
        raise InvalidInput(f"{label}={text!r}: write it as LO:HI") from None


def _image_json(studio, r: ImageRecord) -> dict[str, Any]:
    return {"id": r.id, "path": studio.location_of(r), "seed": r.params.get("seed"), "op": r.op,
            "parent_id": r.parent_id, "root_id": r.root_id, "rating": r.rating, "favorite": r.favorite,
            "tags": list(r.tags), "deleted": r.deleted, "created_at": r.created_at.isoformat(), "params": r.params}


def _print_images(studio, records: list[ImageRecord], as_json: bool, total: int | None = None) -> None:
    if as_json:
        out: dict[str, Any] = {"images": [_image_json(studio, r) for r in records]}
        if total is not None:
            out["total"] = total
        print(json.dumps(out))
        return
    for r in records:
        stars = "★" * r.rating
        print(f"{r.id}  {r.op:8} seed={r.params.get('seed')!s:>10}  {stars:5}  {studio.location_of(r)}")
    if total is not None:
        print(f"{len(records)} shown of {total}", file=sys.stderr)


class _Progress:
    """A tqdm bar on stderr, fed by the engine's on_step(done, total)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="step", file=sys.stderr, desc="denoising")
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    if args.command == "models":
        return _models(args)
    remote_url = args.remote or (os.environ.get("GWEN_REMOTE_URL") if os.environ.get("GWEN_BACKEND") == "remote"
                                 else None)
    if remote_url:
        if args.command == "serve":
            raise InvalidInput("serve runs the service here; it cannot be combined with --remote")
        from gwen.remote import RemoteStudio

        token = open(args.token_file).read().strip() if args.token_file else os.environ.get("GWEN_TOKEN")
        studio = RemoteStudio(remote_url, token)
    else:
        from gwen.studio import Studio

        # a served studio opens model files only inside $GWEN_HOME/models, whoever names them (gwen.boundary)
        studio = Studio(args.home, confine_models=args.command == "serve")
    if args.command == "serve":
        from gwen.service import serve

        serve(studio, args.host, args.port, args.token_file, api_docs=args.api_docs)
        return 0
    try:
        return _dispatch(studio, args)
    finally:
        studio.close()


def _models(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gwen.config import gwen_home
    from gwen.presets import MODEL_PRESETS
    from gwen.upscale import UPSCALER_PRESETS

    models_dir = gwen_home(args.home) / "models"
    if args.models_command == "make-tiny":
        from gwen.demo import build_tiny_sd
        from gwen.upscale import build_tiny_esrgan

        target = Path(args.dir)
        result = {"sd": str(build_tiny_sd(target / "tiny-sd").resolve()),
                  "esrgan": str(build_tiny_esrgan(target / "tiny-esrgan-x4.pth", 4).resolve()),
                  "esrgan_x2": str(build_tiny_esrgan(target / "tiny-esrgan-x2.pth", 2).resolve())}
        print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
        return 0
    if args.models_command == "download":
        if args.name in UPSCALER_PRESETS:
            from gwen.upscale import resolve_upscaler
            path = str(resolve_upscaler(args.name, models_dir))
        elif args.name in MODEL_PRESETS and MODEL_PRESETS[args.name].ref != "tiny":
            path = _download_pipeline(MODEL_PRESETS[args.name].ref)
        else:
            raise InvalidInput(f"model {args.name!r}: not a downloadable preset; choose one of "
                               f"{', '.join([*UPSCALER_PRESETS, *(n for n in MODEL_PRESETS if n != 'tiny')])}")
        print(json.dumps({"name": args.name, "path": path}) if args.json else f"{args.name}: {path}")
        return 0
    diffusion = [{**p.__dict__, "kind": "diffusion"} for p in MODEL_PRESETS.values()]
    upscalers = [{**p.__dict__, "kind": "upscaler", "downloaded": (models_dir / p.filename).exists()}
                 for p in UPSCALER_PRESETS.values()]
    if args.json:
        print(json.dumps({"presets": diffusion, "upscalers": upscalers}))
    else:
        for p in MODEL_PRESETS.values():
            print(f"{p.name:13} {p.ref:45} {p.steps:>3} steps  cfg {p.guidance:<4g} {p.size}px  {p.label}")
        for u in upscalers:
            state = "downloaded" if u["downloaded"] else "downloads on first use"
            print(f"{u['name']:13} {u['filename']:45} x{u['scale']}  {state:22}  {u['label']}")
    return 0


def _download_pipeline(repo_id: str) -> str:
    from gwen.errors import ModelUnavailable

    try:
        from huggingface_hub import snapshot_download
        return snapshot_download(repo_id)
    except Exception as exc:  # offline, gated, ...
        raise ModelUnavailable(f"model {repo_id!r} could not be downloaded ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); on an offline machine copy a "
                               "Hugging Face cache here or point --model at a local folder") from None


def _dispatch(studio, args: argparse.Namespace) -> int:
    c = args.command
    progress = _Progress(enabled=sys.stderr.isatty())
    try:
        if c == "generate":
            width, height = args.size if args.size else (None, None)
            records = studio.generate(args.prompt, negative=args.negative, model=args.model, n=args.n,
                                      seed=args.seed, steps=args.steps, guidance=args.guidance, width=width,
                                      height=height, scheduler=args.scheduler, on_step=progress)
            _print_images(studio, records, args.json)
        elif c == "reroll":
            _print_images(studio, studio.reroll(args.id, args.n, args.seed, on_step=progress), args.json)
        elif c == "vary":
            records = studio.vary(args.id, strength=args.strength, modes=args.mode, n=args.n, prompt=args.prompt,
                                  locks=[x.strip() for x in args.lock.split(",") if x.strip()],
                                  guidance_range=_range(args.guidance_range, float, "guidance range"),
                                  steps_range=_range(args.steps_range, int, "steps range"),
                                  seed=args.seed, on_step=progress)
            _print_images(studio, records, args.json)
        elif c == "upscale":
            from gwen.upscale import parse_tile
            record = studio.upscale(args.source, model=args.model, scale=args.scale,
                                    tile=parse_tile(args.tile) if args.tile is not None else None,
                                    pre_shrink=args.pre_shrink)
            _print_images(studio, [record], args.json)
        else:
            return _dispatch_catalog(studio, args)
    finally:
        progress.close()
    return 0


def _dispatch_catalog(studio, args: argparse.Namespace) -> int:
    c = args.command
    if c == "show":
        record = studio.get(args.id)
        info = studio.infotext(record)
        if args.json:
            print(json.dumps({**record.to_dict(), "abs_path": studio.location_of(record), "infotext": info}))
        else:
            print(f"{record.id}  op={record.op}  parent={record.parent_id}  root={record.root_id}  "
                  f"rating={record.rating}  favorite={record.favorite}  tags={','.join(record.tags)}")
            print(studio.location_of(record))
            print(info)
        return 0
    if c == "verify":
        result = studio.verify(args.id)
        if args.json:
            print(json.dumps({**result.__dict__, "identical": result.identical}))
        else:
            print(f"{result.image_id}: max pixel difference {result.max_diff}/255 (mean {result.mean_diff:.4f}), "
                  f"re-rendered in a batch of {result.batch_size}: {'identical' if result.identical else 'DIFFERS'}")
        return 0 if result.identical else 1
    if c == "search":
        records, total = studio.search(_query(args))
        _print_images(studio, records, args.json, total)
        return 0
    if c in ("rate", "favorite", "tag", "delete", "restore"):
        if c == "rate":
            record = studio.rate(args.id, args.stars)
        elif c == "favorite":
            record = studio.favorite(args.id, not args.off)
        elif c == "tag":
            record = studio.tag(args.id, args.tags, remove=args.remove)
        else:
            record = getattr(studio, c)(args.id)
        _print_images(studio, [record], args.json)
        return 0
    if c == "diff":
        result = studio.compare(args.ids)
        if args.json:
            print(json.dumps({k: v for k, v in result.items() if k != "images"}))
        else:
            _print_differences(result)
        return 0
    if c == "lineage":
        tree = studio.lineage(args.id)
        if args.json:
            print(json.dumps(tree))
        else:
            for node in tree["nodes"]:
                mark = "→" if node["id"] == tree["image"] else " "
                print(f"{mark} {node['id']}  {node['op']:8} parent={node['parent_id'] or '-':26}  "
                      f"rating={node['rating']}")
        return 0
    if c == "import":
        result = studio.import_paths(args.paths)
        if args.json:
            print(json.dumps({"images": [_image_json(studio, r) for r in result["imported"]],
                              "skipped": result["skipped"]}))
        else:
            _print_images(studio, result["imported"], False)
            for s in result["skipped"]:
                print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
        return 0
    if c == "reindex":
        result = studio.reindex()
        print(json.dumps(result) if args.json else
              f"reindexed {result['images']} images ({result['marked']} with marks from the journal, "
              f"{len(result['skipped'])} files skipped) and {result['jobs']} queue jobs")
        torn = result["journal_lines_skipped"] + result["jobs_journal_lines_skipped"]
        if torn and not args.json:
            print(f"skipped {torn} torn or unreadable journal line(s) (a crash or a full disk mid-append); "
                  "the lines after them were kept", file=sys.stderr)
        return 0
    if c == "export":
        result = studio.export(_query(args, paged=False), args.target)
        print(json.dumps(result) if args.json else f"exported {result['images']} images to {result['path']}")
        return 0
    if c == "queue":
        return _queue(studio, args)
    if c == "batch":
        jobs = studio.queue_add(args.file, _batch_defaults(args))
        if not args.json:
            print(f"enqueued {len(jobs)} jobs", file=sys.stderr)
        return _queue_run(studio, until_empty=True, as_json=args.json, added=[j.id for j in jobs])
    if c == "stats":
        result = studio.stats()
        print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
        return 0
    raise InvalidInput(f"unknown command {c!r}")


def _print_differences(result: dict[str, Any]) -> None:
    ids = [i[-8:] for i in result["ids"]]
    rows = [[d["parameter"], *("-" if v is None else str(v) for v in d["values"])] for d in result["differences"]]
    widths = [max(len(r[k]) for r in [["setting", *ids], *rows]) for k in range(len(ids) + 1)]
    for row in [["setting", *ids], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not rows:
        print("no differences")
    print("the same in all: " + ", ".join(result["same"]), file=sys.stderr)


def _queue(studio, args: argparse.Namespace) -> int:
    q = args.queue_command
    if q == "add":
        jobs = studio.queue_add(args.file, _batch_defaults(args))
        if args.json:
            print(json.dumps({"jobs": [j.to_dict() for j in jobs], "count": len(jobs)}))
        else:
            print(f"enqueued {len(jobs)} jobs")
        return 0
    if q == "run":
        return _queue_run(studio, until_empty=args.until_empty, as_json=args.json)
    if q == "list":
        jobs = studio.queue_list(args.status)
        if args.json:
            print(json.dumps({"jobs": [j.to_dict() for j in jobs]}))
        else:
            for j in jobs:
                detail = j.error or (f"{len(j.image_ids)} images" if j.status == "done" else j.source or "")
                print(f"{j.id}  {j.kind:8} {j.status:9} attempts={j.attempts}/{j.max_attempts}  {detail}")
        return 0
    job = studio.queue_cancel(args.job) if q == "cancel" else studio.queue_retry(args.job)
    print(json.dumps(job.to_dict()) if args.json else f"{job.id}: {job.status}"
          + (" (cancel requested)" if job.cancel_requested and job.status == "running" else ""))
    return 0


def _queue_run(studio, until_empty: bool, as_json: bool, added: list[str] | None = None) -> int:
    from tqdm import tqdm

    runner = studio.queue_runner()
    bars: dict[str, Any] = {}
    show = sys.stderr.isatty() and not as_json

    def on_job(job, index: int, total: int) -> None:
        print(f"started job {job.id} ({job.kind}, attempt {job.attempts})", file=sys.stderr, flush=True)
        if show:
            bars.setdefault("jobs", tqdm(total=total, desc="jobs", position=0, file=sys.stderr, unit="job"))
            bars["jobs"].total = total
            bars["jobs"].n = index - 1
            bars["jobs"].refresh()

    def on_step(done: int, total: int) -> None:
        if show:
            bar = bars.get("steps")
            if bar is None or bar.total != total or done < bar.n:
                if bar is not None:
                    bar.close()
                bar = bars["steps"] = tqdm(total=total, desc="steps", position=1, leave=False, file=sys.stderr)
            bar.n = done
            bar.refresh()
    try:
        summary = runner.run(until_empty=until_empty, on_job=on_job, on_step=on_step)
    except KeyboardInterrupt:
        runner.stop_event.set()
        raise
    finally:
        for bar in bars.values():
            bar.close()
    counts = studio.jobs.counts()
    if as_json:
        print(json.dumps({"summary": summary.to_dict(), "counts": counts, **({"added": added} if added else {})}))
    else:
        print(f"done {summary.done}, failed {summary.failed}, cancelled {summary.cancelled}, "
              f"retried {summary.retried}, recovered {summary.recovered}; queue: {counts}")
    return 0


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
