-- newswire article store, SQLite. Applied idempotently at start-up.
CREATE TABLE IF NOT EXISTS articles (
    id            TEXT PRIMARY KEY,
    canonical_url TEXT,
    source_id     TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    language      TEXT NOT NULL,
    category      TEXT NOT NULL,
    published_at  TEXT,
    fetched_at    TEXT NOT NULL,
    processed_at  TEXT NOT NULL,
    stored_at     TEXT NOT NULL,
    story_id      TEXT,
    duplicate_of  TEXT,
    content_hash  TEXT NOT NULL,
    -- The rest of the Article (entities, keywords, summary, ...) as JSON, without title and
    -- body so that the text is stored once.
    meta          TEXT NOT NULL
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
    body          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    meta          TEXT NOT NULL,
    archived_at   TEXT NOT NULL,
    PRIMARY KEY (id, revision)
);
