-- The read side: the search index, stories (with the outbox of story events) and the indexes
-- the lists need. Rows stored before this migration have `search_version` NULL: the store
-- indexes them, and builds their stories, when it opens (search terms are built in Rust).

-- An article's time: published, else fetched. Lists sort and page on (sort_at, id).
ALTER TABLE articles
    ADD COLUMN sort_at TIMESTAMPTZ GENERATED ALWAYS AS (coalesce(published_at, fetched_at)) STORED;

-- Search terms built by the sink (src/search.rs), weights A-D: exact strong, exact weak,
-- skeleton strong, skeleton weak. No text analysis runs in the database on insert.
ALTER TABLE articles ADD COLUMN search TSVECTOR;
ALTER TABLE articles ADD COLUMN search_version INTEGER;
CREATE INDEX articles_search ON articles USING gin (search);
CREATE INDEX articles_unindexed ON articles (id) WHERE search_version IS NULL;

-- Keyset pagination, newest first, alone and under the selective filters. The old indexes
-- on published_at are replaced: no query orders by published_at alone any more.
DROP INDEX IF EXISTS articles_published_at;
DROP INDEX IF EXISTS articles_source_id;
DROP INDEX IF EXISTS articles_story_id;
CREATE INDEX articles_sort ON articles (sort_at DESC, id DESC);
CREATE INDEX articles_language_sort ON articles (language, sort_at DESC, id DESC);
CREATE INDEX articles_source_sort ON articles (source_id, sort_at DESC, id DESC);
CREATE INDEX articles_story_sort ON articles (story_id, sort_at, id);

-- One row per story: the aggregate of its articles (copies included), kept by the upsert.
CREATE TABLE stories (
    id                TEXT PRIMARY KEY,
    language          TEXT NOT NULL,
    title             TEXT NOT NULL,
    first_outlet      TEXT NOT NULL,
    first_article     TEXT NOT NULL,
    first_seen        TIMESTAMPTZ NOT NULL,
    last_seen         TIMESTAMPTZ NOT NULL,
    article_count     BIGINT NOT NULL,
    -- [[source, first seen, first article], ...] in first-seen order.
    outlets           JSONB NOT NULL,
    -- The outbox: a change (created, new outlet) bumps version; the event publisher sets
    -- published_version. change_kind is the kind of the pending change.
    version           BIGINT NOT NULL,
    published_version BIGINT NOT NULL,
    change_kind       TEXT NOT NULL,
    changed_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX stories_last_seen ON stories (last_seen DESC, id DESC);
CREATE INDEX stories_pending ON stories (changed_at, id) WHERE version > published_version;
