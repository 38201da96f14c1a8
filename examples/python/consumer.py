"""A durable pull consumer of newswire's Arabic articles (news.articles.ar.>).

Each article is acknowledged, then printed as one JSON line (`{"id": ..., "title": ...}`) on
stdout. Because the consumer is durable, a restarted consumer resumes after the last
acknowledged article: nothing acked is delivered again, nothing published meanwhile is missed.

    python consumer.py --url nats://127.0.0.1:4222

Stop with Ctrl-C or SIGTERM: the batch in hand is finished first.
"""

import argparse
import asyncio
import json
import signal
import sys

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="nats://127.0.0.1:4222", help="NATS server URL")
    p.add_argument("--stream", default="NEWS_ARTICLES", help="the article stream (nats.articles_stream.name)")
    p.add_argument("--subject", default="news.articles.ar.>", help="filter: Arabic articles, every category")
    p.add_argument("--durable", default="example-python", help="durable consumer name: yours, not the sink's")
    p.add_argument("--batch", type=int, default=32, help="messages pulled at once")
    args = p.parse_args()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    nc = await nats.connect(args.url, name="newswire-example-python")
    js = nc.jetstream()
    # Explicit acks: the server redelivers what was not acked within ack_wait, so an article
    # is never lost to a crash; what was acked is never delivered again.
    config = ConsumerConfig(
        durable_name=args.durable,
        filter_subject=args.subject,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30,
    )
    sub = await js.pull_subscribe(args.subject, durable=args.durable, stream=args.stream, config=config)
    print(f"consuming {args.subject} from {args.stream} as {args.durable}", file=sys.stderr, flush=True)
    while not stop.is_set():
        try:
            msgs = await sub.fetch(args.batch, timeout=1)
        except NatsTimeout:
            continue
        for msg in msgs:
            try:
                article = json.loads(msg.data)
            except ValueError:
                # Not an article: acknowledge it away rather than be handed it forever.
                await msg.ack_sync()
                continue
            # Acknowledged before it is handed on: a consumer that dies right here loses the
            # line but never sees the article twice. Print first (and dedup by `id`) if you
            # prefer at-least-once.
            await msg.ack_sync()
            revision = (article.get("revision") or {}).get("number")
            print(json.dumps({"id": article["id"], "title": article.get("title"), "revision": revision},
                             ensure_ascii=False), flush=True)
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
