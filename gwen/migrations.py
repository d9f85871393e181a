"""Named, append-only schema migrations for the DuckDB catalog.

Contract:
- ``MIGRATIONS`` is an ordered list of ``(name, sql statements)``. A
  migration, once released, is never edited or removed: schema changes are
  new entries at the end.
- ``migrate(con)`` applies, in order and each in its own transaction, every
  migration whose name is not yet in ``gwen_migrations``, records it, and
  returns the names it applied. Running it twice applies nothing the second
  time.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, list[str]]] = [
    ("0001_images", [
        """
        CREATE TABLE images (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL,
            path VARCHAR NOT NULL,
            width INTEGER,
            height INTEGER,
            op VARCHAR NOT NULL,
            parent_id VARCHAR,
            root_id VARCHAR NOT NULL,
            prompt VARCHAR,
            negative_prompt VARCHAR,
            model VARCHAR,
            model_hash VARCHAR,
            scheduler VARCHAR,
            steps INTEGER,
            guidance DOUBLE,
            seed BIGINT,
            variation_seed BIGINT,
            variation_strength DOUBLE,
            init_image_id VARCHAR,
            denoise DOUBLE,
            params_json VARCHAR NOT NULL,
            params_hash VARCHAR NOT NULL,
            variation_json VARCHAR,
            batch_id VARCHAR,
            batch_index INTEGER,
            batch_size INTEGER,
            rating TINYINT NOT NULL DEFAULT 0,
            favorite BOOLEAN NOT NULL DEFAULT false,
            tags VARCHAR[] NOT NULL DEFAULT [],
            deleted BOOLEAN NOT NULL DEFAULT false,
            duration_ms DOUBLE,
            device VARCHAR,
            dtype VARCHAR,
            versions_json VARCHAR,
            file_sha256 VARCHAR,
            import_source VARCHAR
        )
        """,
    ]),
    ("0002_image_indexes", [
        "CREATE INDEX images_parent ON images (parent_id)",
        "CREATE INDEX images_root ON images (root_id)",
        "CREATE INDEX images_created ON images (created_at)",
        "CREATE INDEX images_sha ON images (file_sha256)",
    ]),
    ("0003_upscale_columns", [
        "ALTER TABLE images ADD COLUMN upscaler VARCHAR",
        "ALTER TABLE images ADD COLUMN upscale_scale DOUBLE",
    ]),
    ("0004_jobs", [
        """
        CREATE TABLE jobs (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            kind VARCHAR NOT NULL,
            spec_json VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL DEFAULT 3,
            cancel_requested BOOLEAN NOT NULL DEFAULT false,
            error VARCHAR,
            image_ids VARCHAR[] NOT NULL DEFAULT [],
            parent_job_id VARCHAR,
            source VARCHAR
        )
        """,
        "CREATE INDEX jobs_status ON jobs (status)",
    ]),
    ("0005_worker", [
        "ALTER TABLE images ADD COLUMN worker VARCHAR",
    ]),
]


def migrate(con) -> list[str]:
    con.execute("CREATE TABLE IF NOT EXISTS gwen_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    applied = {row[0] for row in con.execute("SELECT name FROM gwen_migrations").fetchall()}
    done = []
    for name, statements in MIGRATIONS:
        if name in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for sql in statements:
                con.execute(sql)
            con.execute("INSERT INTO gwen_migrations VALUES (?, now())", [name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        done.append(name)
    return done
