"""The command line's grammar: ``python -m gwen [--home DIR] [--remote URL] COMMAND ...``.

Contract: ``build_parser()`` returns the argparse parser; a usage error exits 2 with argparse's usage line. Every
command that prints takes ``--json``.
"""

from __future__ import annotations

import argparse
import sys


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size={text!r}: write it as WIDTHxHEIGHT, e.g. 512x512") from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m gwen", description="GWEN: generate, pick, vary, upscale, catalog.")
    parser.add_argument("--home", help="data folder (default: $GWEN_HOME or ./data)")
    parser.add_argument("--remote", metavar="URL", help="drive a `gwen serve` service instead (or GWEN_REMOTE_URL "
                        "with GWEN_BACKEND=remote); the token comes from --token-file or GWEN_TOKEN")
    parser.add_argument("--token-file", help="file holding the bearer token (serve: required off loopback)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def cmd(name: str, help_: str, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        return p
    _render_commands(cmd)
    from gwen.cli.edits import add_edit_commands

    add_edit_commands(cmd)  # vary-region, pan, zoom
    from gwen.cli.styles import add_style_commands

    add_style_commands(cmd)
    _library_commands(cmd)
    _queue_commands(cmd)
    _model_commands(cmd)
    _serve_command(cmd)
    return parser


def _render_commands(cmd) -> None:
    g = cmd("generate", "a grid of N images, one seed each (seed, seed+1, ...)")
    g.add_argument("prompt")
    g.add_argument("--negative", default="")
    g.add_argument("--model", help="preset name, Hugging Face id, diffusers folder or .safetensors/.ckpt file")
    g.add_argument("--n", type=int, default=4)
    g.add_argument("--seed", type=int)
    g.add_argument("--steps", type=int)
    g.add_argument("--guidance", type=float)
    g.add_argument("--size", type=size)
    g.add_argument("--scheduler")
    g.add_argument("--style", action="append", default=[], dest="styles", metavar="NAME",
                   help="apply this prompt style (repeatable, in order; `gwen styles` lists them)")
    g.add_argument("--variation", action="append", default=[], metavar="SEED:STRENGTH",
                   help="a noise variation of the seed's noise (repeatable: a chain, as `use` prints it)")
    g.add_argument("--init", metavar="ID", help="img2img: start from this catalog image (needs --denoise)")
    g.add_argument("--denoise", type=float, help="img2img: how much of the init image is re-noised, (0, 1]")
    u = cmd("use", "an image's settings as the command that re-creates it (generate; for an edit: vary-region, "
            "pan or zoom), or --run it")
    u.add_argument("id")
    u.add_argument("--run", action="store_true", help="run that command now (a new image, same settings)")
    r = cmd("reroll", "same settings, new seeds")
    r.add_argument("id")
    r.add_argument("--n", type=int, default=4)
    r.add_argument("--seed", type=int, help="seed of the seed sampler (reproducible reroll)")
    v = cmd("vary", "variations around an image")
    v.add_argument("id")
    v.add_argument("--strength", default="subtle",
                   help="subtle, strong, low, moderate, high, very-high, or a number from 0 to 1")
    v.add_argument("--mode", default="mix", help="noise, img2img, jitter or mix (noise+jitter); comma-separated")
    v.add_argument("--lock", default="", help="parameters to keep: guidance,steps,scheduler,denoise")
    v.add_argument("--guidance-range", help="LO:HI bounds for jittered guidance")
    v.add_argument("--steps-range", help="LO:HI bounds for jittered steps")
    v.add_argument("--denoise-range", help="LO:HI bounds (within 0:1) for a jittered img2img denoise")
    v.add_argument("--schedulers", help='the schedulers a jitter may pick, comma-separated: "Euler a,DPM++ 2M Karras"')
    v.add_argument("--taste", help="0 to 1: lean the jitter toward what your ratings and favorites like (default 0)")
    v.add_argument("--prompt", help="remix: a new prompt for the children")
    v.add_argument("--n", type=int, default=4)
    v.add_argument("--seed", type=int, help="seed of the variation sampler (reproducible children)")
    v.add_argument("--dry-run", action="store_true", help="print the sampled children's settings; render nothing")
    up = cmd("upscale", "upscale a catalog image (or an image file, imported first) with Real-ESRGAN")
    up.add_argument("source", help="image id, or a path to an image file")
    up.add_argument("--model", help="x4plus, x2plus, general-x4v3, tiny (offline demo), or a .pth/.safetensors file "
                    "(default: GWEN_UPSCALER, else settings.toml, else x4plus)")
    up.add_argument("--scale", type=float, help="final scale (default: the model's)")
    up.add_argument("--tile", help="tile side in input pixels (>= 32; default 256 on CPU, 512 on CUDA)")
    up.add_argument("--pre-shrink", type=float, default=1.0, help="shrink the input by this factor first (0-1]")
    ver = cmd("verify", "re-render an image from its record (writes nothing) and compare pixels")
    ver.add_argument("id")


def _library_commands(cmd) -> None:
    cmd("show", "an image's record and A1111 infotext").add_argument("id")
    se = cmd("search", "search the catalog")
    add_filters(se)
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
    cmd("delete", "hide an image (soft delete; restore brings it back)").add_argument("id")
    cmd("restore", "undo a delete").add_argument("id")
    cmd("diff", "compare 2 to 4 images: the settings that differ").add_argument("ids", nargs="+", metavar="ID")
    cmd("lineage", "ancestors and descendants of an image").add_argument("id")
    cmd("import", "import images (PNG, JPEG, WebP; the parameters of A1111/Forge, ComfyUI, "
        "InvokeAI 2-5, Fooocus, NovelAI and GWEN are read)").add_argument("paths", nargs="+")
    cmd("reindex", "rebuild the catalog from the image files and the journals")
    ex = cmd("export", "export matching images (.zip) or their parameters (.parquet, .csv)")
    add_filters(ex)
    ex.add_argument("--to", required=True, dest="target")
    st = cmd("stats", "catalog statistics; with --by, the mean rating per band (what you like)")
    st.add_argument("--by", choices=["guidance", "steps", "scheduler", "model", "style"],
                    help="group the rated images that the filters select")
    add_filters(st)


def _queue_commands(cmd) -> None:
    queue = cmd("queue", "persistent job queue", json_flag=False)
    qsub = queue.add_subparsers(dest="queue_command", required=True, parser_class=Parser)
    add_batch_flags(qsub.add_parser("add", help="enqueue the jobs of a batch file (.txt prompts, .json, .jsonl, "
                                    ".toml)"))
    qrun = qsub.add_parser("run", help="run pending jobs (one runner per data folder; on --remote, the server's)")
    qrun.add_argument("--until-empty", action="store_true", help="stop when no job is pending (default: keep polling)")
    qrun.add_argument("--json", action="store_true")
    qlist = qsub.add_parser("list", help="list jobs")
    qlist.add_argument("--status", help="pending, running, done, failed or cancelled")
    qlist.add_argument("--json", action="store_true")
    for name, help_ in (("cancel", "cancel a pending (or stop a running) job"), ("retry", "re-queue a failed job")):
        q = qsub.add_parser(name, help=help_)
        q.add_argument("job")
        q.add_argument("--json", action="store_true")
    add_batch_flags(cmd("batch", "enqueue a batch file and run the queue until it is empty", json_flag=False))


def _model_commands(cmd) -> None:
    models = cmd("models", "manage models", json_flag=False)
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=Parser)
    tiny = msub.add_parser("make-tiny", help="write the tiny random-weight models into DIR")
    tiny.add_argument("dir")
    tiny.add_argument("--json", action="store_true")
    mlist = msub.add_parser("list", help="list model presets (diffusion and upscalers) and what is downloaded")
    mlist.add_argument("--json", action="store_true")
    mdl = msub.add_parser("download", help="download a preset now (upscaler file or Hugging Face pipeline)")
    mdl.add_argument("name")
    mdl.add_argument("--json", action="store_true")


def _serve_command(cmd) -> None:
    sv = cmd("serve", "serve the facade over HTTP (FastAPI); needs the full install", json_flag=False)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8765)
    sv.add_argument("--token-file", default=argparse.SUPPRESS, help="file holding the bearer token")
    sv.add_argument("--api-docs", action="store_true", help="serve /docs, /redoc and /openapi.json (behind the token)")
    pool = sv.add_argument_group("render replicas (Ray Serve; pip install -r requirements-scale.txt)")
    pool.add_argument("--replicas", type=int, help="render on N Ray Serve replicas (each loads the model once)")
    pool.add_argument("--ray-address", help="join this Ray cluster ('auto' finds a `ray start` one); default: "
                      "start Ray on this machine")
    pool.add_argument("--replica-gpus", type=float, help="GPUs per replica (default: 1 when CUDA is here, else 0)")
    pool.add_argument("--replica-cpus", type=float, default=1.0, help="CPUs per replica (default 1)")
    pool.add_argument("--min-replicas", type=int, help="autoscale between --min-replicas and --max-replicas")
    pool.add_argument("--max-replicas", type=int, help="autoscale between --min-replicas and --max-replicas")
    pool.add_argument("--chunk-size", type=int, help="images per pipeline call on a replica (default: "
                      "GWEN_MAX_BATCH, else 4); a grid is split into calls of this size")


def add_batch_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")
    p.add_argument("--n", type=int, help="images per prompt (default 4)")
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--size", type=size)
    p.add_argument("--model")
    p.add_argument("--seed", type=int)
    p.add_argument("--scheduler")
    p.add_argument("--negative")
    p.add_argument("--style", action="append", dest="styles", metavar="NAME", help="a prompt style (repeatable)")
    p.add_argument("--json", action="store_true")


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", help="words that must appear in the prompt or negative prompt")
    p.add_argument("--filter", action="append", default=[], help="FIELD OP VALUE, e.g. 'guidance>=5' (repeatable)")
    p.add_argument("--model")
    p.add_argument("--op")
    p.add_argument("--min-rating", type=int)
    p.add_argument("--favorite", action="store_true")
    p.add_argument("--tag", action="append", default=[])
    p.add_argument("--style", action="append", default=[], help="made with this prompt style (repeatable: all)")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--deleted", action="store_true", help="show deleted images only")
