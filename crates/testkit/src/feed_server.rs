use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

/// What the server answers on a path.
#[derive(Debug, Clone)]
pub enum Route {
    /// A body with a content type.
    Body {
        /// `Content-Type` header.
        content_type: String,
        /// The bytes.
        body: Vec<u8>,
    },
    /// Headers at once, then the body after a delay (a slow server).
    Slow {
        /// Time before the body.
        delay: Duration,
        /// The bytes.
        body: Vec<u8>,
    },
    /// A body that never ends (1 KiB of feed-looking bytes every millisecond).
    Endless,
    /// An empty response with this status.
    Status(u16),
    /// The whole response after a delay (a slow page: the request stays in flight meanwhile).
    Delayed {
        /// Time before the response.
        delay: Duration,
        /// `Content-Type` header.
        content_type: String,
        /// The bytes.
        body: Vec<u8>,
    },
    /// A body sent as it is with `Content-Encoding: gzip` (give it gzip bytes: a gzip bomb is
    /// a few kilobytes that inflate to gigabytes).
    Gzip {
        /// `Content-Type` header.
        content_type: String,
        /// The compressed bytes.
        body: Vec<u8>,
    },
    /// Headers at once, then the body one byte per `interval` (slowloris: every read is
    /// quick, the response never ends in reasonable time).
    Trickle {
        /// Time between two bytes.
        interval: Duration,
        /// The bytes.
        body: Vec<u8>,
    },
    /// `302 Found` to `location` (another path of this server makes a redirect loop).
    Redirect(String),
    /// `status` with `Retry-After: retry_after_secs` for the first `times` requests, then
    /// `then` (a rate-limited or overloaded host).
    Limited {
        /// 429 or 503.
        status: u16,
        /// The `Retry-After` header, in seconds.
        retry_after_secs: u64,
        /// Requests answered so before `then`.
        times: usize,
        /// The route after that.
        then: Box<Route>,
    },
}

impl Route {
    /// An XML body (`application/rss+xml` etc. as given).
    pub fn body(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Route::Body { content_type: content_type.to_owned(), body: body.into() }
    }
}

#[derive(Clone, Default)]
struct Routes {
    map: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    /// Requests being answered now, and the most there ever were.
    in_flight: Arc<Mutex<(usize, usize)>>,
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<Mutex<(usize, usize)>>);

impl InFlight {
    fn new(counter: &Arc<Mutex<(usize, usize)>>) -> Self {
        if let Ok(mut c) = counter.lock() {
            c.0 += 1;
            c.1 = c.1.max(c.0);
        }
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut c) = self.0.lock() {
            c.0 = c.0.saturating_sub(1);
        }
    }
}

/// An HTTP server on 127.0.0.1 serving [`Route`]s; routes can be changed while it runs.
#[derive(Clone)]
pub struct FeedServer {
    addr: SocketAddr,
    routes: Routes,
    shutdown: CancellationToken,
}

impl FeedServer {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"));
        let routes = Routes::default();
        let shutdown = CancellationToken::new();
        let app = Router::new().fallback(serve).with_state(routes.clone());
        let token = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await;
        });
        Self { addr, routes, shutdown }
    }

    /// Serves `route` on `path` (e.g. `/seeds.rss`).
    pub fn set(&self, path: &str, route: Route) {
        if let Ok(mut m) = self.routes.map.lock() {
            m.insert(path.to_owned(), route);
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> usize {
        self.routes.hits.lock().map(|h| h.get(path).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// The most requests (all paths) the server was answering at one time.
    pub fn max_in_flight(&self) -> usize {
        self.routes.in_flight.lock().map(|c| c.1).unwrap_or(0)
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        // Clones share the token; the server stops when the test's last handle goes.
        if Arc::strong_count(&self.routes.map) <= 2 {
            self.shutdown.cancel();
        }
    }
}

async fn serve(State(routes): State<Routes>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let _in_flight = InFlight::new(&routes.in_flight);
    let hits = match routes.hits.lock() {
        Ok(mut h) => {
            let n = h.entry(path.clone()).or_default();
            *n += 1;
            *n
        }
        Err(_) => 0,
    };
    let mut route = routes.map.lock().ok().and_then(|m| m.get(&path).cloned());
    while let Some(Route::Limited { status, retry_after_secs, times, then }) = route {
        if hits <= times {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            return (status, [(header::RETRY_AFTER, retry_after_secs.to_string())]).into_response();
        }
        route = Some(*then);
    }
    match route {
        Some(Route::Limited { .. }) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Some(Route::Delayed { delay, content_type, body }) => {
            tokio::time::sleep(delay).await;
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Route::Status(s)) => {
            StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
        Some(Route::Body { content_type, body }) => {
            // A strong ETag from the content, so conditional requests get 304 until it changes.
            let etag = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                body.hash(&mut h);
                format!("\"{:016x}\"", h.finish())
            };
            if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
                return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
            }
            ([(header::CONTENT_TYPE, content_type), (header::ETAG, etag)], body).into_response()
        }
        Some(Route::Slow { delay, body }) => {
            let stream = futures_stream(async move {
                tokio::time::sleep(delay).await;
                body
            });
            ([(header::CONTENT_TYPE, "application/rss+xml".to_owned())], Body::from_stream(stream))
                .into_response()
        }
        Some(Route::Gzip { content_type, body }) => {
            ([(header::CONTENT_TYPE, content_type), (header::CONTENT_ENCODING, "gzip".to_owned())], body)
                .into_response()
        }
        Some(Route::Trickle { interval, body }) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(1);
            tokio::spawn(async move {
                for b in body {
                    tokio::time::sleep(interval).await;
                    if tx.send(Ok(vec![b])).await.is_err() {
                        break;
                    }
                }
            });
            (
                [(header::CONTENT_TYPE, "application/rss+xml".to_owned())],
                Body::from_stream(receiver_stream(rx)),
            )
                .into_response()
        }
        Some(Route::Redirect(location)) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Some(Route::Endless) => {
            let chunk = b"<rss><channel>".iter().chain([b' '; 1010].iter()).copied().collect::<Vec<u8>>();
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
            tokio::spawn(async move {
                while tx.send(Ok(chunk.clone())).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            let stream = receiver_stream(rx);
            ([(header::CONTENT_TYPE, "application/rss+xml".to_owned())], Body::from_stream(stream))
                .into_response()
        }
    }
}

type Chunk = Result<Vec<u8>, std::io::Error>;

/// A one-item stream from a future.
fn futures_stream<F: std::future::Future<Output = Vec<u8>> + Send + 'static>(
    f: F,
) -> impl futures_util::Stream<Item = Chunk> + Send {
    futures_util::stream::once(async move { Ok(f.await) })
}

/// The receiving end of a channel as a stream.
fn receiver_stream(rx: tokio::sync::mpsc::Receiver<Chunk>) -> impl futures_util::Stream<Item = Chunk> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}
