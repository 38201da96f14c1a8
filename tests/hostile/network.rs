//! Hostile servers, through the real `HttpFetcher` against local servers on 127.0.0.1.
//! (`tests/e2e/fetch_errors.rs` checks the error each gives; here, the bounds.)

use std::io::Write;
use std::time::{Duration, Instant};

use newswire_fetch::service::fetch_and_parse;
use newswire_fetch::{FeedList, FetchError, FetcherSettings, HttpFetcher, NetGuard, ParsedFeed, Validators};
use newswire_testkit::{FeedServer, Route};

use crate::bounds::{MIB, block_on, bounded, turn};

/// The defaults (10 MB bodies, 30 s per request, 5 redirects), on loopback.
fn settings() -> FetcherSettings {
    FetcherSettings { allow_private_networks: true, ..FetcherSettings::default() }
}

async fn fetch(settings: &FetcherSettings, url: &str) -> Result<ParsedFeed, FetchError> {
    let guard = NetGuard { allow_private: settings.allow_private_networks, allow_files: false };
    let toml = format!("[[feed]]\nid = \"hostile\"\nurl = \"{url}\"\n");
    let list = FeedList::parse(&toml, "test", &guard, Duration::from_secs(60))?;
    let http = HttpFetcher::new(settings)?;
    let parsed = fetch_and_parse(&http, &list.feeds[0], &Validators::default()).await?;
    Ok(parsed.expect("no validators were sent, so no 304").0)
}

/// `inflated` bytes of `<rss>` and spaces, gzip-compressed (about a thousandth of the size).
fn gzip_bomb(inflated: usize) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"<rss version=\"2.0\"><channel>").unwrap();
    let block = vec![b' '; MIB];
    for _ in 0..inflated / MIB {
        gz.write_all(&block).unwrap();
    }
    gz.finish().unwrap()
}

#[test]
fn a_gzip_bomb_stops_at_the_body_limit() {
    let turn = turn();
    let bomb = gzip_bomb(1 << 30);
    assert!(bomb.len() < 4 * MIB, "the bomb is {} bytes", bomb.len());
    let limit = settings().max_body_bytes;
    // 1 GiB inflated against a 10 MB limit: the transfer stops at the limit, so the heap stays
    // within a few times the limit.
    let e = bounded(&turn, "gzip bomb (1 GiB inflated)", 60, 10 * limit, move || {
        block_on(async move {
            let server = FeedServer::start().await;
            server.set("/bomb.rss", Route::Gzip { content_type: "application/rss+xml".into(), body: bomb });
            fetch(&settings(), &server.url("/bomb.rss")).await.err()
        })
    });
    assert!(matches!(e, Some(FetchError::TooLarge { .. })), "{e:?}");
}

#[test]
fn an_endless_body_stops_at_the_body_limit() {
    let turn = turn();
    let settings = FetcherSettings { max_body_bytes: 2 * MIB, ..settings() };
    let limit = settings.max_body_bytes;
    let e = bounded(&turn, "endless body", 60, 10 * limit, move || {
        block_on(async move {
            let server = FeedServer::start().await;
            server.set("/endless.rss", Route::Endless);
            fetch(&settings, &server.url("/endless.rss")).await.err()
        })
    });
    assert!(matches!(e, Some(FetchError::TooLarge { .. })), "{e:?}");
}

#[test]
fn slowloris_servers_are_cut_off_by_the_request_timeout() {
    let turn = turn();
    // One byte a second: every read is quick (under `read_timeout_secs`), the response never
    // ends in reasonable time. Only the whole-request timeout cuts it.
    let settings = FetcherSettings { timeout_secs: 3, read_timeout_secs: 2, ..settings() };
    let body = format!("<rss version=\"2.0\"><channel>{}</channel></rss>", " ".repeat(1000)).into_bytes();
    let first = settings.clone();
    bounded(&turn, "slowloris body", 30, 16 * MIB, move || {
        let settings = first;
        block_on(async move {
            let server = FeedServer::start().await;
            server.set("/slow.rss", Route::Trickle { interval: Duration::from_secs(1), body });
            let started = Instant::now();
            let e = fetch(&settings, &server.url("/slow.rss")).await.expect_err("a trickle accepted");
            assert!(matches!(e, FetchError::Network { timeout: true, .. }), "{e}");
            assert!(started.elapsed() < Duration::from_secs(15), "cut off after {:?}", started.elapsed());
        })
    });
    // The same with the status line and headers: the server never gets to the body.
    bounded(&turn, "slowloris headers", 30, 16 * MIB, move || {
        block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let (mut socket, _) = listener.accept().await.unwrap();
                // The request first (a client refuses a response it did not ask for yet).
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss/>" {
                    if socket.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
            let started = Instant::now();
            let e =
                fetch(&settings, &format!("http://{addr}/slow.rss")).await.expect_err("a trickle accepted");
            assert!(matches!(e, FetchError::Network { timeout: true, .. }), "{e}");
            assert!(started.elapsed() < Duration::from_secs(15), "cut off after {:?}", started.elapsed());
            server.abort();
        })
    });
}

#[test]
fn a_redirect_loop_ends_after_max_redirects() {
    let turn = turn();
    let (e, hits) = bounded(&turn, "redirect loop", 30, 16 * MIB, || {
        block_on(async {
            let server = FeedServer::start().await;
            server.set("/a", Route::Redirect("/b".into()));
            server.set("/b", Route::Redirect(server.url("/a")));
            let e = fetch(&settings(), &server.url("/a")).await.err();
            (e, server.hits("/a") + server.hits("/b"))
        })
    });
    let e = e.expect("a redirect loop accepted");
    assert!(e.to_string().contains("redirects"), "{e}");
    // The first request and at most max_redirects (5) more.
    assert!(hits <= 6, "{hits} requests");
}

#[test]
fn external_entities_never_make_a_request() {
    let turn = turn();
    bounded(&turn, "external entity over HTTP", 30, 16 * MIB, || {
        block_on(async {
            let server = FeedServer::start().await;
            let xxe = server.url("/xxe");
            server.set("/xxe", Route::body("text/plain", "NEWSWIRE-XXE-FETCHED"));
            let feed = format!(
                "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY x SYSTEM \"{xxe}\">\n\
                 <!ENTITY % p SYSTEM \"{xxe}?param\"> %p;\n]>\n<rss version=\"2.0\"><channel><title>t</title>\
                 <item><title>a &x; b</title><link>https://hostile.example/a</link><description>&x;</description></item>\
                 </channel></rss>"
            );
            server.set("/feed.rss", Route::body("application/rss+xml", feed));
            if let Ok(parsed) = fetch(&settings(), &server.url("/feed.rss")).await {
                for item in &parsed.items {
                    let json = serde_json::to_string(item).unwrap();
                    assert!(!json.contains("NEWSWIRE-XXE-FETCHED"), "{json}");
                }
            }
            assert_eq!(server.hits("/xxe"), 0, "the parser fetched an external entity");
        })
    });
}
