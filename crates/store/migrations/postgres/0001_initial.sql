-- newswire article store, PostgreSQL. Applied idempotently at start-up.
CREATE TABLE IF NOT EXISTS articles (
    id            TEXT PRIMARY KEY,
    canonical_url TEXT,
    source_id     TEXT NOT NULL,
    title         TEXT NOT NULL,
    -- lz4 compresses Arabic text about as well as pglz at twice the ingest rate (MEASUREMENTS.md).
    body          TEXT COMPRESSION lz4 NOT NULL,
    language      TEXT NOT NULL,
    category      TEXT NOT NULL,
    published_at  TIMESTAMPTZ,
    fetched_at    TIMESTAMPTZ NOT NULL,
    processed_at  TIMESTAMPTZ NOT NULL,
    stored_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    story_id      TEXT,
    duplicate_of  TEXT,
    content_hash  TEXT NOT NULL,
    -- The rest of the Article as JSON, without title and body (the text is stored once).
    meta          JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_published_at ON articles (published_at);
CREATE INDEX IF NOT EXISTS articles_source_id ON articles (source_id, published_at);
CREATE INDEX IF NOT EXISTS articles_story_id ON articles (story_id);
-- Earlier versions of revised articles (a correction replaces the row above; the version it
-- replaced is kept here). `revision` is the number of the archived version (0: the first).
CREATE TABLE IF NOT EXISTS article_revisions (
    id            TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT COMPRESSION lz4 NOT NULL,
    content_hash  TEXT NOT NULL,
    meta          JSONB NOT NULL,
    archived_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (id, revision)
);
