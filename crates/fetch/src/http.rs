use std::io::Read;
use std::time::Duration;

use chrono::{DateTime, Utc};
use newswire_model::HttpMeta;
use reqwest::header::{CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use url::Url;

use crate::{FeedUrl, FetchError, FetcherSettings, NetGuard};

/// Cache validators from the previous response, for a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` of the last 200 response.
    pub etag: Option<String>,
    /// `Last-Modified` of the last 200 response.
    pub last_modified: Option<String>,
}

/// A fetched body.
#[derive(Debug, Clone)]
pub struct Body {
    /// The bytes (empty when `not_modified`).
    pub bytes: Vec<u8>,
    /// `Content-Type` header, if fetched over HTTP.
    pub content_type: Option<String>,
    /// HTTP facts, if fetched over HTTP.
    pub http: Option<HttpMeta>,
    /// The server answered 304: nothing changed since the validators were taken.
    pub not_modified: bool,
    /// Base for relative links: the URL after redirects, or the file's URL.
    pub base_url: Option<Url>,
}

impl Body {
    /// Validators to send next time.
    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.http.as_ref().and_then(|h| h.etag.clone()),
            last_modified: self.http.as_ref().and_then(|h| h.last_modified.clone()),
        }
    }
}

/// Fetches feeds and pages within limits: whole-request timeout, body size cap (the transfer is
/// stopped, not buffered, past it), bounded redirects, and the [`NetGuard`] on every address.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    max_body: usize,
    guard: NetGuard,
    max_items: usize,
}

impl HttpFetcher {
    /// Builds the client from settings.
    pub fn new(settings: &FetcherSettings) -> Result<Self, FetchError> {
        // reqwest is built without a default crypto provider so that the workspace has one TLS
        // stack (rustls + ring). Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = NetGuard {
            allow_private: settings.allow_private_networks,
            allow_files: settings.allow_file_urls,
        };
        let max_redirects = settings.max_redirects;
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(format!("more than {max_redirects} redirects"));
            }
            // Host names are checked by the resolver; IP literals must be checked here.
            match guard.parse(attempt.url().as_str()) {
                Ok(FeedUrl::Http(_)) => attempt.follow(),
                Ok(_) => attempt.error("redirect to a non-HTTP URL refused"),
                Err(e) => attempt.error(e.to_string()),
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout())
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .read_timeout(Duration::from_secs(settings.read_timeout_secs.max(1)))
            .redirect(redirect)
            .dns_resolver(guard.resolver())
            // A proxy from `http_proxy`/`HTTPS_PROXY` would resolve the host itself, out of
            // the guard's reach: newswire connects directly, always.
            .no_proxy()
            .gzip(true)
            .build()
            .map_err(|e| FetchError::Network {
                url: String::new(),
                message: format!("cannot build HTTP client: {e}"),
                timeout: false,
            })?;
        Ok(Self { client, max_body: settings.max_body_bytes, guard, max_items: settings.max_items_per_feed })
    }

    /// Entries read from one feed document, at most (`max_items_per_feed`).
    pub fn max_items(&self) -> usize {
        self.max_items
    }

    /// The guard in use (to parse user-given locations the same way).
    pub fn guard(&self) -> NetGuard {
        self.guard
    }

    /// Reads a feed or page from wherever `url` points.
    pub async fn fetch(&self, url: &FeedUrl, validators: &Validators) -> Result<Body, FetchError> {
        match url {
            FeedUrl::Http(u) => self.get(u, validators).await,
            FeedUrl::File(path) => {
                let display = path.display().to_string();
                let bytes = read_limited(std::fs::File::open(path), self.max_body, &display)?;
                Ok(Body {
                    bytes,
                    content_type: None,
                    http: None,
                    not_modified: false,
                    base_url: std::path::absolute(path).ok().and_then(|p| Url::from_file_path(p).ok()),
                })
            }
            FeedUrl::Stdin => {
                let bytes = read_limited(Ok(std::io::stdin().lock()), self.max_body, "-")?;
                Ok(Body { bytes, content_type: None, http: None, not_modified: false, base_url: None })
            }
        }
    }

    async fn get(&self, url: &Url, validators: &Validators) -> Result<Body, FetchError> {
        let shown = url.as_str();
        let mut req = self.client.get(url.clone()).header(
            reqwest::header::ACCEPT,
            "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1",
        );
        if let Some(etag) = &validators.etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| network_error(shown, &e))?;
        let status = resp.status();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let http = HttpMeta {
            status: status.as_u16(),
            final_url: Some(resp.url().to_string()),
            content_type: header(CONTENT_TYPE),
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
            charset: None,
        };
        let base_url = Some(resp.url().clone());
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Body {
                bytes: Vec::new(),
                content_type: http.content_type.clone(),
                http: Some(http),
                not_modified: true,
                base_url,
            });
        }
        if !status.is_success() {
            let retry_after =
                header(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v, Utc::now()));
            return Err(FetchError::Status { url: shown.to_owned(), status: status.as_u16(), retry_after });
        }
        if resp.content_length().is_some_and(|n| n > self.max_body as u64) {
            return Err(FetchError::TooLarge { url: shown.to_owned(), limit: self.max_body });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network_error(shown, &e))? {
            if bytes.len() + chunk.len() > self.max_body {
                return Err(FetchError::TooLarge { url: shown.to_owned(), limit: self.max_body });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Body {
            bytes,
            content_type: http.content_type.clone(),
            http: Some(http),
            not_modified: false,
            base_url,
        })
    }
}

/// A `Retry-After` value, delay-seconds or an HTTP date, as a wait from `now` (a date in the
/// past is no wait). Anything else is ignored.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

fn read_limited<R: Read>(
    reader: std::io::Result<R>,
    limit: usize,
    origin: &str,
) -> Result<Vec<u8>, FetchError> {
    let io = |source| FetchError::Io { path: origin.to_owned(), source };
    let reader = reader.map_err(io)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    reader.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > limit {
        return Err(FetchError::TooLarge { url: origin.to_owned(), limit });
    }
    Ok(bytes)
}

/// Flattens reqwest's error chain into one line, so that "refused: 10.0.0.1 is an internal
/// address" from the resolver reaches the log instead of "error sending request".
fn network_error(url: &str, e: &reqwest::Error) -> FetchError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    FetchError::Network { url: url.to_owned(), message, timeout: e.is_timeout() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").map(|d| d.with_timezone(&Utc));
        let Ok(now) = now else { panic!("bad test date") };
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 10:01:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
