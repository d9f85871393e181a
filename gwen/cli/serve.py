"""``python -m gwen serve``: the service, over a local studio or (``--replicas N``) a Ray Serve pool."""

from __future__ import annotations

import argparse

from gwen.errors import InvalidInput


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
    from gwen.scale import PoolConfig, start_pool

    config = PoolConfig.from_flags(args.replicas, args.ray_address, args.replica_gpus, args.replica_cpus,
                                   args.min_replicas, args.max_replicas, args.chunk_size)
    pool, studio = start_pool(args.home, config)
    try:
        serve(studio, args.host, args.port, getattr(args, "token_file", None), api_docs=args.api_docs,
              health=pool.health)
    finally:
        pool.stop()
    return 0
