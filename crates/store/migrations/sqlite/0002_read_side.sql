-- The read side: the search index, stories (with the outbox of story events) and the indexes
-- the lists need. Rows stored before this migration have `search_version` NULL: the store
-- indexes them, and builds their stories, when it opens (search terms are built in Rust).

-- An article's time: published, else fetched (both RFC 3339 UTC with milliseconds, so text
-- order is time order). Lists sort and page on (sort_at, id).
ALTER TABLE articles ADD COLUMN sort_at TEXT GENERATED ALWAYS AS (coalesce(published_at, fetched_at)) VIRTUAL;
ALTER TABLE articles ADD COLUMN search_version INTEGER;
CREATE INDEX articles_unindexed ON articles (id) WHERE search_version IS NULL;

-- Search terms built by the sink (src/search.rs), one column per class: exact forms of the
-- strong fields (title, keywords, entities) and of the weak ones (summary, body lead), and
-- the skeletons of each. Contentless: the terms are kept only in the index; rowid is the
-- article row's. The ascii tokenizer splits on ASCII spaces and punctuation only, so that
-- every term (already in matching form) is one token whatever its script.
CREATE VIRTUAL TABLE articles_fts USING fts5(
    exact_strong, exact_weak, skeleton_strong, skeleton_weak,
    content = '', contentless_delete = 1, tokenize = 'ascii'
);

DROP INDEX IF EXISTS articles_published_at;
DROP INDEX IF EXISTS articles_source_id;
DROP INDEX IF EXISTS articles_story_id;
CREATE INDEX articles_sort ON articles (sort_at DESC, id DESC);
CREATE INDEX articles_language_sort ON articles (language, sort_at DESC, id DESC);
CREATE INDEX articles_source_sort ON articles (source_id, sort_at DESC, id DESC);
CREATE INDEX articles_story_sort ON articles (story_id, sort_at, id);

CREATE TABLE stories (
    id                TEXT PRIMARY KEY,
    language          TEXT NOT NULL,
    title             TEXT NOT NULL,
    first_outlet      TEXT NOT NULL,
    first_article     TEXT NOT NULL,
    first_seen        TEXT NOT NULL,
    last_seen         TEXT NOT NULL,
    article_count     INTEGER NOT NULL,
    -- [[source, first seen, first article], ...] in first-seen order.
    outlets           TEXT NOT NULL,
    version           INTEGER NOT NULL,
    published_version INTEGER NOT NULL,
    change_kind       TEXT NOT NULL,
    changed_at        TEXT NOT NULL
);
CREATE INDEX stories_last_seen ON stories (last_seen DESC, id DESC);
CREATE INDEX stories_pending ON stories (changed_at, id) WHERE version > published_version;
