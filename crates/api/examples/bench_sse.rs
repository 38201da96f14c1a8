//! SSE fan-out benchmark (run by `scripts/bench-sse`): N clients follow `/v1/stream` while a
//! burst of articles is published on JetStream; then the same again with one more client that
//! never reads. Prints the time until every fast client had every article, for both rounds of
//! the same run, and how many clients were dropped (the slow one is dropped once it is
//! `api.client_buffer` events behind, which a burst smaller than that does not reach; it never
//! holds the others back either way).
//!
//! `cargo run --release -p newswire-api --example bench_sse -- [--clients N] [--articles N]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark tool: a failure aborts the run"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use newswire_api::{Api, ApiSettings};
use newswire_bus::{Bus, BusSettings, ClientRole};
use newswire_model::{Article, ArticleId, Category, Fingerprints, Lang, SCHEMA_VERSION, SourceId};
use newswire_store::{SinkSettings, Store};
use newswire_telemetry::Registry;
use newswire_telemetry::metrics::ApiMetrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

const SENTENCE: &str = "أجرى وزير الخارجية الروسي سيرغي لافروف مكالمة هاتفية مع نظيره الأمريكي ";

fn article(n: usize, round: usize, body: &str) -> Article {
    let at = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(n as i64);
    let id = ArticleId::digest(&["bench-sse", &round.to_string(), &n.to_string()]);
    Article {
        schema_version: SCHEMA_VERSION,
        canonical_url: Some(format!("https://bench.example/{round}/{n}")),
        source_id: SourceId::parse("bench").unwrap(),
        feed_url: "https://bench.example/rss.xml".into(),
        title: format!("خبر رقم {n} في الجولة {round}"),
        text: body.to_owned(),
        language: Lang::parse("ar").unwrap(),
        category: Category::general(),
        published_at: Some(at),
        fetched_at: at,
        processed_at: at,
        authors: vec![],
        entities: vec![],
        keywords: vec![],
        summary: None,
        categories: vec![],
        story_id: Some(id.to_string()),
        fingerprints: Fingerprints { content_hash: id.to_string(), simhash: None },
        duplicate: None,
        revision: None,
        id,
    }
}

/// Opens a stream; returns once subscribed.
async fn follow(addr: SocketAddr) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    // Up to the opening comment: subscribed from then on.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(21).any(|w| w == b"newswire live stream\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "stream closed before it opened");
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

/// Counts `id:` lines (one per event) until `target` are in.
async fn count_events(mut s: tokio::net::TcpStream, count: Arc<AtomicU64>, target: u64) -> Duration {
    let started = Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    let mut got = 0u64;
    while got < target {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "stream ended after {got} events");
        // Each event's id line is a chunk of its own, so it starts a line: count "\nid: ".
        let mut window = std::mem::take(&mut tail);
        window.extend_from_slice(&buf[..n]);
        let found = window.windows(5).filter(|w| w == b"\nid: ").count() as u64;
        // The last chunk of the body: the server dropped this client.
        assert!(!window.windows(7).any(|w| w == b"\r\n0\r\n\r\n"), "dropped after {got} events");
        got += found;
        count.fetch_add(found, Ordering::Relaxed);
        tail = window[window.len().saturating_sub(4)..].to_vec();
    }
    started.elapsed()
}

async fn round(
    addr: SocketAddr,
    owner: &Bus,
    clients: usize,
    articles: usize,
    round_no: usize,
    with_slow: bool,
) -> (Duration, Duration) {
    let body = SENTENCE.repeat(30);
    let mut streams = Vec::new();
    for _ in 0..clients {
        streams.push(follow(addr).await);
    }
    // The slow client: a tiny receive buffer, and it never reads.
    let slow = if with_slow {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        let req = format!("GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some(s)
    } else {
        None
    };
    let total = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let readers: Vec<_> =
        streams.into_iter().map(|s| tokio::spawn(count_events(s, total.clone(), articles as u64))).collect();
    let mut pending = Vec::with_capacity(articles);
    for n in 0..articles {
        pending.push(owner.send_article(&article(n, round_no, &body)).await.unwrap());
    }
    for p in pending {
        p.acked().await.unwrap();
    }
    let published = start.elapsed();
    let progress = total.clone();
    let expected = (clients * articles) as u64;
    let reporter = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            eprintln!("  … {} of {expected} deliveries", progress.load(Ordering::Relaxed));
        }
    });
    for r in readers {
        tokio::time::timeout(Duration::from_secs(300), r).await.expect("clients finish").unwrap();
    }
    let delivered = start.elapsed();
    reporter.abort();
    drop(slow);
    (published, delivered)
}

#[tokio::main]
async fn main() {
    let clients = arg("--clients", 100);
    let articles = arg("--articles", 5000);
    let dir = tempfile::tempdir().unwrap();
    let nats = newswire_testkit::TestNats::start();
    let bus_settings = BusSettings { url: nats.url(), ..BusSettings::default() };
    let owner = Bus::connect(&bus_settings, "bench-owner", ClientRole::All).await.unwrap();
    let reader = Bus::connect(&bus_settings, "newswire-api", ClientRole::ReadOnly).await.unwrap();
    let sink = SinkSettings { sqlite_path: dir.path().join("bench.db"), ..SinkSettings::default() };
    let store = Store::open(&sink).await.unwrap();
    let settings = ApiSettings { listen: "127.0.0.1:0".into(), ..ApiSettings::default() };
    let registry = Registry::new();
    let metrics = ApiMetrics::new(&registry).unwrap();
    let shutdown = CancellationToken::new();
    let api = Api::new(&settings, store, metrics.clone(), shutdown.clone()).unwrap();
    api.attach_bus(reader);
    let running = api.serve(&settings.listen).await.unwrap();
    while !running.hub.is_connected() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "SSE fan-out: {clients} clients, bursts of {articles} articles (~{} bytes of JSON each), \
         client_buffer {}, stream_buffer {}",
        serde_json::to_vec(&article(0, 0, &SENTENCE.repeat(30))).unwrap().len(),
        settings.client_buffer,
        settings.stream_buffer,
    );
    let (pub_a, all_a) = round(running.addr, &owner, clients, articles, 1, false).await;
    let dropped_before = metrics.sse_clients_dropped.get();
    println!(
        "without a slow client: burst published in {:.2} s; every article at all {clients} clients after {:.2} s ({:.0} events/s delivered)",
        pub_a.as_secs_f64(),
        all_a.as_secs_f64(),
        (clients * articles) as f64 / all_a.as_secs_f64()
    );
    let (pub_b, all_b) = round(running.addr, &owner, clients, articles, 2, true).await;
    let dropped = metrics.sse_clients_dropped.get() - dropped_before;
    println!(
        "with one slow client:  burst published in {:.2} s; every article at all {clients} fast clients after {:.2} s ({:.0} events/s delivered); slow clients dropped: {dropped}",
        pub_b.as_secs_f64(),
        all_b.as_secs_f64(),
        (clients * articles) as f64 / all_b.as_secs_f64()
    );
    println!("ratio with / without the slow client: {:.2}", all_b.as_secs_f64() / all_a.as_secs_f64());
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), running.task).await;
}
