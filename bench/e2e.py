#!/usr/bin/env python3
"""Helpers of scripts/bench-e2e (Python 3.11 stdlib only). Each subcommand prints JSON.

  freeport                          a free TCP port on 127.0.0.1
  wait-port PORT [--timeout S]      until 127.0.0.1:PORT accepts connections
  wait-http URL [--timeout S]       until GET URL answers 200 (a service's /readyz)
  wait-file PATH [--timeout S]      until PATH exists (the farm's ready file)
  rusage --out F [--timeout S] -- CMD...   run CMD, write wall time, CPU and peak RSS (wait4)
  procstat PID                      CPU seconds (utime+stime) and peak RSS (VmHWM) of a process
  wait-rows --db DB --expected N --start EPOCH [--timeout S] [--stall S] [--pids P,...]
                                    until the articles table holds N rows (or fails)
  wait-farm URL [--timeout S]       until the live farm has shown every item
  check --db DB --ground-truth GT [--farm-stats F]   correctness, latency, stories
  logscan LOG                       warnings and errors in a service's JSON log
  machine                           nproc, CPU model, load average, date, versions
  report --results DIR --out FILE --command CMD      writes BENCHMARKS.md

DB is `sqlite:PATH` or a `postgres://` URL (read through psql).
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import json
import os
import pathlib
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone


def out(obj) -> None:
    print(json.dumps(obj), flush=True)


# --- small waits ----------------------------------------------------------------------------


def cmd_freeport(a) -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def cmd_wait_port(a) -> int:
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", a.port), timeout=0.5).close()
            return 0
        except OSError:
            time.sleep(0.1)
    print(f"bench-e2e: nothing listens on 127.0.0.1:{a.port} after {a.timeout}s", file=sys.stderr)
    return 1


def http_get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
        return r.status, r.read()


def cmd_wait_http(a) -> int:
    deadline = time.time() + a.timeout
    last = ""
    while time.time() < deadline:
        try:
            status, _ = http_get(a.url)
            if status == 200:
                return 0
        except Exception as e:  # noqa: BLE001 - keep waiting
            last = str(e)
        time.sleep(0.2)
    print(f"bench-e2e: {a.url} not ready after {a.timeout}s ({last})", file=sys.stderr)
    return 1


def cmd_wait_file(a) -> int:
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        if os.path.exists(a.path):
            return 0
        if a.pid and not pid_alive(a.pid):
            print(f"bench-e2e: process {a.pid} exited before writing {a.path}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"bench-e2e: {a.path} not written after {a.timeout}s", file=sys.stderr)
    return 1


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# --- processes ------------------------------------------------------------------------------


def cmd_rusage(a) -> int:
    """Runs a command to completion and reports its own resource use (wait4)."""
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    started = time.time()
    proc = subprocess.Popen(cmd)
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    timed_out = False
    deadline = started + a.timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.time() > deadline:
            timed_out = True
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(status)
    res = {"seconds": round(time.time() - started, 3), "exit_code": code, "timed_out": timed_out,
           "cpu_s": round(ru.ru_utime + ru.ru_stime, 3), "utime_s": round(ru.ru_utime, 3),
           "stime_s": round(ru.ru_stime, 3), "rss_peak_kb": ru.ru_maxrss}
    pathlib.Path(a.out).write_text(json.dumps(res))
    return 124 if timed_out else (code if code >= 0 else 128 - code)


def procstat(pid: int) -> dict:
    tick = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]) / tick, int(fields[12]) / tick
    status = pathlib.Path(f"/proc/{pid}/status").read_text()

    def kb(key):
        m = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
        return int(m.group(1)) if m else None

    return {"pid": pid, "cpu_s": round(utime + stime, 2), "utime_s": round(utime, 2), "stime_s": round(stime, 2),
            "rss_peak_kb": kb("VmHWM"), "rss_kb": kb("VmRSS")}


def cmd_procstat(a) -> int:
    try:
        out(procstat(a.pid))
        return 0
    except OSError as e:
        out({"pid": a.pid, "error": f"process gone: {e}"})
        return 1


# --- the database ---------------------------------------------------------------------------


def psql(url: str, sql: str, timeout: float = 120) -> str:
    r = subprocess.run(["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip() or f"psql exited with {r.returncode}")
    return r.stdout


class PgCounter:
    """One long-lived psql reading queries from stdin: a psql process started per count costs
    more CPU than the query and, polled a few times a second, takes CPU from the pipeline
    being measured."""

    def __init__(self, url: str):
        self.p = subprocess.Popen(["psql", url, "-X", "-q", "-At"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def count(self, where: str = "true"):
        """Rows in `articles` matching `where`, None while the table does not exist (the query
        prints nothing)."""
        if self.p.poll() is not None:
            raise RuntimeError(f"psql exited with {self.p.returncode}")
        self.p.stdin.write(f"SELECT count(*) FROM articles WHERE {where};\n\\echo __end__\n")
        self.p.stdin.flush()
        value = None
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("psql closed its output")
            line = line.strip()
            if line == "__end__":
                return value
            if line.isdigit():
                value = int(line)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=5)
        except Exception:  # noqa: BLE001 - best effort
            self.p.kill()


_pg_counters = {}


def count_rows(db: str):
    """Rows in `articles`; None while the table does not exist yet."""
    if db.startswith("sqlite:"):
        path = db[len("sqlite:"):]
        if not os.path.exists(path):
            return None
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM articles").fetchone()[0]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return None
            raise
        finally:
            con.close()
    counter = _pg_counters.get(db)
    if counter is None:
        counter = _pg_counters[db] = PgCounter(db)
    try:
        return counter.count()
    except Exception:
        _pg_counters.pop(db, None)
        counter.close()
        raise


def cmd_wait_rows(a) -> int:
    """Polls the row count until it reaches --expected; the time is measured from --start."""
    pids = [int(p) for p in a.pids.split(",") if p] if a.pids else []
    deadline = a.start + a.timeout
    last_n, last_change = -1, time.time()
    reason, n, reached_at, errors = None, None, None, 0
    while True:
        now = time.time()
        try:
            n = count_rows(a.db)
        except Exception as e:  # noqa: BLE001 - the store may be busy; retry
            errors += 1
            if errors > 20:
                reason = f"cannot count rows: {e}"
                break
            time.sleep(0.5)
            continue
        if n is not None and n >= a.expected:
            reached_at = now
            break
        if n != last_n:
            last_n, last_change = n, now
        if now > deadline:
            reason = f"timeout: {n} of {a.expected} rows after {a.timeout:.0f}s"
            break
        if now - last_change > a.stall:
            reason = f"stalled: {n} of {a.expected} rows, no new row for {a.stall:.0f}s"
            break
        dead = [p for p in pids if not pid_alive(p)]
        if dead:
            reason = f"a service exited (pid {dead[0]}) with {n} of {a.expected} rows"
            break
        time.sleep(a.interval)
    for counter in _pg_counters.values():
        counter.close()
    res = {"expected": a.expected, "rows": n or 0, "complete": reached_at is not None,
           "seconds": round((reached_at or time.time()) - a.start, 3), "reason": reason}
    if reached_at is not None:
        res["articles_per_s"] = round(a.expected / max(1e-9, reached_at - a.start), 1)
    out(res)
    return 0 if reached_at is not None else 1


def cmd_wait_searchable(a) -> int:
    """PostgreSQL: polls until no row waits for its search terms (`search_version` 0, queued by
    the sink's deferred indexing, or NULL); the time is measured from --start, like wait-rows."""
    counter = PgCounter(a.db)
    deadline = time.time() + a.timeout
    queued, done_at, reason = None, None, None
    try:
        while True:
            queued = counter.count("search_version = 0 OR search_version IS NULL")
            now = time.time()
            if queued == 0:
                done_at = now
                break
            if now > deadline:
                reason = f"timeout: {queued} rows still queued for search after {a.timeout:.0f}s"
                break
            time.sleep(a.interval)
    except Exception as e:  # noqa: BLE001 - reported, not raised: the drain itself is done
        reason = f"cannot count queued rows: {e}"
    finally:
        counter.close()
    res = {"complete": done_at is not None, "queued": queued, "reason": reason,
           "seconds": round((done_at or time.time()) - a.start, 3)}
    out(res)
    return 0 if done_at is not None else 1


def rfc3339(s: str | None) -> float | None:
    if not s:
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def fetch_rows(db: str):
    """(canonical_url, id, duplicate_of, story_id, fetched_at epoch, stored_at epoch)."""
    if db.startswith("sqlite:"):
        con = sqlite3.connect(f"file:{db[len('sqlite:'):]}?mode=ro", uri=True, timeout=30)
        try:
            rows = con.execute(
                "SELECT canonical_url, id, duplicate_of, story_id, fetched_at, stored_at FROM articles").fetchall()
        finally:
            con.close()
        return [(u, i, d, s, rfc3339(f), rfc3339(t)) for u, i, d, s, f, t in rows]
    text = psql(db, "COPY (SELECT canonical_url, id, duplicate_of, story_id, extract(epoch FROM fetched_at), "
                    "extract(epoch FROM stored_at) FROM articles) TO STDOUT WITH CSV", timeout=600)
    rows = []
    for u, i, d, s, f, t in csv.reader(io.StringIO(text)):
        rows.append((u or None, i, d or None, s or None, float(f) if f else None, float(t) if t else None))
    return rows


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def cmd_check(a) -> int:
    gt = json.loads(pathlib.Path(a.ground_truth).read_text(encoding="utf-8"))
    links = gt["links"]
    skipped = set()
    farm = None
    if a.farm_stats and os.path.exists(a.farm_stats):
        farm = json.loads(pathlib.Path(a.farm_stats).read_text())
        skipped = set(farm.get("missed_links") or [])
    rows = fetch_rows(a.db)
    by_url = collections.defaultdict(list)
    for r in rows:
        by_url[r[0]].append(r)
    expected = set(links) - skipped
    missing = sorted(expected - set(by_url))
    unknown = sorted(u for u in by_url if u not in links)
    extra = sum(len(v) - 1 for v in by_url.values() if len(v) > 1) + sum(len(by_url[u]) for u in unknown)
    row_of = {u: v[0] for u, v in by_url.items()}

    viol = {"no_single_canonical": 0, "pointing_elsewhere": 0}
    by_kind = {"exact": collections.Counter(), "near": collections.Counter()}
    examples = []
    in_group = set()
    for gi, g in enumerate(gt["groups"]):
        expected_members = [m for m in g["members"] if m not in skipped]
        members = [m for m in expected_members if m in row_of]
        in_group.update(g["members"])
        by_kind[g["kind"]]["groups"] += 1
        # A group is judged only when all its members are stored (a missing member is counted
        # as missing already; in an unfinished run, the canonical row may simply not be there).
        if len(members) < 2 or len(members) < len(expected_members):
            by_kind[g["kind"]]["not_judged"] += 1
            continue
        canon = [m for m in members if row_of[m][2] is None]
        if len(canon) != 1:
            viol["no_single_canonical"] += 1
            by_kind[g["kind"]]["no_single_canonical"] += 1
            if len(examples) < 5:
                examples.append({"group": gi, "kind": g["kind"], "problem": f"{len(canon)} rows without duplicate_of",
                                 "members": [[m, row_of[m][1], row_of[m][2]] for m in members]})
            continue
        cid = row_of[canon[0]][1]
        if canon[0] != g["members"][0]:
            by_kind[g["kind"]]["canonical_not_original"] += 1
        bad = [m for m in members if m != canon[0] and row_of[m][2] != cid]
        if bad:
            viol["pointing_elsewhere"] += len(bad)
            by_kind[g["kind"]]["pointing_elsewhere"] += len(bad)
            if len(examples) < 5:
                examples.append({"group": gi, "kind": g["kind"], "problem": "duplicate_of is not the canonical id",
                                 "canonical": cid, "members": [[m, row_of[m][1], row_of[m][2]] for m in members]})
    false_copies = [u for u, r in row_of.items() if u in links and u not in in_group and r[2] is not None]
    viol["unrelated_marked_copy"] = len(false_copies)
    if false_copies and len(examples) < 8:
        examples.append({"problem": "an article in no copy group has duplicate_of set",
                         "links": [[u, row_of[u][1], row_of[u][2]] for u in false_copies[:3]]})

    # Latency: stored_at - fetched_at, over every row.
    lat = sorted((t - f) for _, _, _, _, f, t in rows if f is not None and t is not None)
    fetched = [f for *_, f, _ in rows if f is not None]
    stored = [t for *_, t in rows if t is not None]
    latency = None
    if lat:
        latency = {q: round(percentile(lat, v) * 1000, 1) for q, v in
                   (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("max_ms", 1.0))}
        latency["mean_ms"] = round(sum(lat) / len(lat) * 1000, 1)
        span = max(stored) - min(fetched)
        latency["span_s"] = round(span, 2)
        latency["rows_per_s"] = round(len(rows) / span, 1) if span > 0 else None

    # Story clustering, informative: pairs of rows sharing a story_id vs. the farm's stories
    # (copies belong with their original's cluster).
    label = {}
    for u, info in links.items():
        if info["story"] is not None:
            label[u] = f"s{info['story']}"
        elif info["group"] is not None:
            label[u] = f"g{info['group']}"
        else:
            label[u] = f"u:{u}"
    by_story = collections.defaultdict(collections.Counter)
    by_label = collections.Counter()
    for u, r in row_of.items():
        if u in label:
            by_story[r[3]][label[u]] += 1
            by_label[label[u]] += 1
    same_both = sum(pairs(c) for cnt in by_story.values() for c in cnt.values())
    same_story = sum(pairs(sum(cnt.values())) for cnt in by_story.values())
    same_label = sum(pairs(c) for c in by_label.values())
    stories = {
        "story_ids": len(by_story), "farm_stories": len(gt.get("stories", [])),
        "pair_precision": round(same_both / same_story, 3) if same_story else None,
        "pair_recall": round(same_both / same_label, 3) if same_label else None,
    }

    # In a run that did not finish (--incomplete), rows not stored yet are reported, not counted.
    total_viol = (0 if a.incomplete else len(missing)) + extra + sum(viol.values())
    res = {
        "rows": len(rows), "expected": len(expected), "missing": len(missing), "extra": extra,
        "incomplete_run": a.incomplete,
        "unknown_urls": len(unknown), "skipped_missed_by_fetcher": len(skipped & set(links)),
        "groups": {k: dict(v) for k, v in by_kind.items()},
        "duplicates_marked": sum(1 for r in rows if r[2] is not None),
        "violations": viol, "violations_total": total_viol,
        "examples": examples, "missing_examples": missing[:5], "unknown_examples": unknown[:5],
        "latency": latency, "stories": stories,
    }
    if farm is not None:
        res["farm"] = {k: farm.get(k) for k in ("requests", "bytes", "missed", "served", "items")}
    out(res)
    return 0


def cmd_wait_farm(a) -> int:
    deadline = time.time() + a.timeout
    stats = None
    while time.time() < deadline:
        try:
            _, body = http_get(a.url.rstrip("/") + "/stats")
            stats = json.loads(body)
            if stats.get("done"):
                out(stats)
                return 0
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.5)
    out(stats or {"error": "no stats"})
    return 1


def cmd_logscan(a) -> int:
    counts = collections.Counter()
    samples = collections.defaultdict(list)
    try:
        lines = pathlib.Path(a.log).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            ev = json.loads(line)
            level = str(ev.get("level", "")).upper()
            msg = ev.get("message") or ev.get("fields", {}).get("message", "")
            detail = ev.get("error") or ev.get("reason") or ""
        except ValueError:
            level = "ERROR" if re.search(r"\b(error|panicked)\b", line, re.I) else ""
            msg, detail = line.strip(), ""
        if level in ("WARN", "ERROR"):
            counts[level] += 1
            text = f"{msg} {detail}".strip()[:200]
            if len(samples[level]) < 3 and text not in samples[level]:
                samples[level].append(text)
    out({"warn": counts["WARN"], "error": counts["ERROR"], "samples": dict(samples)})
    return 0


def cmd_machine(a) -> int:
    model = ""
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", pathlib.Path("/proc/cpuinfo").read_text(), re.M)
        model = m.group(1).strip() if m else platform.processor()
    except OSError:
        pass
    mem_kb = None
    try:
        m = re.search(r"^MemTotal:\s+(\d+) kB", pathlib.Path("/proc/meminfo").read_text(), re.M)
        mem_kb = int(m.group(1)) if m else None
    except OSError:
        pass

    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    out({
        "nproc": os.cpu_count(), "cpu_model": model, "mem_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "loadavg": pathlib.Path("/proc/loadavg").read_text().split()[:3],
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(), "nats_server": a.nats_version, "postgres": a.pg_version,
        "rustc": run(["rustc", "--version"]), "python": platform.python_version(),
        "git": os.environ.get("BENCH_E2E_REVISION") or run(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty_files": len([x for x in run(["git", "status", "--porcelain"]).splitlines() if x.strip()]),
    })
    return 0


# --- the report -----------------------------------------------------------------------------

GENERATED = {"End-to-end pipeline (scripts/bench-e2e)", "Sink alone (sink-alone)", "Decision cost (decision-cost)"}


def load(p: pathlib.Path):
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def load_lines(p: pathlib.Path):
    rows = []
    try:
        for line in p.read_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return rows


def fmt(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(c) for c in r) + " |")
    return "\n".join(lines) + "\n"


def json_lines_table(rows: list[dict]) -> str:
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    return table(keys, [[r.get(k) if not isinstance(r.get(k), (dict, list)) else json.dumps(r.get(k))
                         for k in keys] for r in rows])


def existing_sections(path: pathlib.Path) -> list[tuple[str, str]]:
    """`## ` sections of an existing BENCHMARKS.md that this script does not write."""
    if not path.exists():
        return []
    sections, title, buf = [], None, []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("## "):
            if title is not None:
                sections.append((title, "".join(buf)))
            title, buf = line[3:].strip(), [line]
        elif title is not None:
            buf.append(line)
    if title is not None:
        sections.append((title, "".join(buf)))
    return [(t, body) for t, body in sections if t not in GENERATED]


def cmd_report(a) -> int:
    res = pathlib.Path(a.results)
    machine = load(res / "machine.json") or {}
    params = load(res / "params.json") or {}
    backends = [b for b in ("sqlite", "postgres") if (res / b).is_dir()]
    md = ["# Benchmarks\n\n",
          "Sections marked as written by a script are overwritten by its next run; other sections "
          "are kept as they are.\n\n"]
    md.append("## End-to-end pipeline (scripts/bench-e2e)\n\n")
    md.append("Written by `scripts/bench-e2e`. The real binaries (`newswire-fetcher`, `newswire-processor`, "
              "`newswire-sink`, release build) against a private `nats-server -js` and a local feed farm "
              "(`bench/farm.py`), all on 127.0.0.1.\n\n")
    md.append(f"Command: `{a.command}`\n\n")
    load_start = machine.get("loadavg_script_start")
    md.append("**Machine**: " + ", ".join(x for x in [
        f"{machine.get('nproc')} cores ({machine.get('cpu_model')})",
        f"{machine.get('mem_gib')} GiB",
        f"load average {' '.join(machine.get('loadavg', []))} before the runs"
        + (f" ({' '.join(load_start)} at script start, before the build)" if load_start else ""),
        f"nats-server {str(machine.get('nats_server', '')).replace('nats-server: ', '')}",
        f"PostgreSQL {machine.get('postgres')}" if machine.get("postgres") else None,
        machine.get("rustc"), f"git {machine.get('git')}"
        + (f" + {machine['git_dirty_files']} changed files" if machine.get("git_dirty_files") else ""),
        machine.get("date"),
    ] if x) + ".\n\n")
    gt = params.get("farm", {})
    md.append(
        f"**Farm**: {fmt(gt.get('feeds'))} RSS 2.0 feeds × {fmt(gt.get('items_per_feed'))} items = "
        f"{fmt(gt.get('items'))} articles (half Arabic, half English, full text of {fmt(gt.get('text_bytes_mean'))} "
        f"bytes on average in `<content:encoded>`), {fmt(gt.get('exact_copies'))} exact re-publications and "
        f"{fmt(gt.get('near_copies'))} near copies (header/footer line added, one sentence dropped) in other feeds, "
        f"{fmt(gt.get('stories'))} recurring stories; words: {gt.get('vocabulary')}; seed {gt.get('seed')}.\n\n")

    # Drain
    rows, corr, lat_rows, res_rows, log_rows, story_rows = [], [], [], [], [], []
    failed = []
    for b in backends:
        d = res / b / "drain"
        wait, fetch, ceil, check, found = (load(d / n) for n in
                                           ("wait.json", "fetcher.json", "ceiling.json", "check.json", "searchable.json"))
        if wait is None:
            failed.append(f"{b}: the drain did not run")
            continue
        rate = wait.get("articles_per_s")
        ceiling = (ceil or {}).get("msgs_per_s")
        fetch_rate = (wait["expected"] / fetch["seconds"]) if fetch and fetch.get("seconds") else None
        if found is None:
            searchable = "= drain" if b == "sqlite" else None
        elif found["complete"]:
            searchable = f"{found['seconds']:.2f} ({wait['expected'] / max(1e-9, found['seconds']):,.0f}/s)"
        else:
            searchable = f"FAILED: {found.get('reason')}"
        rows.append([b, wait["expected"], f"{fetch['seconds']:.2f}" if fetch else None, fetch_rate,
                     f"{wait['seconds']:.2f}" if wait["complete"] else None, rate, searchable, ceiling,
                     f"{rate / ceiling:.4f}" if rate and ceiling else None,
                     "ok" if wait["complete"] else f"FAILED: {wait.get('reason')}"])
        if not wait["complete"]:
            failed.append(f"{b}: {wait.get('reason')}")
        for phase, cdir in (("drain", d), ("latency", res / b / "latency")):
            c = load(cdir / "check.json")
            if c is None:
                continue
            v = c["violations"]
            ge, gn = c["groups"].get("exact", {}), c["groups"].get("near", {})
            judged = sum(g.get("groups", 0) - g.get("not_judged", 0) for g in (ge, gn))
            first = judged - sum(g.get("canonical_not_original", 0) for g in (ge, gn))
            missing = fmt(c["missing"]) + (" (not stored in time)" if c.get("incomplete_run") and c["missing"] else "")
            corr.append([f"{b} {phase}", c["rows"], c["expected"], missing, c["extra"],
                         f"{ge.get('groups', 0)} / {gn.get('groups', 0)}", judged, v["no_single_canonical"],
                         v["pointing_elsewhere"], v["unrelated_marked_copy"], f"{first} / {judged}",
                         "ok" if c["violations_total"] == 0 else f"{c['violations_total']} violations"])
            s = c.get("stories") or {}
            p3 = (lambda x: f"{x:.3f}" if isinstance(x, float) else x)
            story_rows.append([f"{b} {phase}", s.get("story_ids"), s.get("farm_stories"),
                               p3(s.get("pair_precision")), p3(s.get("pair_recall"))])
        for phase in ("drain", "latency"):
            pdir = res / b / phase
            n_articles = (load(pdir / "wait.json") or {}).get("rows")
            for svc in ("fetcher", "processor", "sink", "nats-server", "farm"):
                st = load(pdir / f"{svc}.json") if svc != "fetcher" or phase != "drain" else load(pdir / "fetcher.json")
                if not st or "cpu_s" not in st:
                    continue
                per = (st["cpu_s"] * 1000 / n_articles) if n_articles else None
                note = ""
                if svc == "fetcher" and phase == "drain":
                    note = "`--once`, whole run (wait4)"
                elif svc == "nats-server":
                    note = "CPU during the phase"
                elif svc == "farm":
                    note = "the feed server (harness), CPU while serving"
                res_rows.append([f"{b} {phase}", svc, st["cpu_s"], per,
                                 round(st["rss_peak_kb"] / 1024, 1) if st.get("rss_peak_kb") else None, note])
            for svc in ("fetcher", "processor", "sink"):
                lg = load(pdir / f"{svc}-log.json")
                if lg and (lg["warn"] or lg["error"]):
                    samples = "; ".join(s for lvl in ("ERROR", "WARN") for s in lg["samples"].get(lvl, []))
                    log_rows.append([f"{b} {phase}", svc, lg["warn"], lg["error"], samples.replace("|", "/")])
        lat = load(res / b / "latency" / "check.json")
        lw = load(res / b / "latency" / "wait.json")
        if lat and lat.get("latency"):
            L = lat["latency"]
            farm = lat.get("farm") or {}
            offered = params.get("live", {}).get("rate")
            stored_rate = L.get("rows_per_s")
            kept_up = "yes" if stored_rate and offered and stored_rate >= 0.9 * offered else "no"
            lat_rows.append([b, f"{fmt(lat['rows'])} / {fmt(lat['expected'] + lat.get('skipped_missed_by_fetcher', 0))}",
                             L["p50_ms"], L["p90_ms"], L["p99_ms"], L["max_ms"], offered, stored_rate, kept_up,
                             farm.get("missed"),
                             "ok" if lw and lw.get("complete")
                             else f"{(lw or {}).get('reason')}; percentiles over the stored rows only (a lower bound)"])
    md.append("### Backlog drain\n\n")
    md.append("The fetcher (`--once`) publishes every item first; then processor and sink start as separate "
              "processes and the clock runs from their start until the store holds one row per link. The "
              "JetStream ceiling is `js-ceiling` on the same nats-server just before (6 KB messages, `Nats-Msg-Id` "
              "set, 256 acks in flight); an article crosses JetStream twice, so 0.5 would be the bus's limit. "
              "All searchable: from the same start until no row waits for its search terms (PostgreSQL's "
              "sink builds them behind the commit by default, `sink.search_indexing`; SQLite indexes in the "
              "commit).\n\n")
    md.append(table(["backend", "articles", "fetch --once (s)", "fetch items/s", "drain (s)", "articles/s",
                     "all searchable (s)", "JetStream ceiling (msg/s)", "ratio to ceiling", "result"], rows))
    md.append("\n### Correctness\n\n")
    md.append("One row per link (missing, extra), and for every copy group of the farm: exactly one row "
              "without `duplicate_of`, every other member pointing at it; articles in no copy group must not be "
              "marked as copies. Groups are judged when all their members are stored. In the latency run, "
              "items the fetcher never saw (they left a feed's window before a poll) are not expected, and "
              "in a run that did not finish, rows not stored yet are no violation. \"Canonical = original\": "
              "groups whose canonical row is the member published first (informative: in the backlog drain "
              "the fetcher publishes feed by feed, not in publication order).\n\n")
    md.append(table(["run", "rows", "expected", "missing", "extra", "copy groups (exact / near)", "groups judged",
                     "groups without one canonical", "members pointing elsewhere", "unrelated marked as copy",
                     "canonical = original", "result"], corr))
    lp = params.get("live", {})
    md.append(f"\n### Latency\n\nThe farm in live mode: {fmt(lp.get('items'))} articles appearing at a steady "
              f"{fmt(lp.get('rate'))} articles/s over {fmt(lp.get('feeds'))} feeds (each shows its latest "
              f"{fmt(lp.get('window'))} items), fetcher polling every feed every 1 s, all three services running. "
              "Latency is `stored_at − fetched_at` of each row. Stored articles/s = rows / (last `stored_at` − "
              "first `fetched_at`); when it is below the offered rate the pipeline did not keep up, and the "
              "latency is mostly the time spent queued.\n\n")
    md.append(table(["backend", "rows / items", "p50 (ms)", "p90 (ms)", "p99 (ms)", "max (ms)", "offered articles/s",
                     "stored articles/s", "kept up", "items missed by the fetcher", "result"], lat_rows))
    md.append("\n### Resources\n\nCPU seconds (utime + stime) and peak RSS (VmHWM) of each process, read just "
              "before it was stopped; CPU ms per article = CPU / rows stored in that run.\n\n")
    md.append(table(["run", "process", "CPU (s)", "CPU ms / article", "peak RSS (MB)", "note"], res_rows))
    md.append("\n### Story clustering (informative)\n\nPairs of rows sharing a `story_id` against the farm's "
              "stories (copies count with their original): precision = share of same-story pairs that the farm "
              "put together, recall = share of the farm's pairs found.\n\n")
    md.append(table(["run", "story ids", "farm stories", "pair precision", "pair recall"], story_rows))
    md.append("\n### Service logs\n\n")
    if log_rows:
        md.append(table(["run", "service", "warnings", "errors", "first messages"], log_rows))
    else:
        md.append("No warnings or errors in the services' logs.\n")
    if failed:
        md.append("\n**Failed runs**: " + "; ".join(failed) + "\n")
    md.append("\n")

    for name, title, blurb in (
        ("sink-alone", "Sink alone (sink-alone)",
         "`target/release/sink-alone`: the store writing synthetic articles with no processor and no NATS in "
         "front (rows per second per backend)."),
        ("decision-cost", "Decision cost (decision-cost)",
         "`target/release/decision-cost`: the processor's decision cost and memory per remembered article."),
    ):
        md.append(f"## {title}\n\nWritten by `scripts/bench-e2e`. {blurb}\n\n")
        info = load(res / f"{name}.json") or {}
        lines = load_lines(res / f"{name}.jsonl")
        if info.get("skipped"):
            md.append(f"Not run: {info['skipped']}\n\n")
        else:
            if info.get("command"):
                md.append(f"Command: `{info['command']}` ({fmt(info.get('seconds'))} s"
                          + (f", exit code {info['exit_code']}" if info.get("exit_code") else "") + ")\n\n")
            md.append(json_lines_table(lines) if lines else "No JSON output.\n")
            md.append("\n")

    outp = pathlib.Path(a.out)
    kept = existing_sections(outp)
    for _, body in kept:
        md.append(body if body.endswith("\n") else body + "\n")
        if not body.endswith("\n\n"):
            md.append("\n")
    outp.write_text("".join(md).rstrip("\n") + "\n", encoding="utf-8")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport").set_defaults(f=cmd_freeport)
    p = sub.add_parser("wait-port")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(f=cmd_wait_port)
    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(f=cmd_wait_http)
    p = sub.add_parser("wait-file")
    p.add_argument("path")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--pid", type=int)
    p.set_defaults(f=cmd_wait_file)
    p = sub.add_parser("rusage")
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(f=cmd_rusage)
    p = sub.add_parser("procstat")
    p.add_argument("pid", type=int)
    p.set_defaults(f=cmd_procstat)
    p = sub.add_parser("wait-rows")
    p.add_argument("--db", required=True)
    p.add_argument("--expected", type=int, required=True)
    p.add_argument("--start", type=float, default=None)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--stall", type=float, default=90)
    p.add_argument("--interval", type=float, default=0.25)
    p.add_argument("--pids", default="")
    p.set_defaults(f=cmd_wait_rows)
    p = sub.add_parser("wait-searchable")
    p.add_argument("--db", required=True)
    p.add_argument("--start", type=float, default=None)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--interval", type=float, default=0.1)
    p.set_defaults(f=cmd_wait_searchable)
    p = sub.add_parser("wait-farm")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=120)
    p.set_defaults(f=cmd_wait_farm)
    p = sub.add_parser("check")
    p.add_argument("--db", required=True)
    p.add_argument("--ground-truth", required=True)
    p.add_argument("--farm-stats")
    p.add_argument("--incomplete", action="store_true", help="the run did not finish: missing rows are no violation")
    p.set_defaults(f=cmd_check)
    p = sub.add_parser("logscan")
    p.add_argument("log")
    p.set_defaults(f=cmd_logscan)
    p = sub.add_parser("machine")
    p.add_argument("--nats-version", default="")
    p.add_argument("--pg-version", default="")
    p.set_defaults(f=cmd_machine)
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--command", default="scripts/bench-e2e")
    p.set_defaults(f=cmd_report)
    a = ap.parse_args()
    if getattr(a, "start", 0) is None:
        a.start = time.time()
    return a.f(a)


if __name__ == "__main__":
    sys.exit(main())
