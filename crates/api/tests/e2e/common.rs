//! Helpers: articles, an API on a free port over a real store, a plain HTTP/1.1 client and an
//! SSE client, both over raw TCP so that a test controls exactly when bytes are read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use newswire_api::stream::Hub;
use newswire_api::{Api, ApiSettings, RunningApi};
use newswire_bus::{Bus, BusSettings, ClientRole};
use newswire_model::Article;
use newswire_store::{SearchIndexing, SinkSettings, Store};
use newswire_telemetry::metrics::ApiMetrics;
use newswire_telemetry::{Health, Registry};
pub use newswire_testkit::articles::base_time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A small article (see `newswire_testkit::articles::article`), ids of this suite.
pub fn article(n: usize, source: &str, lang: &str, title: &str, text: &str) -> Article {
    newswire_testkit::articles::article("api-test", n, source, lang, title, text)
}

pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = SinkSettings {
        sqlite_path: dir.path().join("api.db"),
        max_connections: 2,
        ..SinkSettings::default()
    };
    (Store::open(&settings).await.unwrap(), dir)
}

pub async fn pg_store(db: &newswire_testkit::PgDb) -> Store {
    // Inline, so that a test searches what it has just stored (the sink's deferred indexer
    // does not run here; `crates/store/tests/deferred_search.rs` covers that path).
    let settings = SinkSettings {
        database_url: Some(db.url.clone()),
        max_connections: 2,
        search_indexing: SearchIndexing::Inline,
        ..SinkSettings::default()
    };
    Store::open(&settings).await.unwrap()
}

pub fn test_settings() -> ApiSettings {
    ApiSettings { listen: "127.0.0.1:0".into(), ..ApiSettings::default() }
}

/// An API serving on a free port, with its admin port.
pub struct TestApi {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub hub: Arc<Hub>,
    pub shutdown: CancellationToken,
    pub running: Option<RunningApi>,
}

impl TestApi {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn metric(&self, name: &str) -> f64 {
        newswire_testkit::scrape_metric(&format!("http://{}/metrics", self.admin), name).await
    }

    /// Stops it and waits until it has (open live streams end at shutdown).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(r) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(10), r.task)
                .await
                .expect("the API stops within 10 s of shutdown")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Spawns the API as the service does (bind port 0, return the address), with the live stream
/// on `bus` when given; `writes` adds protected routes.
pub async fn spawn_api_with(
    store: Store,
    settings: ApiSettings,
    bus: Option<Bus>,
    writes: Option<axum::Router<newswire_api::ApiState<Store>>>,
) -> TestApi {
    spawn_api_full(store, settings, bus, writes, None).await
}

/// [`spawn_api_with`], with the feed routes served from `feeds` when given.
pub async fn spawn_api_full(
    store: Store,
    settings: ApiSettings,
    bus: Option<Bus>,
    writes: Option<axum::Router<newswire_api::ApiState<Store>>>,
    feeds: Option<newswire_api::feeds::Feeds>,
) -> TestApi {
    newswire_testkit::init_logging();
    let registry = Registry::new();
    let shutdown = CancellationToken::new();
    let metrics = ApiMetrics::new(&registry).unwrap();
    let mut api = Api::new(&settings, store, metrics, shutdown.clone()).unwrap();
    if let Some(w) = writes {
        api = api.write_routes(w);
    }
    if let Some(bus) = bus {
        api.attach_bus(bus);
    }
    if let Some(feeds) = feeds {
        api.attach_feeds(feeds);
    }
    let health = Health::new();
    health.set_ready();
    let admin =
        newswire_telemetry::serve_admin("127.0.0.1:0", registry, health, shutdown.clone()).await.unwrap();
    let running = api.serve(&settings.listen).await.unwrap();
    TestApi {
        addr: running.addr,
        admin: admin.addr,
        hub: running.hub.clone(),
        shutdown,
        running: Some(running),
    }
}

pub async fn spawn_api(store: Store) -> TestApi {
    spawn_api_with(store, test_settings(), None, None).await
}

/// A bus on `nats` that creates every stream (as the pipeline's owners would).
pub async fn owner_bus(nats: &newswire_testkit::TestNats) -> Bus {
    let settings = BusSettings { url: nats.url(), ..BusSettings::default() };
    Bus::connect(&settings, "test-owner", ClientRole::All).await.unwrap()
}

/// A read-only bus, as the API connects.
pub async fn reader_bus(nats: &newswire_testkit::TestNats) -> Bus {
    let settings = BusSettings { url: nats.url(), ..BusSettings::default() };
    Bus::connect(&settings, "newswire-api", ClientRole::ReadOnly).await.unwrap()
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Asserts an RFC 9457 problem of `status` and `slug`, about `instance`; returns its detail.
    pub fn problem(&self, status: u16, slug: &str, instance: &str) -> String {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let p = self.json();
        assert_eq!(p["type"], format!("urn:newswire:problem:{slug}"), "{p}");
        assert_eq!(p["status"], status);
        assert_eq!(p["instance"], instance, "{p}");
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        p["detail"].as_str().unwrap_or_default().to_owned()
    }
}

fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    (host.to_owned(), format!("/{path}"))
}

/// Sends a request and reads the whole response (`Connection: close`).
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    request_with_body(method, url, headers, b"").await
}

/// [`request`] with a body.
pub async fn request_with_body(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let (host, path) = split_url(url);
    let mut stream = TcpStream::connect(&host).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(req.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers.get("transfer-encoding").is_some_and(|t| t == "chunked") {
        let mut decoder = Chunked::default();
        rest = decoder.feed(&rest);
    }
    Resp { status, headers, body: rest }
}

pub async fn get(url: &str) -> Resp {
    request("GET", url, &[]).await
}

/// An incremental decoder of a chunked body.
#[derive(Default)]
pub struct Chunked {
    buf: Vec<u8>,
    /// Bytes left in the current chunk (+2 for its CRLF), if inside one.
    left: Option<usize>,
    pub ended: bool,
}

impl Chunked {
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            match self.left {
                Some(n) => {
                    let take = n.min(self.buf.len());
                    let data: Vec<u8> = self.buf.drain(..take).collect();
                    // The chunk's trailing CRLF counts in `n` but is not data.
                    let data_len = data.len().min(n.saturating_sub(2));
                    out.extend_from_slice(&data[..data_len]);
                    let remaining = n - take;
                    self.left = if remaining == 0 { None } else { Some(remaining) };
                    if remaining > 0 {
                        return out;
                    }
                }
                None => {
                    let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") else { return out };
                    let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                    let size_text = String::from_utf8_lossy(&line[..pos]).into_owned();
                    let size =
                        usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).unwrap();
                    if size == 0 {
                        self.ended = true;
                        return out;
                    }
                    self.left = Some(size + 2);
                }
            }
        }
    }
}

/// What an SSE stream carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Sse {
    Event { id: Option<String>, event: String, data: String },
    Comment(String),
}

/// A server-sent-events client over raw TCP.
pub struct SseClient {
    stream: TcpStream,
    chunked: Chunked,
    text: Vec<u8>,
    pub status: u16,
    pub head: String,
    pub last_id: Option<String>,
}

impl SseClient {
    /// Connects to `path` with an optional `Last-Event-ID`; `recv_buffer` shrinks the socket's
    /// receive buffer (a slow client).
    pub async fn connect(
        addr: SocketAddr,
        path: &str,
        last_id: Option<&str>,
        recv_buffer: Option<u32>,
    ) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut stream = socket.connect(addr).await.unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        if let Some(id) = last_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        // Byte by byte up to the end of the head, so that no body byte is consumed here.
        while !raw.ends_with(b"\r\n\r\n") {
            let n =
                tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await.unwrap().unwrap();
            assert!(n > 0, "connection closed before the response head");
            raw.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&raw).into_owned();
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
        Self { stream, chunked: Chunked::default(), text: Vec::new(), status, head, last_id: None }
    }

    fn parse_one(&mut self) -> Option<Sse> {
        // Bytes until a whole event is there: a read may end inside a multi-byte character.
        let end = self.text.windows(2).position(|w| w == b"\n\n")?;
        let raw: Vec<u8> = self.text.drain(..end + 2).collect();
        let block = String::from_utf8(raw).unwrap();
        let (mut id, mut event, mut data, mut comment) = (None, String::new(), String::new(), None);
        for line in block.lines() {
            if let Some(c) = line.strip_prefix(':') {
                comment = Some(c.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("event: ") {
                v.clone_into(&mut event);
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        if event.is_empty() && data.is_empty() {
            return Some(Sse::Comment(comment.unwrap_or_default()));
        }
        if id.is_some() {
            self.last_id.clone_from(&id);
        }
        Some(Sse::Event { id, event, data })
    }

    /// The next event or comment; `None` when the stream ended or nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(item) = self.parse_one() {
                return Some(item);
            }
            if self.chunked.ended {
                return None;
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await.ok()?.ok()?;
            if n == 0 {
                return None;
            }
            let data = self.chunked.feed(&buf[..n]);
            self.text.extend_from_slice(&data);
        }
    }

    /// The next event (comments skipped): `(id, event, data)`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<(String, String, serde_json::Value)> {
        loop {
            match self.next(wait).await? {
                Sse::Comment(_) => continue,
                Sse::Event { id, event, data } => {
                    return Some((id.unwrap_or_default(), event, serde_json::from_str(&data).unwrap()));
                }
            }
        }
    }

    /// Waits for the opening comment: from then on, the client is subscribed.
    pub async fn opened(&mut self) {
        assert_eq!(self.status, 200, "{}", self.head);
        match self.next(Duration::from_secs(10)).await {
            Some(Sse::Comment(c)) => assert_eq!(c, "newswire live stream"),
            other => panic!("expected the opening comment, got {other:?}"),
        }
    }

    /// Whether the stream ended (EOF or the last chunk) within `wait`, skipping anything sent.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            if self.chunked.ended {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Err(_)) | Ok(Ok(0)) => return true,
                Ok(Ok(n)) => {
                    self.chunked.feed(&buf[..n]);
                }
            }
        }
    }
}
