//! Bad feeds over real HTTP: each gets a clear error, nothing panics or hangs.

use std::time::Duration;

use newswire_fetch::service::fetch_and_parse;
use newswire_fetch::{FeedList, FetchError, FetcherSettings, HttpFetcher, NetGuard, Validators};
use newswire_testkit::{FeedServer, Route, seeds};

fn settings() -> FetcherSettings {
    FetcherSettings {
        allow_private_networks: true,
        timeout_secs: 2,
        max_body_bytes: 256 * 1024,
        ..FetcherSettings::default()
    }
}

async fn fetch(settings: &FetcherSettings, url: &str) -> Result<Vec<newswire_model::RawItem>, FetchError> {
    let guard = NetGuard { allow_private: settings.allow_private_networks, allow_files: false };
    let list = FeedList::parse(
        &format!("[[feed]]\nid = \"t\"\nurl = \"{url}\"\n"),
        "test",
        &guard,
        Duration::from_secs(60),
    )?;
    // A feeds-file entry the guard refuses is set aside (the other feeds run): here, the one
    // entry is the fetch, so its refusal is the fetch's error.
    if let Some(r) = list.rejected.first() {
        return Err(FetchError::Refused { url: r.url.clone(), reason: r.reason.clone() });
    }
    let http = HttpFetcher::new(settings)?;
    let feed = &list.feeds[0];
    Ok(fetch_and_parse(&http, feed, &Validators::default()).await?.map(|(p, _)| p.items).unwrap_or_default())
}

#[tokio::test]
async fn windows_1256_feeds_decode_from_header_or_declaration() {
    let server = FeedServer::start().await;
    let all = seeds::load();
    let utf8 = seeds::rss(&all);
    let declared = utf8.replacen("encoding=\"utf-8\"", "encoding=\"windows-1256\"", 1);
    server.set("/declared.xml", Route::body("application/rss+xml", cp1256(&declared)));
    // Header says windows-1256, declaration (wrongly) says utf-8: the header wins.
    server.set("/header.xml", Route::body("text/xml; charset=windows-1256", cp1256(&utf8)));
    for path in ["/declared.xml", "/header.xml"] {
        let items = fetch(&settings(), &server.url(path)).await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(items.len(), 5, "{path}");
        assert_eq!(items[0].title.as_deref(), Some(all[0].title.as_str()), "{path}");
        assert_eq!(items[0].http.as_ref().and_then(|h| h.charset.as_deref()), Some("windows-1256"));
    }
}

/// Encodes in windows-1256.
fn cp1256(s: &str) -> Vec<u8> {
    // Characters windows-1256 lacks (a few Persian letters) become numeric character
    // references, which is what a legacy CMS emits too.
    encoding_rs::WINDOWS_1256.encode(s).0.into_owned()
}

#[tokio::test]
async fn html_malformed_empty_and_binary_bodies_are_clear_errors() {
    let server = FeedServer::start().await;
    server.set(
        "/page",
        Route::body(
            "text/html",
            "<!DOCTYPE html><html><head><title>x</title></head><body>news</body></html>",
        ),
    );
    server.set(
        "/malformed",
        Route::body(
            "application/rss+xml",
            "<?xml version=\"1.0\"?><rss><channel><item><title>a</title></channel>",
        ),
    );
    server.set("/empty", Route::body("application/rss+xml", ""));
    server.set(
        "/binary",
        Route::body("application/octet-stream", (0u8..=255).cycle().take(4096).collect::<Vec<u8>>()),
    );
    let cases = [
        ("/page", "not a feed: an HTML page"),
        ("/malformed", "malformed feed"),
        ("/empty", "not a feed: empty body"),
        ("/binary", "not a feed"),
    ];
    for (path, want) in cases {
        let e =
            fetch(&settings(), &server.url(path)).await.err().unwrap_or_else(|| panic!("{path} accepted"));
        let msg = e.to_string();
        assert!(msg.contains(want), "{path}: {msg}");
        assert!(msg.contains(&server.url(path)), "error must name the input: {msg}");
    }
}

#[tokio::test]
async fn endless_and_huge_bodies_stop_at_the_size_limit() {
    let server = FeedServer::start().await;
    server.set("/endless", Route::Endless);
    server.set("/huge", Route::body("application/rss+xml", vec![b' '; 1024 * 1024]));
    for path in ["/endless", "/huge"] {
        let e =
            fetch(&settings(), &server.url(path)).await.err().unwrap_or_else(|| panic!("{path} accepted"));
        assert!(matches!(e, FetchError::TooLarge { limit: 262_144, .. }), "{path}: {e}");
    }
}

#[tokio::test]
async fn slow_servers_time_out_and_error_statuses_are_reported() {
    let server = FeedServer::start().await;
    server.set("/slow", Route::Slow { delay: Duration::from_secs(10), body: b"<rss/>".to_vec() });
    server.set("/gone", Route::Status(404));
    server.set("/busy", Route::Status(503));
    let started = std::time::Instant::now();
    let e = fetch(&settings(), &server.url("/slow")).await.expect_err("slow accepted");
    assert!(matches!(e, FetchError::Network { timeout: true, .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(8), "the 2 s timeout was not applied");
    let e = fetch(&settings(), &server.url("/gone")).await.expect_err("404 accepted");
    assert_eq!(e.kind(), newswire_fetch::FetchErrorKind::Content);
    assert!(e.to_string().ends_with("HTTP 404"), "{e}");
    let e = fetch(&settings(), &server.url("/busy")).await.expect_err("503 accepted");
    assert_eq!(e.kind(), newswire_fetch::FetchErrorKind::Transient);
}

#[tokio::test]
async fn the_ssrf_guard_refuses_internal_addresses_by_default() {
    let server = FeedServer::start().await;
    server.set("/seeds.rss", Route::body("application/rss+xml", seeds::rss(&seeds::load())));
    let strict = FetcherSettings { allow_private_networks: false, ..settings() };
    let url = server.url("/seeds.rss");
    let port = url.split(':').nth(2).and_then(|p| p.split('/').next()).unwrap().to_owned();
    // An IP literal is refused when the URL is parsed.
    let e = fetch(&strict, &url).await.expect_err("loopback literal accepted");
    assert!(e.to_string().contains("internal address"), "{e}");
    // A host name resolving to loopback is refused by the resolver (the guard's own unit
    // tests cover that path with a name from /etc/hosts), and so is `localhost` by name.
    let e = fetch(&strict, &format!("http://localhost:{port}/seeds.rss"))
        .await
        .expect_err("loopback name accepted");
    assert!(e.to_string().contains("internal address"), "{e}");
    // The metadata service address is refused too.
    let e = fetch(&strict, "http://169.254.169.254/latest/meta-data/").await.expect_err("metadata accepted");
    assert!(e.to_string().contains("internal address"), "{e}");
    // Allowed when configured.
    assert_eq!(fetch(&settings(), &url).await.expect("allowed").len(), 5);
}
