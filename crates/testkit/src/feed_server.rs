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
    if let Ok(mut h) = routes.hits.lock() {
        *h.entry(path.clone()).or_default() += 1;
    }
    let route = routes.map.lock().ok().and_then(|m| m.get(&path).cloned());
    match route {
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
