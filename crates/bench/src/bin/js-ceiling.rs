//! `js-ceiling`: the plain JetStream publish rate on a server, the ceiling the pipeline is
//! compared with in `scripts/bench-e2e`.
//!
//! Usage: `js-ceiling --url nats://127.0.0.1:PORT [--msgs 50000] [--size 6144] [--inflight 256]
//! [--stream BENCH_CEILING] [--keep]`.
//!
//! Creates a fresh file-backed stream (deleting one of the same name first), publishes `msgs`
//! messages of `size` bytes with `Nats-Msg-Id` set on each and at most `inflight` publish acks
//! outstanding, from one async-nats client, and prints one JSON object:
//! `{"msgs_per_s":…,"msgs":…,"size":…,"inflight":…,"seconds":…,"server_version":…}`.
//! The stream is deleted afterwards unless `--keep` is given.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream::{self, message::PublishMessage, stream};

struct Args {
    url: String,
    msgs: usize,
    size: usize,
    inflight: usize,
    stream: String,
    keep: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: "nats://127.0.0.1:4222".to_owned(),
        msgs: 50_000,
        size: 6 * 1024,
        inflight: 256,
        stream: "BENCH_CEILING".to_owned(),
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--url" => args.url = value("--url")?,
            "--msgs" => args.msgs = value("--msgs")?.parse().context("--msgs: not a number")?,
            "--size" => args.size = value("--size")?.parse().context("--size: not a number")?,
            "--inflight" => {
                args.inflight = value("--inflight")?.parse().context("--inflight: not a number")?;
            }
            "--stream" => args.stream = value("--stream")?,
            "--keep" => args.keep = true,
            "-h" | "--help" => {
                println!(
                    "usage: js-ceiling --url URL [--msgs N] [--size BYTES] [--inflight N] [--stream NAME] [--keep]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if args.msgs == 0 || args.inflight == 0 {
        bail!("--msgs and --inflight must be at least 1");
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let client = tokio::time::timeout(Duration::from_secs(15), async_nats::connect(args.url.as_str()))
        .await
        .with_context(|| format!("connecting to {} timed out", args.url))?
        .with_context(|| format!("cannot connect to {}", args.url))?;
    let server_version = client.server_info().version;
    let js = jetstream::new(client.clone());
    let subject = format!("bench.ceiling.{}", args.stream.to_ascii_lowercase());

    // A fresh stream: the same shape as the pipeline's (file storage, limits, dedup window).
    if js.get_stream(&args.stream).await.is_ok() {
        js.delete_stream(&args.stream).await.context("deleting the old ceiling stream")?;
    }
    js.create_stream(stream::Config {
        name: args.stream.clone(),
        subjects: vec![subject.clone()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: Duration::from_secs(600),
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .context("creating the ceiling stream")?;

    // Text-like payload (Arabic UTF-8 bytes repeated), not compressible in any special way
    // since JetStream stores it as is.
    let pattern = "أجرى وزير الخارجية اتصالا هاتفيا مع نظيره لبحث العلاقات الثنائية. ".as_bytes();
    let payload: Vec<u8> = pattern.iter().copied().cycle().take(args.size).collect();

    let started = Instant::now();
    let mut in_flight: VecDeque<jetstream::context::PublishAckFuture> =
        VecDeque::with_capacity(args.inflight);
    let mut duplicates = 0usize;
    for i in 0..args.msgs {
        if in_flight.len() >= args.inflight
            && let Some(ack) = in_flight.pop_front()
        {
            duplicates += usize::from(ack.await.context("publish ack")?.duplicate);
        }
        let msg = PublishMessage::build().payload(payload.clone().into()).message_id(format!("ceiling-{i}"));
        let ack = js.send_publish(subject.clone(), msg).await.context("publish")?;
        in_flight.push_back(ack);
    }
    while let Some(ack) = in_flight.pop_front() {
        duplicates += usize::from(ack.await.context("publish ack")?.duplicate);
    }
    let seconds = started.elapsed().as_secs_f64();
    if duplicates > 0 {
        bail!("{duplicates} publishes were reported as duplicates: the stream was not fresh");
    }
    if !args.keep {
        js.delete_stream(&args.stream).await.context("deleting the ceiling stream")?;
    }
    let out = serde_json::json!({
        "msgs_per_s": (args.msgs as f64 / seconds).round(),
        "msgs": args.msgs,
        "size": args.size,
        "inflight": args.inflight,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "server_version": server_version,
    });
    println!("{out}");
    client.flush().await.context("flush")?;
    Ok(())
}
