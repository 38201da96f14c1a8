//! Faults in the running pipeline, with the real service binaries as child processes (so a
//! kill -9 is a real SIGKILL of a real process): each stage killed mid-stream, nats-server
//! killed and restarted on its store, PostgreSQL restarted and PostgreSQL stopped for five
//! minutes, and a feed host that accepts connections and never answers.
//!
//! Each test streams a feed farm (several feeds growing an entry at a time, distinct generated
//! text, an exact copy of every tenth article on a copier feed), injects its fault while some
//! rows are stored and others still to come, recovers, and ends with exactly the expected rows:
//! the same set of ids, each once, no article stored twice as a revision of itself, every copy
//! group with one canonical member, nothing dead-lettered and no message that ran out of
//! deliveries.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use newswire_model::{ArticleId, CanonicalUrl};
use newswire_store::{ArticleStore, SinkSettings, Store};
use newswire_testkit::seeds::{Seed, rss};
use newswire_testkit::{FeedServer, PgServer, Route, TestNats, scrape_metric};
use tokio::task::JoinHandle;

use crate::services::{Running, free_addr, log_tail};

/// Redelivery after 3 s: quick recovery from a kill, yet well above a loaded machine's batch
/// time, so that no message is redelivered while a live stage still works on it.
const ACK_WAIT_SECS: u64 = 3;

// ---------------------------------------------------------------------------------------------
// The feed farm

/// A deterministic generator (SplitMix64), so that every run serves the same farm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ren", "tas", "vo", "dul", "sen", "par", "qui", "zo", "bel", "nor", "fa", "gi", "hu",
    "jen", "wex", "yo", "cra", "dro", "ple", "sti", "tur",
];
const FUNCTION_WORDS: [&str; 10] = ["the", "of", "and", "to", "in", "said", "on", "for", "with", "after"];

/// One sentence: English function words (so that language detection has something to go by)
/// between made-up content words of two or three syllables (24² + 24³ of them), so that two
/// articles share hardly a word 3-shingle: no two are near-duplicates unless meant to be.
fn sentence(rng: &mut Rng) -> String {
    let words: Vec<String> = (0..10 + rng.below(7))
        .map(|_| {
            if rng.below(4) == 0 {
                FUNCTION_WORDS[rng.below(FUNCTION_WORDS.len())].to_owned()
            } else {
                (0..2 + rng.below(2)).map(|_| SYLLABLES[rng.below(SYLLABLES.len())]).collect()
            }
        })
        .collect();
    let mut s = words.join(" ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s + "."
}

/// Article `i` of feed `feed`: a title and three paragraphs (~850 characters, well above the
/// teaser length, and the feeds say `full_text = "never"` anyway: no page is fetched).
fn article(feed: usize, i: usize) -> Seed {
    let mut rng = Rng(((feed as u64) << 32) | i as u64);
    let paragraphs =
        (0..3).map(|_| (0..3).map(|_| sentence(&mut rng)).collect::<Vec<_>>().join(" ")).collect();
    let minute = feed * 100 + i;
    Seed {
        stem: format!("w{feed}-{i}"),
        title: format!("{} report {i} of wire {feed}", sentence(&mut rng).trim_end_matches('.')),
        paragraphs,
        link: format!("https://wire{feed}.example/news/{i}"),
        published: format!("2025-03-01T{:02}:{:02}:00Z", minute / 60 % 24, minute % 60),
    }
}

fn id_of(link: &str) -> String {
    ArticleId::from_url(&CanonicalUrl::parse(link, None).expect("farm link")).to_string()
}

/// Feeds on a local server that grow one entry per feed at each step, as a live news stream
/// does, so that a fault can land while part of the stream is stored and part still to come.
#[derive(Clone)]
struct Farm {
    server: FeedServer,
    /// Per feed, its entries in publication order.
    feeds: Arc<Vec<Vec<Seed>>>,
    /// Exact copies on the copier feed (another link, same text, a day later): (original's
    /// feed, original's index, the copy). Released a few steps after their original.
    copies: Arc<Vec<(usize, usize, Seed)>>,
    /// Entries released per feed so far.
    step: Arc<AtomicUsize>,
    /// When each step was released.
    released_at: Arc<Mutex<Vec<Instant>>>,
}

/// Steps between an original's release and its copy's.
const COPY_LAG: usize = 3;

impl Farm {
    /// `feeds` feeds of `per_feed` entries; with `copy_every`, entries `0, n, 2n …` of each
    /// feed have an exact copy on `/copier.rss`.
    async fn new(feeds: usize, per_feed: usize, copy_every: Option<usize>) -> Self {
        let server = FeedServer::start().await;
        let all: Vec<Vec<Seed>> =
            (0..feeds).map(|f| (0..per_feed).map(|i| article(f, i)).collect()).collect();
        let mut copies = Vec::new();
        if let Some(n) = copy_every {
            assert!((per_feed - 1) / n * n + COPY_LAG < per_feed, "every copy is released before the end");
            for (f, entries) in all.iter().enumerate() {
                for (i, original) in entries.iter().enumerate().filter(|(i, _)| i % n == 0) {
                    let mut c = original.clone();
                    c.stem = format!("copy-{f}-{i}");
                    c.link = format!("https://copier.example/copy/{f}/{i}");
                    c.published = c.published.replace("2025-03-01", "2025-03-02");
                    copies.push((f, i, c));
                }
            }
        }
        let farm = Self {
            server,
            feeds: Arc::new(all),
            copies: Arc::new(copies),
            step: Arc::new(AtomicUsize::new(0)),
            released_at: Arc::new(Mutex::new(Vec::new())),
        };
        farm.release(1);
        farm
    }

    fn per_feed(&self) -> usize {
        self.feeds[0].len()
    }

    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = (0..self.feeds.len()).map(|f| format!("/wire{f}.rss")).collect();
        if !self.copies.is_empty() {
            paths.push("/copier.rss".to_owned());
        }
        paths
    }

    /// `[[feed]]` entries for the farm's feeds, polled every second.
    fn feeds_toml(&self) -> String {
        self.paths()
            .iter()
            .map(|path| {
                let id = path.trim_start_matches('/').trim_end_matches(".rss");
                format!(
                    "[[feed]]\nid = \"{id}\"\nurl = \"{}\"\npoll_interval_secs = 1\nfull_text = \"never\"\ncategory = \"world\"\n\n",
                    self.server.url(path)
                )
            })
            .collect()
    }

    /// Serves the first `k` entries of every feed (newest first, as feeds list them) and the
    /// copies due by then.
    fn release(&self, k: usize) {
        for (f, entries) in self.feeds.iter().enumerate() {
            let mut shown: Vec<Seed> = entries[..k.min(entries.len())].to_vec();
            shown.reverse();
            self.server.set(&format!("/wire{f}.rss"), Route::body("application/rss+xml", rss(&shown)));
        }
        if !self.copies.is_empty() {
            let mut due: Vec<Seed> =
                self.copies.iter().filter(|(_, i, _)| i + COPY_LAG < k).map(|(_, _, c)| c.clone()).collect();
            due.reverse();
            self.server.set("/copier.rss", Route::body("application/rss+xml", rss(&due)));
        }
        self.step.store(k, Ordering::SeqCst);
        let mut at = self.released_at.lock().unwrap();
        at.resize(k + 1, Instant::now());
    }

    fn step(&self) -> usize {
        self.step.load(Ordering::SeqCst)
    }

    /// Releases a step every `tick` until `until` entries per feed are out.
    fn stream_to(&self, until: usize, tick: Duration) -> JoinHandle<()> {
        let farm = self.clone();
        tokio::spawn(async move {
            while farm.step() < until {
                tokio::time::sleep(tick).await;
                farm.release(farm.step() + 1);
            }
        })
    }

    /// Waits until at least `k` entries per feed are out.
    async fn wait_step(&self, k: usize) {
        eventually(Duration::from_secs(60), &format!("the farm to release step {k}"), || async {
            if self.step() >= k { Ok(()) } else { Err(format!("at step {}", self.step())) }
        })
        .await;
    }

    /// Every article the store must end with: id → link.
    fn expected(&self) -> BTreeMap<String, String> {
        let originals = self.feeds.iter().flatten().map(|s| &s.link);
        let copies = self.copies.iter().map(|(_, _, c)| &c.link);
        originals.chain(copies).map(|l| (id_of(l), l.clone())).collect()
    }

    /// Each original with a copy, with it: ids.
    fn groups(&self) -> Vec<[String; 2]> {
        self.copies.iter().map(|(f, i, c)| [id_of(&self.feeds[*f][*i].link), id_of(&c.link)]).collect()
    }

    /// The step at which each original is released: id → step.
    fn release_steps(&self) -> BTreeMap<String, usize> {
        self.feeds
            .iter()
            .flat_map(|entries| entries.iter().enumerate().map(|(i, s)| (id_of(&s.link), i + 1)))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline of binaries

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StageName {
    Fetcher,
    Processor,
    Sink,
}

impl StageName {
    fn binary(self) -> &'static str {
        match self {
            StageName::Fetcher => "newswire-fetcher",
            StageName::Processor => "newswire-processor",
            StageName::Sink => "newswire-sink",
        }
    }

    fn admin_key(self) -> &'static str {
        match self {
            StageName::Fetcher => "NEWSWIRE_FETCHER__ADMIN_LISTEN",
            StageName::Processor => "NEWSWIRE_PROCESSOR__ADMIN_LISTEN",
            StageName::Sink => "NEWSWIRE_SINK__ADMIN_LISTEN",
        }
    }
}

/// A private nats-server, the farm, and the three service binaries on a store: SQLite in the
/// test's temp dir, or the PostgreSQL at `database_url`.
struct Pipeline {
    nats: TestNats,
    farm: Farm,
    env: Vec<(&'static str, String)>,
    sink_settings: SinkSettings,
    js: jetstream::Context,
    /// `MAX_DELIVERIES` advisories: messages the server gave up redelivering without a stage
    /// having acked or dead-lettered them (a silent loss in waiting).
    exhausted: Arc<Mutex<Vec<String>>>,
    fetcher: Option<Running>,
    processor: Option<Running>,
    sink: Option<Running>,
    store: Option<Store>,
    dir: tempfile::TempDir,
}

impl Pipeline {
    /// Starts everything on `farm`, with `extra_feeds` (TOML) listed before the farm's feeds,
    /// and waits until each service is ready.
    async fn start(farm: Farm, database_url: Option<String>, extra_feeds: &str) -> Self {
        newswire_testkit::init_logging();
        let nats = TestNats::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let feeds_file = dir.path().join("feeds.toml");
        std::fs::write(&feeds_file, format!("{extra_feeds}{}", farm.feeds_toml())).expect("feeds file");
        let sink_settings = SinkSettings {
            sqlite_path: dir.path().join("articles.db"),
            database_url: database_url.clone(),
            ..SinkSettings::default()
        };
        let mut env = vec![
            ("NEWSWIRE_NATS__URL", nats.url()),
            ("NEWSWIRE_NATS__ACK_WAIT_SECS", ACK_WAIT_SECS.to_string()),
            ("NEWSWIRE_LOG__FORMAT", "json".to_owned()),
            ("NEWSWIRE_FETCHER__FEEDS_FILE", feeds_file.display().to_string()),
            ("NEWSWIRE_FETCHER__ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
            // A killed processor's lease is taken over 2 s later instead of 10.
            ("NEWSWIRE_PROCESSOR__LEASE_TTL_SECS", "2".to_owned()),
            // Small batches, so that a kill lands between batches with others in flight.
            ("NEWSWIRE_PROCESSOR__BATCH_SIZE", "16".to_owned()),
            ("NEWSWIRE_SINK__BATCH_SIZE", "16".to_owned()),
            ("NEWSWIRE_SINK__SQLITE_PATH", sink_settings.sqlite_path.display().to_string()),
        ];
        if let Some(url) = database_url {
            env.push(("NEWSWIRE_SINK__DATABASE_URL", url));
        }
        let client = async_nats::connect(nats.url()).await.expect("test client");
        let exhausted = Arc::new(Mutex::new(Vec::new()));
        let mut advisories =
            client.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>").await.expect("subscribe");
        let seen = exhausted.clone();
        tokio::spawn(async move {
            while let Some(m) = advisories.next().await {
                seen.lock().unwrap().push(String::from_utf8_lossy(&m.payload).into_owned());
            }
        });
        let js = jetstream::new(client);
        let mut p = Self {
            nats,
            farm,
            env,
            sink_settings,
            js,
            exhausted,
            fetcher: None,
            processor: None,
            sink: None,
            store: None,
            dir,
        };
        for stage in [StageName::Sink, StageName::Processor, StageName::Fetcher] {
            p.spawn(stage).await;
        }
        let settings = p.sink_settings.clone();
        let store = eventually(Duration::from_secs(30), "the test's view of the store", || async {
            Store::open(&settings).await.map_err(|e| e.to_string())
        })
        .await;
        p.store = Some(store);
        p
    }

    fn slot(&mut self, stage: StageName) -> &mut Option<Running> {
        match stage {
            StageName::Fetcher => &mut self.fetcher,
            StageName::Processor => &mut self.processor,
            StageName::Sink => &mut self.sink,
        }
    }

    fn running(&self, stage: StageName) -> &Running {
        let slot = match stage {
            StageName::Fetcher => &self.fetcher,
            StageName::Processor => &self.processor,
            StageName::Sink => &self.sink,
        };
        slot.as_ref().unwrap_or_else(|| panic!("{stage:?} is not running"))
    }

    /// Starts a stage (on a new admin port) and waits until its `/readyz` says 200.
    async fn spawn(&mut self, stage: StageName) {
        let admin = free_addr();
        let mut env = self.env.clone();
        env.push((stage.admin_key(), admin.clone()));
        let log = self.log_path(stage);
        let running = Running::spawn(stage.binary(), &env, admin, &log);
        eventually(Duration::from_secs(60), &format!("{} to be ready", stage.binary()), || async {
            match running.readyz().await {
                Some(200) => Ok(()),
                other => Err(format!("/readyz: {other:?}")),
            }
        })
        .await;
        *self.slot(stage) = Some(running);
    }

    /// kill -9 of a stage's process.
    async fn kill9(&mut self, stage: StageName) {
        let running = self.slot(stage).take().unwrap_or_else(|| panic!("{stage:?} is not running"));
        running.kill9().await;
    }

    fn log_path(&self, stage: StageName) -> PathBuf {
        self.dir.path().join(format!("{}.log", stage.binary()))
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("store opened at start")
    }

    async fn rows(&self) -> Result<u64, String> {
        self.store().count().await.map_err(|e| e.to_string())
    }

    /// Waits until at least `n` rows are stored; returns the count.
    async fn wait_rows(&self, n: u64) -> u64 {
        eventually(Duration::from_secs(90), &format!("{n} stored rows"), || async {
            let rows = self.rows().await?;
            if rows >= n { Ok(rows) } else { Err(format!("{rows} rows")) }
        })
        .await
    }

    /// Unacked messages of a durable consumer (pending delivery plus in flight).
    async fn backlog(&self, stream: &str, durable: &str) -> Result<u64, String> {
        let s = self.js.get_stream(stream).await.map_err(|e| format!("{stream}: {e}"))?;
        let info = s.consumer_info(durable).await.map_err(|e| format!("{durable}: {e}"))?;
        Ok(info.num_pending + info.num_ack_pending as u64)
    }

    /// Messages in a stream (0 when it does not exist).
    async fn stream_messages(&self, stream: &str) -> Result<u64, String> {
        match self.js.get_stream(stream).await {
            Ok(mut s) => s.info().await.map(|i| i.state.messages).map_err(|e| format!("{stream}: {e}")),
            Err(e) if e.to_string().contains("not found") => Ok(0),
            Err(e) => Err(format!("{stream}: {e}")),
        }
    }

    /// Waits until the fetcher has polled every farm feed twice after the farm's last
    /// release (so that each poll started after it has finished), then until the store holds
    /// as many rows as expected and neither consumer has anything left.
    async fn wait_complete(&self, timeout: Duration) {
        let paths = self.farm.paths();
        let hits: Vec<usize> = paths.iter().map(|p| self.farm.server.hits(p)).collect();
        eventually(timeout, "the fetcher to poll every feed twice after the last release", || async {
            let behind: Vec<&String> = paths
                .iter()
                .zip(&hits)
                .filter(|(p, h)| self.farm.server.hits(p) < **h + 2)
                .map(|(p, _)| p)
                .collect();
            if behind.is_empty() { Ok(()) } else { Err(format!("not yet polled twice: {behind:?}")) }
        })
        .await;
        let want = self.farm.expected().len() as u64;
        eventually(timeout, &format!("{want} rows and both consumers drained"), || async {
            let rows = self.rows().await?;
            let raw = self.backlog("NEWS_RAW", "processor").await?;
            let articles = self.backlog("NEWS_ARTICLES", "sink").await?;
            if rows == want && raw == 0 && articles == 0 {
                Ok(())
            } else {
                Err(format!("{rows} rows, processor backlog {raw}, sink backlog {articles}"))
            }
        })
        .await;
    }

    /// The end state every fault test demands.
    async fn assert_exact(&self) {
        let expected = self.farm.expected();
        let stored = self.store().recent(u32::MAX).await.expect("read rows");
        let ids: Vec<String> = stored.iter().map(|a| a.id.to_string()).collect();
        let set: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(set.len(), ids.len(), "an id stored twice");
        let missing: Vec<&String> =
            expected.iter().filter(|(id, _)| !set.contains(id)).map(|(_, link)| link).collect();
        let extra: Vec<&&String> = set.iter().filter(|id| !expected.contains_key(**id)).collect();
        assert!(
            missing.is_empty(),
            "{} articles missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert!(extra.is_empty(), "{} unexpected rows, e.g. {:?}", extra.len(), &extra[..extra.len().min(5)]);
        assert_eq!(stored.len(), expected.len());

        // Stored once: a redelivered article that came back as a "revision" of itself would
        // have archived its first version.
        for id in &ids {
            let id = ArticleId::parse(id).expect("stored id");
            let revisions = self.store().revisions(&id).await.expect("revisions");
            assert!(
                revisions.is_empty(),
                "{id} stored more than once: {} archived versions",
                revisions.len()
            );
        }

        // One canonical member per copy group, the other a copy of it; no original taken for
        // a copy.
        let by_id: BTreeMap<String, Option<String>> = stored
            .iter()
            .map(|a| (a.id.to_string(), a.duplicate.as_ref().map(|d| d.of.to_string())))
            .collect();
        let grouped: BTreeSet<String> = self.farm.groups().into_iter().flatten().collect();
        for group in self.farm.groups() {
            let canonical: Vec<&String> = group.iter().filter(|id| by_id[*id].is_none()).collect();
            assert_eq!(canonical.len(), 1, "group {group:?}: one canonical member, got {canonical:?}");
            for id in &group {
                if let Some(of) = &by_id[id] {
                    assert_eq!(of, canonical[0], "{id} is a copy of its group's canonical member");
                }
            }
        }
        for (id, of) in by_id.iter().filter(|(id, _)| !grouped.contains(*id)) {
            assert_eq!(of, &None, "{id} has no copy in the farm, yet is stored as a copy of {of:?}");
        }

        assert_eq!(self.stream_messages("NEWS_DLQ").await.expect("DLQ"), 0, "nothing dead-lettered");
        let exhausted = self.exhausted.lock().unwrap().clone();
        assert!(exhausted.is_empty(), "messages ran out of deliveries: {exhausted:?}");
    }

    /// Fails the test if a running stage has died.
    fn assert_alive(&mut self) {
        for stage in [StageName::Fetcher, StageName::Processor, StageName::Sink] {
            if let Some(r) = self.slot(stage).as_mut() {
                r.assert_alive();
            }
        }
    }

    /// The fault must land mid-stream: some rows stored, not all.
    async fn assert_mid_stream(&self) -> u64 {
        let rows = self.rows().await.expect("rows");
        let total = self.farm.expected().len() as u64;
        assert!(rows > 0 && rows < total, "the fault must land mid-stream: {rows} of {total} rows stored");
        rows
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // A failed test shows what the services said.
        if std::thread::panicking() {
            for stage in [StageName::Fetcher, StageName::Processor, StageName::Sink] {
                eprintln!("--- {} (last lines) ---\n{}", stage.binary(), log_tail(&self.log_path(stage), 30));
            }
        }
    }
}

/// Polls `check` every 100 ms until it returns `Ok`, or panics after `timeout` with `what` and
/// the last reason it gave.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}; last: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Stage kills (SQLite)

/// Six feeds of 50 articles and an exact copy of every tenth (330 rows), one step every 200 ms.
async fn stage_farm() -> Farm {
    Farm::new(6, 50, Some(10)).await
}
const TICK: Duration = Duration::from_millis(200);

/// kill -9 of `stage` once a third of the rows are stored; it stays dead while the farm
/// releases 8 more steps, then a new process starts.
async fn kill_mid_stream_and_restart(stage: StageName) {
    let farm = stage_farm().await;
    let mut p = Pipeline::start(farm.clone(), None, "").await;
    let stream = farm.stream_to(farm.per_feed(), TICK);
    p.wait_rows(farm.expected().len() as u64 / 3).await;
    p.kill9(stage).await;
    let at_kill = p.assert_mid_stream().await;
    let step = farm.step();
    farm.wait_step(step + 8).await;
    eprintln!(
        "{stage:?} killed with {at_kill} rows stored, farm at step {step}; restarting at step {}",
        farm.step()
    );
    p.spawn(stage).await;
    stream.await.expect("farm stream");
    p.wait_complete(Duration::from_secs(120)).await;
    p.assert_exact().await;
    p.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_killed_mid_stream_and_restarted_ends_with_exactly_the_expected_rows() {
    kill_mid_stream_and_restart(StageName::Fetcher).await;
}

/// The processor's memory dies with it: the new one rebuilds it from the articles stream, and
/// every copy group still has one canonical member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_killed_mid_stream_and_restarted_ends_with_exactly_the_expected_rows() {
    kill_mid_stream_and_restart(StageName::Processor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_killed_mid_stream_and_restarted_ends_with_exactly_the_expected_rows() {
    kill_mid_stream_and_restart(StageName::Sink).await;
}

/// nats-server SIGKILLed mid-stream and restarted on the same port and store after the farm
/// released 8 more steps; the services ride it out without a restart of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_and_restarted_on_its_store_ends_with_exactly_the_expected_rows() {
    let farm = stage_farm().await;
    let mut p = Pipeline::start(farm.clone(), None, "").await;
    let stream = farm.stream_to(farm.per_feed(), TICK);
    p.wait_rows(farm.expected().len() as u64 / 3).await;
    p.nats.kill();
    p.assert_mid_stream().await;
    farm.wait_step(farm.step() + 8).await;
    p.nats.restart();
    stream.await.expect("farm stream");
    p.wait_complete(Duration::from_secs(120)).await;
    p.assert_exact().await;
    p.assert_alive();
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL faults (a private server the test may stop)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_stream_ends_with_exactly_the_expected_rows() {
    let mut pg = PgServer::start();
    let farm = stage_farm().await;
    let mut p = Pipeline::start(farm.clone(), Some(pg.url()), "").await;
    let stream = farm.stream_to(farm.per_feed(), TICK);
    p.wait_rows(farm.expected().len() as u64 / 3).await;
    p.assert_mid_stream().await;
    pg.stop();
    pg.restart();
    stream.await.expect("farm stream");
    p.wait_complete(Duration::from_secs(120)).await;
    p.assert_exact().await;
    p.assert_alive();
}

/// How long PostgreSQL stays down: the issue asks for five minutes.
const OUTAGE: Duration = Duration::from_secs(300);

/// PostgreSQL stopped for five minutes while the rest of the stream arrives: the sink says not
/// ready (503) throughout, holds what it has, dead-letters nothing and lets no message run out
/// of deliveries; after PostgreSQL is back, exactly the expected rows and 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_for_five_minutes_ends_with_exactly_the_expected_rows_and_nothing_dead_lettered() {
    let mut pg = PgServer::start();
    let farm = stage_farm().await;
    let mut p = Pipeline::start(farm.clone(), Some(pg.url()), "").await;
    let stream = farm.stream_to(farm.per_feed(), TICK);
    p.wait_rows(farm.expected().len() as u64 / 3).await;
    let at_stop = p.assert_mid_stream().await;
    pg.stop();
    let stopped = Instant::now();

    // The rest of the stream reaches the articles stream while the store is down.
    let sink = p.running(StageName::Sink);
    eventually(Duration::from_secs(60), "the sink to say it is not ready", || async {
        match sink.readyz().await {
            Some(503) => Ok(()),
            other => Err(format!("/readyz: {other:?}")),
        }
    })
    .await;
    stream.await.expect("farm stream");
    let total = farm.expected().len() as u64;
    eventually(Duration::from_secs(120), "every article published during the outage", || async {
        let published = p.stream_messages("NEWS_ARTICLES").await?;
        let raw = p.backlog("NEWS_RAW", "processor").await?;
        if published == total && raw == 0 {
            Ok(())
        } else {
            Err(format!("{published} of {total} articles published, processor backlog {raw}"))
        }
    })
    .await;
    assert!(stopped.elapsed() < OUTAGE / 2, "the stream must arrive well inside the outage");

    // The outage itself: five minutes by the clock, the sink alive and not ready throughout.
    while stopped.elapsed() < OUTAGE {
        p.assert_alive();
        let sink = p.running(StageName::Sink);
        assert_eq!(sink.readyz().await, Some(503), "not ready {:?} into the outage", stopped.elapsed());
        tokio::time::sleep((OUTAGE - stopped.elapsed().min(OUTAGE)).min(Duration::from_secs(5))).await;
    }
    let sink_backlog = p.backlog("NEWS_ARTICLES", "sink").await.expect("sink backlog");
    pg.restart();
    let outage = stopped.elapsed();
    assert!(outage >= OUTAGE, "PostgreSQL was down {outage:?}");
    eprintln!("PostgreSQL down for {outage:?}: {at_stop} rows stored before, sink backlog {sink_backlog}");

    p.wait_complete(Duration::from_secs(180)).await;
    p.assert_exact().await;
    p.assert_alive();
    let sink = p.running(StageName::Sink);
    eventually(Duration::from_secs(60), "the sink to be ready again", || async {
        match sink.readyz().await {
            Some(200) => Ok(()),
            other => Err(format!("/readyz: {other:?}")),
        }
    })
    .await;
    let metrics = sink.metrics_url();
    assert_eq!(scrape_metric(&metrics, "newswire_sink_dead_lettered_total").await, 0.0);
    assert_eq!(scrape_metric(&metrics, "newswire_sink_store_unavailable").await, 0.0);
    assert!(scrape_metric(&metrics, "newswire_sink_store_retries_total").await >= 1.0);
}

// ---------------------------------------------------------------------------------------------
// A feed host that never answers

/// Feeds on one host that accepts every connection and never sends a byte, listed before the
/// healthy feeds, with the fetcher's default limits (16 fetch slots, 10 s read timeout): the
/// healthy feeds' entries still arrive on time, each stored within `ON_TIME` of its release
/// (the feeds are polled every second), over 30 s that cover the hanging feeds' first rounds
/// and back-offs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_answers_does_not_delay_the_other_feeds() {
    const ON_TIME: Duration = Duration::from_secs(5);
    const HANGING: usize = 20;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let extra: String = (0..HANGING)
        .map(|i| format!("[[feed]]\nid = \"hang{i}\"\nurl = \"http://{hanging}/feed{i}.xml\"\npoll_interval_secs = 1\n\n"))
        .collect();
    // Ten healthy feeds, one entry each per second for 30 s.
    let farm = Farm::new(10, 30, None).await;
    let p = Pipeline::start(farm.clone(), None, &extra).await;
    let stream = farm.stream_to(farm.per_feed(), Duration::from_secs(1));

    let expected = farm.expected();
    let steps = farm.release_steps();
    let mut late: Vec<(String, Duration)> = Vec::new();
    let mut arrived: BTreeMap<String, Duration> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while arrived.len() < expected.len() && Instant::now() < deadline {
        let released = farm.released_at.lock().unwrap().clone();
        let waiting: Vec<&String> = expected.keys().filter(|id| !arrived.contains_key(*id)).collect();
        for id in waiting {
            // Not released yet: nothing to wait for.
            let Some(at) = released.get(steps[id]) else { continue };
            let parsed = ArticleId::parse(id).unwrap();
            if p.store().get(&parsed).await.ok().flatten().is_some() {
                let latency = at.elapsed();
                if latency > ON_TIME {
                    late.push((expected[id].clone(), latency));
                }
                arrived.insert(id.clone(), latency);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stream.await.expect("farm stream");
    assert_eq!(arrived.len(), expected.len(), "every healthy entry stored");
    let worst = arrived.values().max().copied().unwrap_or_default();
    assert!(
        late.is_empty(),
        "{} of {} healthy entries later than {ON_TIME:?} (worst {worst:?}), e.g. {:?}",
        late.len(),
        expected.len(),
        &late[..late.len().min(5)]
    );
    eprintln!("worst latency of a healthy entry: {worst:?}");
}
