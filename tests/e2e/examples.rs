//! The consumer examples against a real nats-server: the Python one from a venv made from
//! PyPI, the Rust one as built by cargo. Each is killed and restarted; every article must have
//! arrived exactly once across the restart (acks, not dedup, make redelivery not happen).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use newswire_bus::{Bus, ClientRole};
use newswire_model::{Article, ArticleId, Category, Fingerprints, Lang, SourceId};
use newswire_testkit::{TestNats, wait_until};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn article(n: u32, lang: &str) -> Article {
    let id = ArticleId::digest(&["example", &n.to_string()]);
    Article {
        schema_version: 1,
        id: id.clone(),
        canonical_url: Some(format!("https://example.org/{n}")),
        source_id: SourceId::parse("example").unwrap(),
        feed_url: "https://example.org/feed".into(),
        title: format!("عنوان {n}"),
        text: format!("نص {n}"),
        language: Lang::parse(lang).unwrap(),
        category: Category::general(),
        published_at: None,
        fetched_at: chrono::Utc::now(),
        processed_at: chrono::Utc::now(),
        authors: vec![],
        entities: vec![],
        keywords: vec![],
        summary: None,
        categories: vec![],
        story_id: Some(id.to_string()),
        fingerprints: Fingerprints { content_hash: id.to_string(), simhash: None },
        duplicate: None,
        revision: None,
    }
}

/// A running example: the ids it printed arrive on `lines`.
struct Running {
    child: Child,
}

fn spawn(mut cmd: Command, tx: mpsc::UnboundedSender<String>) -> Running {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let _ = tx.send(v["id"].as_str().unwrap().to_owned());
        }
    });
    Running { child }
}

async fn publish(bus: &Bus, range: std::ops::Range<u32>) -> Vec<String> {
    let mut ids = Vec::new();
    for n in range {
        let a = article(n, "ar");
        bus.publish_article(&a).await.unwrap();
        ids.push(a.id.to_string());
        // Not the consumer's subject: must never arrive.
        bus.publish_article(&article(n + 10_000, "en")).await.unwrap();
    }
    ids
}

async fn received(rx: &mut mpsc::UnboundedReceiver<String>, seen: &mut HashMap<String, u32>, n: usize) {
    wait_until(Duration::from_secs(60), &format!("{n} articles at the consumer"), || {
        while let Ok(id) = rx.try_recv() {
            *seen.entry(id).or_default() += 1;
        }
        let total: u32 = seen.values().sum();
        std::future::ready((total as usize >= n).then_some(()))
    })
    .await;
}

/// Runs an example twice around a kill, with articles published before, between and during.
async fn exactly_once_across_a_restart(command: impl Fn(&str) -> Command) {
    let nats = TestNats::start();
    let settings = newswire_bus::BusSettings { url: nats.url(), ..Default::default() };
    let bus = Bus::connect(&settings, "examples", ClientRole::All).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut seen = HashMap::new();

    let mut first = spawn(command(&nats.url()), tx.clone());
    let mut expected = publish(&bus, 0..20).await;
    received(&mut rx, &mut seen, 20).await;
    first.child.kill().await.unwrap();

    // Published while no consumer runs: the durable consumer keeps them.
    expected.extend(publish(&bus, 20..35).await);
    let _second = spawn(command(&nats.url()), tx);
    expected.extend(publish(&bus, 35..50).await);
    received(&mut rx, &mut seen, 50).await;
    // Anything redelivered would come within a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok(id) = rx.try_recv() {
        *seen.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "received more than once: {twice:?}");
    let mut got: Vec<_> = seen.keys().cloned().collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "every Arabic article once, no other");
}

/// A venv with the example's requirements, made once per requirements file.
fn python_venv() -> PathBuf {
    let dir = repo().join("examples/python");
    let requirements = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
    let key = format!("{:016x}", {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        requirements.hash(&mut h);
        h.finish()
    });
    let venv = repo().join("target").join(format!("example-python-venv-{key}"));
    let python = venv.join("bin/python");
    if python.is_file() && venv.join(".installed").is_file() {
        return python;
    }
    let made = std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv).output();
    let made = made.unwrap_or_else(|e| {
        panic!("python3 not found ({e}); install it: apt-get install python3 python3-venv")
    });
    assert!(
        made.status.success(),
        "python3 -m venv failed ({}); install the venv module: apt-get install python3-venv",
        String::from_utf8_lossy(&made.stderr).trim()
    );
    let pip = std::process::Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(dir.join("requirements.txt"))
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install -r requirements.txt failed: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    std::fs::write(venv.join(".installed"), "").unwrap();
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_consumer_receives_every_arabic_article_exactly_once_across_a_restart() {
    let python = python_venv();
    let script = repo().join("examples/python/consumer.py");
    exactly_once_across_a_restart(|url| {
        let mut c = Command::new(&python);
        c.arg(&script).args(["--url", url]);
        c
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_consumer_receives_every_arabic_article_exactly_once_across_a_restart() {
    // `cargo test` builds the examples of the test crate next to the test binary's directory.
    let exe = std::env::current_exe().unwrap();
    let example = exe.parent().and_then(|d| d.parent()).unwrap().join("examples/newswire-consumer");
    assert!(
        example.is_file(),
        "{} not built; run `cargo build -p newswire-e2e --examples`",
        example.display()
    );
    exactly_once_across_a_restart(|url| {
        let mut c = Command::new(&example);
        c.args([url, "news.articles.ar.>", "example-rust"]);
        c
    })
    .await;
}
