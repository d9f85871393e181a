"""``python -m gwen serve``: the service, over a local studio or (``--replicas N``) a Ray Serve pool."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from gwen.errors import InvalidInput

STOP_SECONDS = 20.0


def run_serve(args: argparse.Namespace) -> int:
    from gwen.service import serve
    from gwen.studio import Studio

    pool_flags = [args.ray_address, args.replica_gpus, args.min_replicas, args.max_replicas, args.chunk_size]
    if args.replicas is None and any(flag is not None for flag in pool_flags):
        raise InvalidInput("--ray-address, --replica-gpus, --min-replicas, --max-replicas and --chunk-size need "
                           "--replicas N")
    if args.replicas is None:
        # a served studio opens model files only inside $GWEN_HOME/models, whoever names them (gwen.boundary)
        studio = Studio(args.home, confine_models=True)
        serve(studio, args.host, args.port, getattr(args, "token_file", None), api_docs=args.api_docs)
        return 0
    from gwen.config import gwen_home
    from gwen.scale import PoolConfig, start_pool
    from gwen.service import load_token

    config = PoolConfig.from_flags(args.replicas, args.ray_address, args.replica_gpus, args.replica_cpus,
                                   args.min_replicas, args.max_replicas, args.chunk_size)
    load_token(gwen_home(args.home), args.host, getattr(args, "token_file", None))  # refused before Ray starts
    started = time.monotonic()
    print(f"starting {config.describe()} ...", file=sys.stderr, flush=True)
    pool, studio = start_pool(args.home, config)
    print(f"render replicas running after {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    try:
        serve(studio, args.host, args.port, getattr(args, "token_file", None), api_docs=args.api_docs,
              health=pool.health)
    finally:
        stop_within(pool, STOP_SECONDS)
    return 0


def stop_within(pool, seconds: float) -> None:
    """Stop the replicas and Ray, or give up after ``seconds``: a SIGTERM sent to the whole process group (systemd,
    ``timeout``) also stops Ray's own processes, and then Ray's shutdown waits for them forever. Giving up means
    leaving at once (``os._exit``): Ray's processes share this one's fate and go with it."""
    done = threading.Event()

    def work() -> None:
        try:
            pool.stop()
        finally:
            done.set()
    threading.Thread(target=work, name="gwen-pool-stop", daemon=True).start()
    if not done.wait(seconds):
        print(f"Ray did not shut down within {seconds:g} s (its processes were stopped already?): exiting",
              file=sys.stderr, flush=True)
        from gwen.pending_rows import flush_all

        flush_all()  # os._exit skips atexit: commit the rows of the last calls first
        os._exit(0)
