#!/usr/bin/env python3
"""A local feed farm for scripts/bench-e2e: F feeds x M items of RSS 2.0, served on 127.0.0.1.

Deterministic for a given --seed (and vocabulary source). Every item has a unique link, a
pubDate and its full text (3-6 KB, <p> paragraphs) in <content:encoded>. Half the feeds are
Arabic, half English; words are drawn with their real frequencies (the PyPI package wordfreq,
installed with pip when missing; if that fails, a vocabulary counted from ../shared/seeds and
../shared/corpora/trafilatura-eval). Named entities are sprinkled in, and a few recurring
"stories" (articles sharing rare topic words and entities) give clustering something to do;
most articles are unrelated.

Copies, each in another feed of the same language and published later than its original:
  - exact re-publications (--exact, default 10 % of items): same title and text, another link;
  - near copies (--near, default 3 %): the same text with another outlet's header or footer
    line added and one sentence dropped.
Exact and near groups are disjoint, so the canonical article of a group does not depend on
the order in which the pipeline happens to see its members.

The ground truth (--ground-truth PATH) lists, for every link, its feed, language, copy group
(if any) and story (if any), and every group with its members (original first).

Modes:
  backlog (default): every item is visible at once; pubDates lie within 72 hours before a
    fixed date, so the farm is the same on every run.
  live (--live RATE): items become visible at a steady aggregate RATE items/s, in pubDate
    order, pubDate = the moment the item appears. The clock starts at the first feed request
    (so nothing is missed before the fetcher's first poll); each feed shows only its latest
    --live-window items, like a real feed. GET /stats tells how far the schedule is and how
    many items left a feed's window without ever having been served (missed by the fetcher).

Serving: ThreadingHTTPServer on --host (127.0.0.1) and --port (0: a free port). Paths:
/feeds/<id>.xml, /feeds.toml (the feeds file), /stats. Once listening, one JSON line is
printed on stdout ({"url":…, "port":…, "feeds":…, "items":…}) and written to --ready-file.
--feeds-toml PATH writes the feeds file (with the real port) before that line is printed.
--write-dir DIR writes the feeds as files (backlog mode) and --no-serve stops there.

Usage: bench/farm.py [--feeds 200] [--items 50] [--seed 1] [--live 500] [--port 0] ...
"""

from __future__ import annotations

import argparse
import bisect
import collections
import email.utils
import gzip
import html
import importlib
import json
import math
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
BACKLOG_END = datetime(2025, 3, 4, 12, 0, 0, tzinfo=timezone.utc)
BACKLOG_SPAN = timedelta(hours=72)  # inside the processor's story_max_gap_hours (96)
VOCAB_SIZE = 30000

# (English, Arabic) spellings of named entities, as a news text would write them.
ENTITIES = [
    ("Vladimir Putin", "فلاديمير بوتين"), ("Donald Trump", "دونالد ترامب"),
    ("Joe Biden", "جو بايدن"), ("Sergey Lavrov", "سيرغي لافروف"), ("Marco Rubio", "ماركو روبيو"),
    ("Volodymyr Zelensky", "فولوديمير زيلينسكي"), ("Benjamin Netanyahu", "بنيامين نتنياهو"),
    ("Emmanuel Macron", "إيمانويل ماكرون"), ("Xi Jinping", "شي جين بينغ"),
    ("Recep Tayyip Erdogan", "رجب طيب أردوغان"), ("Antonio Guterres", "أنطونيو غوتيريش"),
    ("Abdel Fattah al-Sisi", "عبد الفتاح السيسي"), ("Mohammed bin Salman", "محمد بن سلمان"),
    ("King Abdullah II", "الملك عبد الله الثاني"), ("Olaf Scholz", "أولاف شولتس"),
    ("Keir Starmer", "كير ستارمر"), ("Narendra Modi", "ناريندرا مودي"), ("Elon Musk", "إيلون ماسك"),
    ("Russia", "روسيا"), ("United States", "الولايات المتحدة"), ("Ukraine", "أوكرانيا"),
    ("Saudi Arabia", "السعودية"), ("Riyadh", "الرياض"), ("Egypt", "مصر"), ("Cairo", "القاهرة"),
    ("Gaza", "غزة"), ("Lebanon", "لبنان"), ("Beirut", "بيروت"), ("Syria", "سوريا"),
    ("Damascus", "دمشق"), ("Iraq", "العراق"), ("Baghdad", "بغداد"), ("Iran", "إيران"),
    ("Turkey", "تركيا"), ("Qatar", "قطر"), ("Doha", "الدوحة"), ("Jordan", "الأردن"),
    ("Morocco", "المغرب"), ("Algeria", "الجزائر"), ("Tunisia", "تونس"), ("Sudan", "السودان"),
    ("Yemen", "اليمن"), ("China", "الصين"), ("France", "فرنسا"), ("Germany", "ألمانيا"),
    ("Washington", "واشنطن"), ("Moscow", "موسكو"), ("London", "لندن"), ("Paris", "باريس"),
    ("United Nations", "الأمم المتحدة"), ("European Union", "الاتحاد الأوروبي"),
    ("NATO", "حلف شمال الأطلسي"), ("OPEC", "أوبك"), ("World Bank", "البنك الدولي"),
    ("International Monetary Fund", "صندوق النقد الدولي"), ("Arab League", "جامعة الدول العربية"),
    ("World Health Organization", "منظمة الصحة العالمية"), ("Red Cross", "الصليب الأحمر"),
]

CITIES = [("Harbor", "الساحل"), ("Valley", "الوادي"), ("Capital", "العاصمة"), ("Delta", "الدلتا"),
          ("Summit", "القمة"), ("Riverside", "ضفاف النهر"), ("Desert", "الصحراء"),
          ("Gulf", "الخليج"), ("Northern", "الشمال"), ("Southern", "الجنوب"),
          ("Eastern", "الشرق"), ("Western", "الغرب"), ("Coastal", "الشاطئ"),
          ("Mountain", "الجبل"), ("Oasis", "الواحة"), ("Metro", "المدينة")]
PAPERS = [("Times", "أخبار"), ("Herald", "بوابة"), ("Courier", "صحيفة"), ("Post", "بريد"),
          ("Daily", "يوميات"), ("Observer", "مرصد"), ("Tribune", "منبر"), ("Gazette", "جريدة"),
          ("Chronicle", "سجل"), ("Dispatch", "رسالة"), ("Monitor", "رقيب"), ("Record", "ديوان")]
CATEGORIES = ["world", "politics", "business", "sports", "technology", "culture", "health"]

HEADERS = {
    "en": ["By {o} staff | Updated {d}", "{o} — wire desk, {d}", "Reported for {o} on {d}"],
    "ar": ["{o} - متابعات - {d}", "خاص {o} بتاريخ {d}", "{o} | قسم الأخبار | {d}"],
}
FOOTERS = {
    "en": ["Follow {o} for more news.", "This story was republished by {o}.",
           "Subscribe to the {o} newsletter for daily updates."],
    "ar": ["تابعوا {o} لمزيد من الأخبار.", "أعاد {o} نشر هذا الخبر.",
           "اشترك في نشرة {o} اليومية."],
}

EN_WORD = re.compile(r"^[a-z]+(?:'[a-z]+)?$")
AR_WORD = re.compile(r"^[\u0621-\u063A\u0641-\u064A]+$")
TOKEN = re.compile(r"[\w']+", re.UNICODE)


def log(msg: str) -> None:
    print(f"farm: {msg}", file=sys.stderr, flush=True)


# --- vocabulary ---------------------------------------------------------------------------


class Vocab:
    """Words of one language with cumulative weights for rng.choices."""

    def __init__(self, words: list[str], weights: list[float]):
        self.words = words
        self.cum = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)
        # Rare words (a band of ranks) carry the stories' topics.
        lo = min(len(words) - 1, max(200, len(words) // 6))
        self.rare = words[lo:] or words

    def draw(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)


def wordfreq_vocab(no_pip: bool):
    try:
        wf = importlib.import_module("wordfreq")
    except ImportError:
        if no_pip:
            return None
        log("installing wordfreq with pip (real word frequencies)")
        try:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "wordfreq"],
                           check=True, timeout=600, stdout=subprocess.DEVNULL)
            importlib.invalidate_caches()
            wf = importlib.import_module("wordfreq")
        except Exception as e:  # noqa: BLE001 - any failure means: use the fallback
            log(f"pip install wordfreq failed ({e}); using the fallback vocabulary")
            return None
    out = {}
    try:
        for lang, pat in (("en", EN_WORD), ("ar", AR_WORD)):
            words, weights = [], []
            for w, f in wf.get_frequency_dict(lang).items():
                if pat.match(w):
                    words.append(w)
                    weights.append(f)
                    if len(words) >= VOCAB_SIZE:
                        break
            out[lang] = Vocab(words, weights)
        version = getattr(wf, "__version__", None)
        if version is None:
            from importlib.metadata import version as v

            version = v("wordfreq")
    except Exception as e:  # noqa: BLE001
        log(f"wordfreq unusable ({e}); using the fallback vocabulary")
        return None
    return out, f"wordfreq {version}"


ENGLISH_MARKERS = {"the", "and", "of", "to", "is", "that", "with", "for", "was", "are"}


def fallback_vocab(shared: pathlib.Path):
    counts = {"en": collections.Counter(), "ar": collections.Counter()}

    def add(text: str, english_page: bool) -> None:
        for t in TOKEN.findall(text):
            if AR_WORD.match(t):
                counts["ar"][t] += 1
            elif english_page:
                t = t.lower()
                if EN_WORD.match(t):
                    counts["en"][t] += 1

    for p in sorted((shared / "seeds").glob("*.txt")):
        add(p.read_text(encoding="utf-8", errors="replace"), False)
    pages = shared / "corpora" / "trafilatura-eval" / "pages"
    for p in sorted(pages.glob("*.gz")):
        try:
            raw = gzip.decompress(p.read_bytes()).decode("utf-8", errors="replace")
        except (OSError, EOFError):
            continue
        raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", raw)
        text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", raw))
        tokens = [t.lower() for t in TOKEN.findall(text)[:3000]]
        english = bool(tokens) and sum(t in ENGLISH_MARKERS for t in tokens) / len(tokens) > 0.06
        add(text, english)
    out = {}
    for lang in ("en", "ar"):
        common = sorted(counts[lang].items(), key=lambda kv: (-kv[1], kv[0]))[:VOCAB_SIZE]
        if len(common) < 100:
            raise SystemExit(f"farm: fallback vocabulary for {lang} has only {len(common)} words "
                             f"(is {shared} there?)")
        out[lang] = Vocab([w for w, _ in common], [c for _, c in common])
    return out, "fallback: ../shared/seeds + trafilatura-eval word counts"


# --- articles -----------------------------------------------------------------------------


class Words:
    """Words drawn in bulk (one rng.choices call per few hundred words)."""

    def __init__(self, rng: random.Random, vocab: Vocab):
        self.rng, self.vocab, self.buf = rng, vocab, []

    def take(self, n: int) -> list[str]:
        while len(self.buf) < n:
            self.buf += self.vocab.draw(self.rng, 512)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def sentence(rng: random.Random, lang: str, words_src: Words, extra: list[str]) -> str:
    words = words_src.take(rng.randint(8, 24))
    for e in extra:
        words.insert(rng.randrange(len(words) + 1), e)
    if lang == "en":
        words[0] = words[0][:1].upper() + words[0][1:]
        if len(words) > 10 and rng.random() < 0.4:
            words[rng.randrange(3, len(words) - 3)] += ","
    elif len(words) > 10 and rng.random() < 0.4:
        words[rng.randrange(3, len(words) - 3)] += "،"
    return " ".join(words) + "."


def make_article(rng: random.Random, lang: str, vocab: Vocab, story, own_entities: list[str]):
    """Title and paragraphs (lists of sentences) of 3-6 KB of text."""
    li = 0 if lang == "en" else 1
    target = rng.randint(3000, 6000)

    def extras() -> list[str]:
        out = []
        if story is not None:
            if rng.random() < 0.7:
                out += rng.sample(story["words"], rng.randint(1, 2))
            if rng.random() < 0.35:
                out.append(rng.choice(story["entities"])[li])
        if rng.random() < 0.15:
            out.append(rng.choice(own_entities))
        return out

    src = Words(rng, vocab)
    title_words = src.take(rng.randint(6, 11))
    if story is not None:
        title_words[rng.randrange(len(title_words))] = rng.choice(story["words"])
        title_words.insert(0, story["entities"][0][li])
    else:
        title_words.insert(rng.randrange(len(title_words)), own_entities[0])
    if lang == "en":
        title_words[0] = title_words[0][:1].upper() + title_words[0][1:]
    title = " ".join(title_words)
    paragraphs, size = [], 0
    while size < target:
        para = [sentence(rng, lang, src, extras()) for _ in range(rng.randint(2, 6))]
        paragraphs.append(para)
        size += sum(len(s.encode("utf-8")) + 1 for s in para)
    return title, paragraphs


def near_copy(rng: random.Random, lang: str, paragraphs, outlet: str, date: str):
    paras = [list(p) for p in paragraphs]
    candidates = [i for i, p in enumerate(paras) if len(p) >= 2]
    i = rng.choice(candidates)
    del paras[i][rng.randrange(len(paras[i]))]
    if rng.random() < 0.5:
        paras.insert(0, [rng.choice(HEADERS[lang]).format(o=outlet, d=date)])
    else:
        paras.append([rng.choice(FOOTERS[lang]).format(o=outlet, d=date)])
    return paras


# --- the farm -----------------------------------------------------------------------------


class Farm:
    def __init__(self, args):
        self.args = args
        F, M = args.feeds, args.items
        if F < 1 or M < 1:
            raise SystemExit("farm: --feeds and --items must be at least 1")
        loaded = None if args.no_wordfreq else wordfreq_vocab(args.no_pip)
        self.vocab, self.vocab_source = loaded if loaded else fallback_vocab(pathlib.Path(args.shared))
        log(f"vocabulary: {self.vocab_source}")
        rng = random.Random(f"{args.seed}:structure")
        n_ar = (F + 1) // 2
        self.feeds = []
        for f in range(F):
            lang = "ar" if f < n_ar else "en"
            k = f if lang == "ar" else f - n_ar
            city = CITIES[k % len(CITIES)]
            paper = PAPERS[(k // len(CITIES)) % len(PAPERS)]
            n = k // (len(CITIES) * len(PAPERS))
            suffix = f" {n + 1}" if n else ""
            name = (f"The {city[0]} {paper[0]}{suffix}" if lang == "en"
                    else f"{paper[1]} {city[1]}{suffix}")
            fid = f"farm-{lang}-{k:03d}"
            self.feeds.append({"id": fid, "lang": lang, "name": name, "host": f"{fid}.example",
                               "category": CATEGORIES[f % len(CATEGORIES)], "items": []})
        by_lang = {"ar": [f for f in self.feeds if f["lang"] == "ar"],
                   "en": [f for f in self.feeds if f["lang"] == "en"]}
        self.items = []  # dicts, in global time order after build
        self.groups = []
        self.stories = []
        seqs = {lang: self.build_language(rng, lang, feeds, M) for lang, feeds in by_lang.items() if feeds}
        # Merge the languages by relative position so that both stream in evenly.
        merged = []
        for lang, seq in seqs.items():
            for p, item in enumerate(seq):
                merged.append(((p + 0.5) / len(seq), lang, p, item))
        merged.sort(key=lambda t: (t[0], t[1]))
        n = len(merged)
        for g, (_, _, _, item) in enumerate(merged):
            item["g"] = g
            self.items.append(item)
        span = min(BACKLOG_SPAN, timedelta(seconds=20) * n)
        for item in self.items:
            item["backlog_pub"] = BACKLOG_END - span + span * (item["g"] / max(1, n))
            item["feed"]["items"].append(item)
        for item in self.items:
            slug = random.Random(item["seed"] + ":slug").getrandbits(48)
            item["link"] = f"https://{item['feed']['host']}/news/{item['g']:07d}-{slug:012x}"
        self.render_items()

    def build_language(self, rng: random.Random, lang: str, feeds: list, M: int):
        """The item sequence of one language, in time order; item p goes to feed p % G."""
        args, vocab = self.args, self.vocab[lang]
        G, L = len(feeds), len(feeds) * M
        n_exact = round(args.exact * L) if G > 1 else 0
        n_near = round(args.near * L) if G > 1 else 0
        n_orig = L - n_exact - n_near
        if n_orig < 1 or n_exact + n_near > n_orig:
            raise SystemExit("farm: too many copies for the number of items")
        # Stories: ~15 % of originals, in groups of 8-40, sharing rare words and entities.
        story_of = [None] * n_orig
        n_story_items = round(0.15 * n_orig)
        order = list(range(n_orig))
        rng.shuffle(order)
        used = 0
        while used + 4 <= n_story_items:
            size = min(rng.randint(8, 40), n_story_items - used)
            sid = len(self.stories)
            story = {"id": sid, "lang": lang, "words": rng.sample(vocab.rare, 12),
                     "entities": rng.sample(ENTITIES, rng.randint(2, 3)), "size": size}
            self.stories.append(story)
            # Members are close in time: a story runs for a while, then fades.
            centre = rng.random()
            members = sorted(order[used:used + size])
            for m in members:
                story_of[m] = sid
            story["centre"] = centre
            used += size
        # Copy groups: exact and near, disjoint, each on a distinct original.
        pool = list(range(n_orig))
        rng.shuffle(pool)
        copies = []  # (original index, kind)
        while sum(1 for _, k in copies if k == "exact") < n_exact:
            o = pool.pop()
            want = min(rng.choices([1, 2, 3], weights=[75, 20, 5])[0],
                       n_exact - sum(1 for _, k in copies if k == "exact"))
            copies += [(o, "exact")] * want
        while sum(1 for _, k in copies if k == "near") < n_near:
            o = pool.pop()
            want = min(rng.choices([1, 2], weights=[90, 10])[0],
                       n_near - sum(1 for _, k in copies if k == "near"))
            copies += [(o, "near")] * want
        # Times: originals uniform (story members around their story's centre), copies later.
        originals = []
        for i in range(n_orig):
            sid = story_of[i]
            if sid is None:
                t = rng.random()
            else:
                t = min(0.999, max(0.0, self.stories[sid]["centre"] + rng.uniform(-0.15, 0.15)))
            originals.append({"lang": lang, "kind": "original", "t": t, "story": sid,
                              "seed": f"{self.args.seed}:{lang}:{i}", "group": None, "of": None})
        group_of = {}
        entries = list(originals)
        for o, kind in copies:
            orig = originals[o]
            if o not in group_of:
                group_of[o] = len(self.groups)
                self.groups.append({"kind": kind, "members": [orig]})
                orig["group"] = group_of[o]
            c = {"lang": lang, "kind": kind, "t": orig["t"] + rng.uniform(0.01, 0.1),
                 "story": orig["story"], "seed": f"{self.args.seed}:{lang}:copy{len(entries)}",
                 "group": group_of[o], "of": orig}
            self.groups[group_of[o]]["members"].append(c)
            entries.append(c)
        entries.sort(key=lambda e: e["t"])
        seq = entries
        pos = {id(e): p for p, e in enumerate(seq)}
        # Every member of a group in a feed of its own: swap a colliding copy with a nearby
        # item that belongs to no group.
        for p in range(len(seq)):
            e = seq[p]
            if e["group"] is None:
                continue
            member_feeds = {pos[id(m)] % G for m in self.groups[e["group"]]["members"] if m is not e}
            if p % G not in member_feeds:
                continue
            for d in [d for k in range(1, 2 * G + 2) for d in (k, -k)]:
                q = p + d
                if 0 <= q < len(seq) and seq[q]["group"] is None and q % G not in member_feeds:
                    seq[p], seq[q] = seq[q], seq[p]
                    pos[id(seq[p])], pos[id(seq[q])] = p, q
                    break
        for p, e in enumerate(seq):
            e["feed"] = feeds[p % G]
        return seq

    def render_items(self):
        """Text of every item; copies reuse their original's text."""
        t0 = time.time()
        for item in self.items:
            if item["kind"] != "original":
                continue
            rng = random.Random(item["seed"])
            lang = item["lang"]
            story = self.stories[item["story"]] if item["story"] is not None else None
            li = 0 if lang == "en" else 1
            own = [e[li] for e in rng.sample(ENTITIES, 3)]
            item["title"], item["paras"] = make_article(rng, lang, self.vocab[lang], story, own)
        for item in self.items:
            if item["kind"] == "original":
                continue
            rng = random.Random(item["seed"])
            orig = item["of"]
            item["title"] = orig["title"]
            if item["kind"] == "exact":
                item["paras"] = orig["paras"]
            else:
                date = item["backlog_pub"].strftime("%Y-%m-%d")
                item["paras"] = near_copy(rng, item["lang"], orig["paras"], item["feed"]["name"], date)
        for item in self.items:
            body = "\n".join("<p>" + html.escape(" ".join(p), quote=False) + "</p>" for p in item["paras"])
            first = html.escape(item["paras"][0][0], quote=False)
            title = html.escape(item["title"], quote=False)
            link = html.escape(item["link"])
            item["xml_head"] = (f"<item>\n<title>{title}</title>\n<link>{link}</link>\n"
                                f'<guid isPermaLink="true">{link}</guid>\n<pubDate>').encode()
            item["xml_tail"] = (f"</pubDate>\n<description>{first}</description>\n"
                                f"<content:encoded><![CDATA[{body}]]></content:encoded>\n</item>\n").encode()
            item["text_bytes"] = sum(len(" ".join(p).encode()) for p in item["paras"])
            del item["paras"]
        log(f"rendered {len(self.items)} items in {time.time() - t0:.1f}s")

    def channel_head(self, feed) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n<channel>\n'
            f"<title>{html.escape(feed['name'])}</title>\n<link>https://{feed['host']}/</link>\n"
            f"<description>{html.escape(feed['name'])} ({feed['lang']}, benchmark farm)</description>\n"
            f"<language>{feed['lang']}</language>\n"
        ).encode()

    def render_feed(self, feed, items, pubs) -> bytes:
        parts = [self.channel_head(feed)]
        for item in reversed(items):  # newest first, as feeds do
            parts += [item["xml_head"], pubs(item), item["xml_tail"]]
        parts.append(b"</channel>\n</rss>\n")
        return b"".join(parts)

    def ground_truth(self) -> dict:
        links = {}
        for item in self.items:
            links[item["link"]] = {"feed": item["feed"]["id"], "lang": item["lang"], "role": item["kind"],
                                   "group": item["group"], "story": item["story"]}
        groups = [{"kind": g["kind"], "members": [m["link"] for m in g["members"]]} for g in self.groups]
        return {
            "seed": self.args.seed, "feeds": len(self.feeds), "items_per_feed": self.args.items,
            "items": len(self.items), "vocabulary": self.vocab_source,
            "exact_copies": sum(1 for i in self.items if i["kind"] == "exact"),
            "near_copies": sum(1 for i in self.items if i["kind"] == "near"),
            "stories": [{"id": s["id"], "lang": s["lang"], "size": s["size"]} for s in self.stories],
            "text_bytes_mean": round(sum(i["text_bytes"] for i in self.items) / max(1, len(self.items))),
            "groups": groups, "links": links,
        }


# --- serving ------------------------------------------------------------------------------


class Server:
    def __init__(self, farm: Farm, args):
        self.farm, self.args = farm, args
        self.live = args.live
        self.lock = threading.Lock()
        self.requests = 0
        self.not_modified = 0
        self.bytes = 0
        self.started = None  # live clock start (epoch seconds)
        self.pub_bytes = None
        self.served_upto = {f["id"]: 0 for f in farm.feeds}
        self.missed = 0
        self.missed_links = []
        self.feed_by_id = {f["id"]: f for f in farm.feeds}
        for f in farm.feeds:
            f["g_list"] = [i["g"] for i in f["items"]]
        self.static = {}
        if not self.live:
            for f in farm.feeds:
                self.static[f["id"]] = farm.render_feed(f, f["items"], self.backlog_pub)

    @staticmethod
    def backlog_pub(item) -> bytes:
        return email.utils.format_datetime(item["backlog_pub"]).encode()

    def start_clock(self):
        with self.lock:
            if self.started is not None:
                return
            start = time.time()
            rate = self.live
            self.pub_bytes = [
                email.utils.formatdate(start + i["g"] / rate, usegmt=True).encode() for i in self.farm.items
            ]
            self.started = start
        log(f"live clock started: {len(self.farm.items)} items at {rate:g}/s "
            f"({len(self.farm.items) / rate:.1f}s)")

    def visible_count(self, now: float) -> int:
        if self.started is None:
            return 0
        return min(len(self.farm.items), int((now - self.started) * self.live) + 1)

    def feed_body(self, fid: str, if_none_match: str | None):
        """(status, body, etag) of a feed; 304 with no body when the client has this version."""
        feed = self.feed_by_id.get(fid)
        if feed is None:
            return 404, b"no such feed\n", None
        if not self.live:
            etag = f'"{fid}-all"'
            return (304, b"", etag) if if_none_match == etag else (200, self.static[fid], etag)
        self.start_clock()
        visible = self.visible_count(time.time())
        v = bisect.bisect_left(feed["g_list"], visible)  # items of this feed now visible
        etag = f'"{fid}-{v}"'
        if if_none_match == etag:
            return 304, b"", etag
        lo = max(0, v - self.args.live_window)
        with self.lock:
            upto = self.served_upto[fid]
            if lo > upto:
                self.missed += lo - upto
                self.missed_links += [i["link"] for i in feed["items"][upto:lo]]
            if v > upto:
                self.served_upto[fid] = v
        pubs = self.pub_bytes
        return 200, self.farm.render_feed(feed, feed["items"][lo:v], lambda i: pubs[i["g"]]), etag

    def stats(self) -> dict:
        now = time.time()
        visible = self.visible_count(now) if self.live else len(self.farm.items)
        with self.lock:
            served = sum(self.served_upto.values()) if self.live else len(self.farm.items)
            out = {"requests": self.requests, "not_modified": self.not_modified, "bytes": self.bytes, "items": len(self.farm.items),
                   "live_rate": self.live, "clock_started": self.started is not None or not self.live,
                   "elapsed": (now - self.started) if self.started else None, "visible": visible,
                   "done": visible >= len(self.farm.items), "served": served,
                   "missed": self.missed, "missed_links": list(self.missed_links)}
        return out

    def feeds_toml(self, base: str) -> str:
        interval = self.args.poll_interval_secs
        lines = ["# Written by bench/farm.py: the feeds of the benchmark farm.\n"]
        for f in self.farm.feeds:
            lines.append(f'[[feed]]\nid = "{f["id"]}"\nurl = "{base}/feeds/{f["id"]}.xml"\n'
                         f"poll_interval_secs = {interval}\nlanguage = \"{f['lang']}\"\n"
                         f"category = \"{f['category']}\"\n\n")
        return "".join(lines)


def make_handler(srv: Server, base_url):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "newswire-bench-farm/1"

        def log_message(self, fmt, *a):  # quiet
            pass

        def send(self, code: int, body: bytes, ctype: str, etag: str | None = None):
            self.send_response(code)
            if etag:
                self.send_header("ETag", etag)
            if code == 304:
                self.end_headers()
            else:
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            with srv.lock:
                srv.requests += 1
                srv.not_modified += code == 304
                srv.bytes += len(body)

        def do_GET(self):  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path.startswith("/feeds/") and path.endswith(".xml"):
                code, body, etag = srv.feed_body(path[len("/feeds/"):-len(".xml")],
                                                 self.headers.get("If-None-Match"))
                ctype = "application/rss+xml; charset=utf-8" if code != 404 else "text/plain"
                return self.send(code, body, ctype, etag)
            if path == "/stats":
                return self.send(200, json.dumps(srv.stats()).encode(), "application/json")
            if path == "/feeds.toml":
                return self.send(200, srv.feeds_toml(base_url()).encode(), "text/plain; charset=utf-8")
            if path == "/":
                return self.send(200, b"newswire benchmark farm: /feeds.toml, /feeds/<id>.xml, /stats\n",
                                 "text/plain")
            return self.send(404, b"not found\n", "text/plain")

        do_HEAD = do_GET

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=200, help="number of feeds (half Arabic, half English)")
    ap.add_argument("--items", type=int, default=50, help="items per feed")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--exact", type=float, default=0.10, help="share of items that are exact re-publications")
    ap.add_argument("--near", type=float, default=0.03, help="share of items that are near copies")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    ap.add_argument("--live", type=float, default=0.0, metavar="RATE",
                    help="live mode: items appear at RATE items/s in total")
    ap.add_argument("--live-window", type=int, default=8, help="live mode: items shown per feed")
    ap.add_argument("--poll-interval-secs", type=int, default=86400, help="for the written feeds file")
    ap.add_argument("--ground-truth", help="write the ground truth JSON here")
    ap.add_argument("--feeds-toml", help="write the feeds file (pointing at this server) here")
    ap.add_argument("--ready-file", help="write the start-up JSON line here once listening")
    ap.add_argument("--write-dir", help="also write the (backlog) feeds as files into this directory")
    ap.add_argument("--no-serve", action="store_true", help="generate (and write) only")
    ap.add_argument("--no-wordfreq", action="store_true", help="use the fallback vocabulary")
    ap.add_argument("--no-pip", action="store_true", help="do not pip install wordfreq when missing")
    ap.add_argument("--shared", default=str(SHARED), help="the shared/ directory (fallback vocabulary)")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("farm: serves on the loopback interface only")
    if args.live < 0 or args.live_window < 1:
        raise SystemExit("farm: --live must be >= 0 and --live-window >= 1")

    t0 = time.time()
    farm = Farm(args)
    log(f"{len(farm.feeds)} feeds x {args.items} items = {len(farm.items)} items, "
        f"{len(farm.groups)} copy groups, {len(farm.stories)} stories, built in {time.time() - t0:.1f}s")
    if args.ground_truth:
        p = pathlib.Path(args.ground_truth)
        p.write_text(json.dumps(farm.ground_truth(), ensure_ascii=False), encoding="utf-8")
    if args.write_dir:
        d = pathlib.Path(args.write_dir)
        d.mkdir(parents=True, exist_ok=True)
        for f in farm.feeds:
            (d / f"{f['id']}.xml").write_bytes(farm.render_feed(f, f["items"], Server.backlog_pub))
    if args.no_serve:
        return 0

    srv = Server(farm, args)
    httpd = None

    def base_url() -> str:
        host = httpd.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{httpd.server_address[1]}"

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    httpd = ThreadingHTTPServer((args.host, args.port), make_handler(srv, base_url))
    if args.feeds_toml:
        pathlib.Path(args.feeds_toml).write_text(srv.feeds_toml(base_url()), encoding="utf-8")
    ready = {"url": base_url(), "port": httpd.server_address[1], "feeds": len(farm.feeds),
             "items": len(farm.items), "live_rate": args.live or None, "vocabulary": farm.vocab_source,
             "pid": os.getpid()}
    line = json.dumps(ready)
    if args.ready_file:
        tmp = pathlib.Path(args.ready_file + ".tmp")
        tmp.write_text(line + "\n")
        tmp.replace(args.ready_file)
    print(line, flush=True)

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    httpd.serve_forever(poll_interval=0.2)
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
