#!/usr/bin/env python3
"""Edited-copy corpus for near-duplicate detection (Python 3.11 stdlib only).

    python3 bench/copies.py --articles ARTICLES.jsonl --out DIR [--newswire BIN] [--originals N]

ARTICLES.jsonl: articles as `newswire process` prints them (one JSON object per line); the
first N that are not copies become the originals (a farm from `bench/farm.py --write-dir`,
processed by `newswire process`, gives Arabic and English ones). For each original the script
writes one edited copy of every kind below, then near-misses that are not copies, as text files
(title line, then the body) named so that `newswire process DIR` reads originals first. It runs
`newswire process` on DIR and prints, per edit kind, how many copies were marked as copies of
their original (recall) and, per near-miss kind, how many were wrongly marked as copies.

Copies (each must be caught):
  abridged55/70/85  the first 55/70/85 % of the words
  readmore          a "Read more: <another headline>" paragraph in the middle
  typography        curly quotes, no-break and zero-width spaces, ligatures
  paragraphs        paragraphs merged in pairs, then the longest split at a sentence
  outlet            upper-cased title, another outlet's header and footer lines
  combined          abridged70 + typography + outlet
  combined55        abridged55 + readmore + paragraphs + typography
Near-misses (none may be marked):
  followup          the original's first paragraph, then four paragraphs of an article that is
                    not in the corpus
  roundup           one paragraph from each of three originals among text of its own
  rewrite           the original's first half, then as much text of an article not in the corpus
                    (a follow-up that keeps the background: half its text is new)
  others            the other originals themselves (reports of the same story included)
"""
import argparse
import json
import os
import subprocess
import sys

COPY_KINDS = ["abridged55", "abridged70", "abridged85", "readmore", "typography", "paragraphs", "outlet", "combined",
              "combined55"]
MISS_KINDS = ["followup", "roundup", "rewrite"]


def is_arabic(text):
    return sum(1 for c in text[:400] if "\u0600" <= c <= "\u06ff") > 50


def abridged(paras, share):
    words = " \n\n ".join(paras).split(" ")
    kept = " ".join(words[: max(1, int(len(words) * share))])
    return [p.strip() for p in kept.split("\n\n") if p.strip()]


def typography(text, arabic):
    t = text.replace('"', "\u201c").replace("'", "\u2019")
    words = t.split(" ")
    # No-break spaces between some words, zero-width spaces inside others, ligatures.
    out = []
    for i, w in enumerate(words):
        if i % 7 == 3 and len(w) > 3:
            w = w[:2] + "\u200b" + w[2:]
        out.append(w)
        out.append("\u00a0" if i % 5 == 1 else " ")
    t = "".join(out).rstrip()
    if not arabic:
        t = t.replace("fi", "\ufb01").replace("fl", "\ufb02")
    return t


def merged_and_split(paras):
    merged = [" ".join(paras[i : i + 2]) for i in range(0, len(paras), 2)]
    longest = max(range(len(merged)), key=lambda i: len(merged[i]))
    p = merged[longest]
    cut = p.find(". ", len(p) // 2)
    if cut > 0:
        merged[longest : longest + 1] = [p[: cut + 1], p[cut + 2 :]]
    return merged


def outlet(title, paras, arabic):
    header = "وكالة الأنباء الإقليمية - خاص" if arabic else "REGIONAL NEWS WIRE - EXCLUSIVE"
    footer = ("تابعونا على وسائل التواصل الاجتماعي لمزيد من الأخبار العاجلة والتحليلات" if arabic
              else "Follow us on social media for more breaking news and analysis from the region")
    return title.upper(), [header] + paras + [footer]


def write(path, title, paras):
    with open(path, "w", encoding="utf-8") as f:
        f.write(title.replace("\n", " ") + "\n" + "\n\n".join(paras) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--originals", type=int, default=300)
    ap.add_argument("--newswire", default="target/release/newswire")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.articles, encoding="utf-8") if line.strip()]
    usable = [r for r in rows if not r.get("duplicate") and len(r["text"].split("\n\n")) >= 5]
    # Half Arabic, half other languages where the input has both.
    ar = [r for r in usable if is_arabic(r["text"])]
    rest = [r for r in usable if not is_arabic(r["text"])]
    half = a.originals // 2
    originals = ar[:half] + rest[: a.originals - min(half, len(ar))]
    originals = originals[: a.originals]
    fresh = ar[half:] + rest[a.originals - min(half, len(ar)) :]
    if len(originals) < 4 or len(fresh) < 2 * len(originals):
        print(f"copies.py: {len(fresh)} articles besides the originals; follow-ups and rewrites "
              "share new text below twice the originals", file=sys.stderr)
    if len(originals) < 4 or not fresh:
        sys.exit("copies.py: fewer than 4 usable originals")
    os.makedirs(a.out, exist_ok=True)
    expect = {}  # file name -> (kind, index of the original or None)
    n = len(originals)
    for i, o in enumerate(originals):
        paras = o["text"].split("\n\n")
        ar = is_arabic(o["text"])
        name = f"a{i:04d}.txt"
        write(os.path.join(a.out, name), o["title"], paras)
        expect[name] = ("original", None)
        other = originals[(i + 1) % n]
        copies = {
            "abridged55": (o["title"], abridged(paras, 0.55)),
            "abridged70": (o["title"], abridged(paras, 0.70)),
            "abridged85": (o["title"], abridged(paras, 0.85)),
            "readmore": (o["title"], paras[: len(paras) // 2]
                         + [("اقرأ أيضا: " if ar else "Read more: ") + other["title"]] + paras[len(paras) // 2 :]),
            "typography": (typography(o["title"], ar), [typography(p, ar) for p in paras]),
            "paragraphs": (o["title"], merged_and_split(paras)),
            "outlet": outlet(o["title"], paras, ar),
        }
        t, ps = outlet(typography(o["title"], ar), [typography(p, ar) for p in abridged(paras, 0.70)], ar)
        copies["combined"] = (t, ps)
        short = abridged(paras, 0.55)
        short = short[: len(short) // 2] + [("اقرأ أيضا: " if ar else "Read more: ") + other["title"]] \
            + short[len(short) // 2 :]
        copies["combined55"] = (typography(o["title"], ar), [typography(p, ar) for p in merged_and_split(short)])
        for k, kind in enumerate(COPY_KINDS):
            name = f"b{i:04d}_{k}.txt"
            write(os.path.join(a.out, name), *copies[kind])
            expect[name] = (kind, i)
        o2, o3 = originals[(i + 2) % n], originals[(i + 3) % n]
        followup = [paras[0]] + fresh[i % len(fresh)]["text"].split("\n\n")[1:5]
        write(os.path.join(a.out, f"c{i:04d}_0.txt"), "Update: " + o["title"], followup)
        expect[f"c{i:04d}_0.txt"] = ("followup", None)
        roundup = (other["text"].split("\n\n")[-2:] + [paras[1]] + [o2["text"].split("\n\n")[0]]
                   + [o3["text"].split("\n\n")[2]] + o3["text"].split("\n\n")[-2:])
        write(os.path.join(a.out, f"c{i:04d}_1.txt"), "Weekly roundup " + str(i), roundup)
        expect[f"c{i:04d}_1.txt"] = ("roundup", None)
        half_words = len(" ".join(paras).split()) // 2
        # Counted from the end of `fresh`, so that no follow-up shares its new text.
        new = abridged(fresh[(len(fresh) - 1 - i) % len(fresh)]["text"].split("\n\n"), 1.0)
        rewrite = abridged(paras, 0.5) + abridged(new, min(1.0, half_words / max(1, len(" ".join(new).split()))))
        write(os.path.join(a.out, f"c{i:04d}_2.txt"), "Analysis: " + o["title"], rewrite)
        expect[f"c{i:04d}_2.txt"] = ("rewrite", None)
    names = sorted(expect)
    out = subprocess.run([a.newswire, "process", a.out], capture_output=True, text=True, check=True).stdout
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(results) != len(names):
        sys.exit(f"copies.py: {len(results)} articles for {len(names)} files")
    by_name = dict(zip(names, results))
    ids = {i: by_name[f"a{i:04d}.txt"]["id"] for i in range(n)}
    stats = {k: [0, 0] for k in COPY_KINDS + MISS_KINDS + ["others"]}
    for name, (kind, i) in expect.items():
        d = by_name[name].get("duplicate")
        if kind == "original":
            stats["others"][1] += 1
            stats["others"][0] += bool(d)
        elif kind in MISS_KINDS:
            stats[kind][1] += 1
            stats[kind][0] += bool(d)
        else:
            stats[kind][1] += 1
            stats[kind][0] += bool(d and d["of"] == ids[i])
    arabic = sum(1 for o in originals if is_arabic(o["text"]))
    print(f"{n} originals ({arabic} Arabic, {n - arabic} other), {len(names)} files")
    print("| kind | must be | marked as copy of the original / all |")
    print("|---|---|---|")
    for k in COPY_KINDS:
        print(f"| {k} | caught | {stats[k][0]} / {stats[k][1]} |")
    print("| kind | must be | marked as a copy / all |")
    print("|---|---|---|")
    for k in MISS_KINDS + ["others"]:
        print(f"| {k} | left alone | {stats[k][0]} / {stats[k][1]} |")


if __name__ == "__main__":
    main()
