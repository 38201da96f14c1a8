-- Deferred search indexing (`[sink] search_indexing = "deferred"`): the sink stores a row with
-- `search_version = 0` (its terms not built yet; a revised row keeps its previous terms), and
-- the sink's search indexer builds them after the commit, oldest first. This index is that
-- queue: the indexer reads its head, and `newswire_sink_search_lag_seconds` is the head's age.
-- It holds only the rows waiting, so it stays small.
CREATE INDEX articles_search_queue ON articles (stored_at) WHERE search_version = 0;
