//! Benchmark tools run by `scripts/bench-e2e` (not part of any service). Each binary in
//! `src/bin/` measures one thing and prints one JSON object on stdout:
//! - `js-ceiling`: plain JetStream publish rate on the same server, the pipeline's ceiling;
//! - `sink-alone`: the sink's store writing articles with no processor in front;
//! - `decision-cost`: the processor's decision cost and memory per remembered article at
//!   several window sizes;
//! - `store-read` (run by `scripts/bench-store`): search-enabled PostgreSQL ingest against a
//!   same-run `COPY`, and search latency over 200,000 articles on both stores.
