//! Teaser feeds: the fetcher fetches each entry's page, politely, and the full article is
//! stored.

use std::time::Duration;

use newswire_model::{ArticleId, CanonicalUrl};
use newswire_store::ArticleStore;
use newswire_testkit::{Route, metric_value, seeds};

use crate::helpers::{Backend, spawn_pipeline};

/// The seeds as a feed of teasers: the first 100 characters and "…", each linking its page on
/// the test server (`paths[i]`).
fn teaser_rss(all: &[seeds::Seed], links: &[String]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>teasers</title><link>https://t.example/</link><description>d</description>\n",
    );
    for (s, link) in all.iter().zip(links) {
        let lead = s.paragraphs.iter().max_by_key(|p| p.len()).cloned().unwrap_or_default();
        let teaser: String = lead.chars().take(100).collect();
        out.push_str(&format!(
            "<item><title>{}</title><link>{}</link><description>{}…</description></item>\n",
            seeds::xml_escape(&s.title),
            seeds::xml_escape(link),
            seeds::xml_escape(&teaser),
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teaser_feed_ends_with_full_articles_fetched_politely() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    let all = seeds::load();
    assert!(all.len() >= 4, "the test needs at least four seeds");
    // The last seed's page is under a path robots.txt disallows; the first is rate-limited
    // once (429, Retry-After: 1); every page takes 1.2 s, so that with starts 0.5 s apart
    // (the default interval) three would be in flight at once without the per-host cap of 2.
    let paths: Vec<String> = (0..all.len())
        .map(
            |i| if i + 1 == all.len() { format!("/private/{i}.html") } else { format!("/articles/{i}.html") },
        )
        .collect();
    for (i, (s, path)) in all.iter().zip(&paths).enumerate() {
        let page = Route::Delayed {
            delay: Duration::from_millis(1200),
            content_type: "text/html; charset=utf-8".into(),
            body: s.html_page().into_bytes(),
        };
        let route = if i == 0 {
            Route::Limited { status: 429, retry_after_secs: 1, times: 1, then: Box::new(page) }
        } else {
            page
        };
        p.feeds.set(path, route);
    }
    p.feeds.set("/robots.txt", Route::body("text/plain", "User-agent: *\nDisallow: /private/\n"));
    let links: Vec<String> = paths.iter().map(|path| p.feeds.url(path)).collect();
    p.feeds.set("/teasers.rss", Route::body("application/rss+xml", teaser_rss(&all, &links)));

    let results = p.poll(&[("teasers", "/teasers.rss")]).await;
    let stats = results[0].1.as_ref().unwrap_or_else(|e| panic!("poll: {e}"));
    assert_eq!(stats.published, all.len());
    assert_eq!(stats.pages, all.len() - 1, "every allowed page replaced its teaser");
    assert_eq!(p.wait_for_articles(all.len() as u64).await, all.len() as u64);

    let store = p.store().await;
    for (i, (s, link)) in all.iter().zip(&links).enumerate() {
        let id = ArticleId::from_url(&CanonicalUrl::parse(link, None).unwrap());
        let a = store.get(&id).await.unwrap().unwrap_or_else(|| panic!("{} not stored", s.stem));
        // The whole lead paragraph (the teaser has its first 100 characters) and more.
        let lead =
            s.paragraphs.iter().take(3).max_by_key(|p| p.len()).map(|p| collapse(p)).unwrap_or_default();
        if i + 1 == all.len() {
            assert!(a.text.chars().count() <= 110, "{}: robots.txt disallowed the page: {}", s.stem, a.text);
        } else {
            assert!(
                a.text.contains(&lead) && a.text.chars().count() > lead.chars().count() + 100,
                "{}: the full article is stored: {}",
                s.stem,
                a.text
            );
        }
    }

    // Politeness: robots.txt read once, the disallowed page never requested, at most the
    // per-host limit in flight (2 by default), the 429 waited out and retried.
    assert_eq!(p.feeds.hits("/robots.txt"), 1);
    assert_eq!(p.feeds.hits(&paths[all.len() - 1]), 0);
    assert_eq!(p.feeds.hits(&paths[0]), 2, "the rate-limited page was asked again after Retry-After");
    let in_flight = p.feeds.max_in_flight();
    assert!(in_flight <= 2, "{in_flight} requests at once to one host");
    assert_eq!(in_flight, 2, "the per-host limit allows two at once: pages should overlap");

    let metrics = newswire_testkit::http_get(&format!("http://{}/metrics", p.fetcher_admin.addr)).await.1;
    let pages = |result: &str| {
        metric_value(&metrics, &format!("newswire_fetcher_pages_total{{result=\"{result}\"}}"))
    };
    assert_eq!(pages("fetched"), (all.len() - 1) as f64);
    assert_eq!(pages("skipped_robots"), 1.0);
    assert!(metrics.contains("newswire_fetcher_pages_total{result=\"failed\"} 0"), "present at 0");
    assert_eq!(metric_value(&metrics, "newswire_fetcher_host_backoffs_total"), 1.0);
    assert!(
        metric_value(&metrics, "newswire_fetcher_politeness_wait_seconds_sum") >= 1.0,
        "the Retry-After second is visible as a politeness wait"
    );

    // A second poll of the unchanged feed fetches no page again.
    p.feeds.set("/teasers.rss", Route::body("application/rss+xml", teaser_rss(&all, &links) + " "));
    let again = p.poll(&[("teasers", "/teasers.rss")]).await;
    let stats = again[0].1.as_ref().unwrap_or_else(|e| panic!("poll: {e}"));
    assert_eq!((stats.seen, stats.pages), (all.len(), 0));
    assert_eq!(p.feeds.hits(&paths[1]), 1);
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pages_keep_the_teaser_and_a_windows_1256_page_decodes() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    let all = seeds::load();
    let seed = &all[0];
    // A page in windows-1256 that says so only in its <meta>; an image; a 404; a link that is
    // a script; a page whose article is no longer than the teaser.
    let page = seed.html_page().replace("<meta charset=\"utf-8\">", "<meta charset=\"windows-1256\">");
    let (cp1256, _, _) = encoding_rs::WINDOWS_1256.encode(&page);
    p.feeds.set("/cp1256.html", Route::body("text/html", cp1256.into_owned()));
    p.feeds
        .set("/image.html", Route::body("image/png", vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2, 3]));
    p.feeds.set(
        "/thin.html",
        Route::body("text/html", "<html><body><nav>Home</nav><p>Talks resumed.</p></body></html>"),
    );
    let links = [
        p.feeds.url("/cp1256.html"),
        p.feeds.url("/image.html"),
        p.feeds.url("/missing.html"),
        "javascript:alert(1)".to_owned(),
        p.feeds.url("/thin.html"),
    ];
    let items: String = links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "<item><title>Item {i}</title><link>{}</link><guid>g{i}</guid><description>Teaser number {i} of the feed…</description></item>",
                seeds::xml_escape(l)
            )
        })
        .collect();
    let rss = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>"
    );
    p.feeds.set("/bad.rss", Route::body("application/rss+xml", rss));
    let results = p.poll(&[("bad", "/bad.rss")]).await;
    let stats = results[0].1.as_ref().unwrap_or_else(|e| panic!("poll: {e}"));
    assert_eq!((stats.published, stats.pages), (links.len(), 1), "every entry published; one page used");
    assert_eq!(p.wait_for_articles(links.len() as u64).await, links.len() as u64);

    let store = p.store().await;
    let id = ArticleId::from_url(&CanonicalUrl::parse(&links[0], None).unwrap());
    let a = store.get(&id).await.unwrap().expect("the windows-1256 page's article");
    let lead =
        seed.paragraphs.iter().take(3).max_by_key(|p| p.len()).map(|p| collapse(p)).unwrap_or_default();
    assert!(a.text.contains(&lead), "decoded as windows-1256: {}", a.text);
    let metrics = newswire_testkit::http_get(&format!("http://{}/metrics", p.fetcher_admin.addr)).await.1;
    let pages = |result: &str| {
        metric_value(&metrics, &format!("newswire_fetcher_pages_total{{result=\"{result}\"}}"))
    };
    // The `javascript:` entry has no link at all once parsed: no page is asked for.
    assert_eq!((pages("fetched"), pages("failed"), pages("kept_feed_text")), (1.0, 2.0, 1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_whose_host_asks_for_a_long_wait_is_held_back_then_completed() {
    let mut p = spawn_pipeline(Backend::Sqlite).await;
    // A fetcher that waits at most 1 s for a host.
    let mut settings = p.settings.fetcher.clone();
    settings.page_max_wait_secs = 1;
    let registry = newswire_telemetry::Registry::new();
    let metrics = newswire_telemetry::metrics::FetcherMetrics::new(&registry).unwrap();
    let admin = newswire_telemetry::serve_admin(
        "127.0.0.1:0",
        registry,
        newswire_telemetry::Health::new(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let http = newswire_fetch::HttpFetcher::new(&settings).unwrap();
    let pages = newswire_fetch::PageFetcher::new(http.clone(), &settings, metrics.clone());
    p.fetcher = newswire_fetch::service::Fetcher::new(http, p.bus.clone(), metrics).with_pages(pages);

    let seed = &seeds::load()[1];
    let page = Route::body("text/html; charset=utf-8", seed.html_page());
    // Retry-After: 3 s, beyond the 1 s the fetcher waits.
    p.feeds.set(
        "/busy.html",
        Route::Limited { status: 503, retry_after_secs: 3, times: 1, then: Box::new(page) },
    );
    let link = p.feeds.url("/busy.html");
    p.feeds.set(
        "/busy.rss",
        Route::body(
            "application/rss+xml",
            teaser_rss(std::slice::from_ref(seed), std::slice::from_ref(&link)),
        ),
    );

    let first = p.poll(&[("busy", "/busy.rss")]).await;
    let stats = first[0].1.as_ref().unwrap_or_else(|e| panic!("poll: {e}"));
    assert_eq!((stats.published, stats.deferred), (0, 1), "held back, not published with its teaser");
    p.wait_drained().await;
    assert_eq!(p.store().await.count().await.unwrap(), 0);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let second = p.poll(&[("busy", "/busy.rss")]).await;
    let stats = second[0].1.as_ref().unwrap_or_else(|e| panic!("poll: {e}"));
    assert_eq!((stats.published, stats.pages, stats.deferred), (1, 1, 0));
    assert_eq!(p.wait_for_articles(1).await, 1);
    let id = ArticleId::from_url(&CanonicalUrl::parse(&link, None).unwrap());
    let a = p.store().await.get(&id).await.unwrap().expect("stored");
    assert!(a.text.chars().count() > 300, "the full article: {}", a.text);
    assert_eq!(
        metric_value(&exposition(&admin).await, "newswire_fetcher_pages_total{result=\"deferred\"}"),
        1.0
    );
    assert_eq!(metric_value(&exposition(&admin).await, "newswire_fetcher_host_backoffs_total"), 1.0);
}

async fn exposition(admin: &newswire_telemetry::AdminServer) -> String {
    newswire_testkit::http_get(&format!("http://{}/metrics", admin.addr)).await.1
}

/// An entry larger than a NATS message (1 MiB by default) is cut to fit and published, with a
/// counter; it used to fail on every poll forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_larger_than_a_bus_message_is_trimmed_and_stored() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    let all = seeds::load();
    let huge = "<p>".to_owned() + &"نص طويل جدا لمقال ضخم يتجاوز حد الرسالة. ".repeat(40_000) + "</p>";
    assert!(huge.len() > 1_500_000);
    let big_rss = seeds::rss(&all).replacen(
        "<content:encoded><![CDATA[",
        &format!("<content:encoded><![CDATA[{huge}"),
        1,
    );
    p.feeds.set("/big.rss", Route::body("application/rss+xml", big_rss));
    let results = p.poll(&[("big", "/big.rss")]).await;
    let stats = results[0].1.as_ref().unwrap_or_else(|e| panic!("poll: {e}"));
    assert_eq!((stats.published, stats.failed), (all.len(), 0), "every entry on the bus");
    assert_eq!(p.wait_for_articles(all.len() as u64).await, all.len() as u64);
    let metrics = newswire_testkit::http_get(&format!("http://{}/metrics", p.fetcher_admin.addr)).await.1;
    assert_eq!(metric_value(&metrics, "newswire_fetcher_items_trimmed_total"), 1.0);
}

/// Hosts that accept connections and never answer take a fetch slot for at most the read
/// timeout, and then back off: the healthy feed keeps being polled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_hosts_do_not_starve_the_healthy_feeds() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    // Twenty listeners that accept and hold every connection without a byte of answer.
    let mut urls = Vec::new();
    for _ in 0..20 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}/feed.xml", listener.local_addr().unwrap()));
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
    }
    let all = seeds::load();
    p.feeds.set("/healthy.rss", Route::body("application/rss+xml", seeds::rss(&all)));
    let mut toml = String::new();
    for (i, u) in urls.iter().enumerate() {
        toml.push_str(&format!("[[feed]]\nid = \"hang{i}\"\nurl = \"{u}\"\npoll_interval_secs = 1\n\n"));
    }
    toml.push_str(&format!(
        "[[feed]]\nid = \"healthy\"\nurl = \"{}\"\npoll_interval_secs = 1\n",
        p.feeds.url("/healthy.rss")
    ));
    let mut settings = p.settings.fetcher.clone();
    settings.read_timeout_secs = 1;
    settings.max_concurrency = 4;
    let guard = newswire_fetch::NetGuard { allow_private: true, allow_files: false };
    let list = newswire_fetch::FeedList::parse(&toml, "test", &guard, Duration::from_secs(1)).unwrap();
    let registry = newswire_telemetry::Registry::new();
    let metrics = newswire_telemetry::metrics::FetcherMetrics::new(&registry).unwrap();
    let fetcher = newswire_fetch::service::Fetcher::new(
        newswire_fetch::HttpFetcher::new(&settings).unwrap(),
        p.bus.clone(),
        metrics,
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(fetcher.run(
        list,
        settings.max_concurrency,
        settings.max_fetches_per_host,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(20)).await;
    shutdown.cancel();
    let _ = run.await;
    // Polled every second when healthy. Without back-off the twenty hanging feeds need 5 s of
    // the four slots every round, and the healthy one waits its turn behind them each time:
    // 7 polls in 20 s when measured; 14 with the back-off.
    let hits = p.feeds.hits("/healthy.rss");
    assert!(hits >= 11, "the healthy feed was polled {hits} times in 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_host_with_many_feeds_holds_only_its_share_of_the_slots() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    // One host that accepts every connection and never answers, carrying twenty feeds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let all = seeds::load();
    p.feeds.set("/healthy.rss", Route::body("application/rss+xml", seeds::rss(&all)));
    let mut toml = String::new();
    for i in 0..20 {
        toml.push_str(&format!(
            "[[feed]]\nid = \"hang{i}\"\nurl = \"http://{hanging}/{i}.xml\"\npoll_interval_secs = 1\n\n"
        ));
    }
    toml.push_str(&format!(
        "[[feed]]\nid = \"healthy\"\nurl = \"{}\"\npoll_interval_secs = 1\n",
        p.feeds.url("/healthy.rss")
    ));
    let mut settings = p.settings.fetcher.clone();
    // A long read timeout: back-off alone would leave the hanging feeds holding every slot
    // for 8 s at a time.
    settings.read_timeout_secs = 8;
    settings.max_concurrency = 4;
    settings.max_fetches_per_host = 2;
    let guard = newswire_fetch::NetGuard { allow_private: true, allow_files: false };
    let list = newswire_fetch::FeedList::parse(&toml, "test", &guard, Duration::from_secs(1)).unwrap();
    let registry = newswire_telemetry::Registry::new();
    let metrics = newswire_telemetry::metrics::FetcherMetrics::new(&registry).unwrap();
    let fetcher = newswire_fetch::service::Fetcher::new(
        newswire_fetch::HttpFetcher::new(&settings).unwrap(),
        p.bus.clone(),
        metrics,
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(fetcher.run(
        list,
        settings.max_concurrency,
        settings.max_fetches_per_host,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(20)).await;
    shutdown.cancel();
    let _ = run.await;
    // Polled every second: the hanging host holds two of the four slots, never all four.
    // Without the per-host limit the healthy feed waits behind four 8-second reads at a time.
    let hits = p.feeds.hits("/healthy.rss");
    assert!(hits >= 15, "the healthy feed was polled {hits} times in 20 s");
}
