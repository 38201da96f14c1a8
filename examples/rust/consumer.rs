//! A durable pull consumer of newswire's articles, typed with `newswire-model`.
//!
//! Each message is decoded as an [`Article`], acknowledged, then printed as one JSON line
//! (`{"id", "title", "story_id"}`) on stdout. The consumer is durable: restarted, it resumes
//! after the last acknowledged article.
//!
//! ```sh
//! cargo run -p newswire-e2e --example newswire-consumer -- nats://127.0.0.1:4222 'news.articles.ar.>'
//! ```
//!
//! Arguments: server URL, subject filter, durable name (default `example-rust`), stream
//! (default `NEWS_ARTICLES`).

#![allow(clippy::print_stdout, reason = "an example: stdout is its output")]

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use newswire_model::Article;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let subject = args.next().unwrap_or_else(|| "news.articles.ar.>".to_owned());
    let durable = args.next().unwrap_or_else(|| "example-rust".to_owned());
    let stream = args.next().unwrap_or_else(|| "NEWS_ARTICLES".to_owned());

    let client = async_nats::connect(&url).await?;
    let js = jetstream::new(client);
    let consumer = js
        .get_stream(&stream)
        .await?
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: subject.clone(),
                // Explicit acks: what is not acked within ack_wait comes again; what is, never.
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await?;
    eprintln!("consuming {subject} from {stream} as {durable}");
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        match serde_json::from_slice::<Article>(&msg.payload) {
            Ok(article) => {
                // Acknowledged (and confirmed by the server) before it is handed on.
                msg.double_ack().await?;
                let line = serde_json::json!({
                    "id": article.id,
                    "title": article.title,
                    "story_id": article.story_id,
                    "revision": article.revision.map(|r| r.number),
                });
                println!("{line}");
            }
            Err(error) => {
                // Not an article of this contract: say so, and do not be handed it forever.
                eprintln!("skipping message on {}: {error}", msg.subject);
                msg.ack().await?;
            }
        }
    }
    Ok(())
}
