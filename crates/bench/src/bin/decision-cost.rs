//! Decision cost per article and memory per remembered article at several window sizes.
//!
//! `decision-cost [--windows 1000,10000,100000] [--memory 50000,200000] [--measure 20000]
//! [--scale exact,near,story]`
//!
//! Articles are synthetic: ~250 words drawn with a Zipf law from a 30,000-word vocabulary,
//! plus words of one of 2,000 recurring topics and a few names from a small set that many
//! articles share (the fan-out case: names in the news). 10 % are exact copies and 3 % near
//! copies of a recent article. For each window size, the processor's windows (exact, near,
//! story) are all set to it and filled with that many articles through the real `decide`;
//! then `--measure` further articles are timed through `decide` alone (their analysis is done
//! beforehand), in nine rounds interleaved across window sizes, each size's median reported. `--scale` lets only the named
//! memories take each window size (the others keep the smallest), to see which one a growth
//! comes from. Memory, measured in a child process of its own, is the growth of the resident
//! set while a window fills, divided by the articles remembered, and the slope between two
//! sizes (which cancels fixed costs); next to it, what each memory's structures hold by their
//! capacities (`accounted_bytes_per_article`). Prints one JSON object per line.

use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use newswire_model::{ArticleId, Category, RawItem, SCHEMA_VERSION, SourceId};
use newswire_process::{Analysis, Outcome, Processor, ProcessorSettings, analyze_batch};

/// The processor's allocator, so that memory per article is what the service holds.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A small deterministic generator (SplitMix64), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Zipf-distributed ranks by inverse transform over the cumulative weights.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Self {
        let mut acc = 0.0;
        Self(
            (1..=n)
                .map(|r| {
                    acc += 1.0 / r as f64;
                    acc
                })
                .collect(),
        )
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.0.last().copied().unwrap_or(1.0);
        let x = rng.unit() * total;
        self.0.partition_point(|c| *c < x)
    }
}

const NAMES: &[&str] = &[
    "Putin",
    "Trump",
    "Lavrov",
    "Rubio",
    "Biden",
    "Zelensky",
    "Netanyahu",
    "Erdogan",
    "Macron",
    "Xi",
    "Riyadh",
    "Moscow",
    "Washington",
    "Kyiv",
    "Gaza",
    "Tehran",
];

struct Generator {
    rng: Rng,
    zipf: Zipf,
    recent: Vec<(String, String)>,
    n: u64,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Self { rng: Rng(seed), zipf: Zipf::new(30_000), recent: Vec::new(), n: 0 }
    }

    fn word(&mut self) -> String {
        format!("w{}", self.zipf.sample(&mut self.rng))
    }

    fn article(&mut self) -> (String, String) {
        let topic = self.rng.below(2_000);
        let mut words = Vec::with_capacity(260);
        for i in 0..250 {
            words.push(match i % 25 {
                0 => format!("topic{topic}x{}", self.rng.below(4)),
                7 => NAMES[self.rng.below(NAMES.len())].to_owned(),
                _ => self.word(),
            });
        }
        let title = (0..8).map(|_| self.word()).collect::<Vec<_>>().join(" ");
        let body = words.chunks(50).map(|p| format!("<p>{}.</p>", p.join(" "))).collect::<String>();
        (title, body)
    }

    fn item(&mut self) -> RawItem {
        self.n += 1;
        let roll = self.rng.unit();
        let (title, body) = if roll < 0.10 && !self.recent.is_empty() {
            self.recent[self.rng.below(self.recent.len())].clone()
        } else if roll < 0.13 && !self.recent.is_empty() {
            let (t, b) = self.recent[self.rng.below(self.recent.len())].clone();
            (t, format!("{b}<p>Published by another outlet, all rights reserved.</p>"))
        } else {
            let a = self.article();
            if self.recent.len() < 500 {
                self.recent.push(a.clone());
            } else {
                let i = self.rng.below(500);
                self.recent[i] = a.clone();
            }
            a
        };
        let link = format!("https://farm.example/{}", self.n);
        RawItem {
            schema_version: SCHEMA_VERSION,
            id: ArticleId::digest(&[&link]),
            source_id: SourceId::parse("bench").unwrap_or_else(|_| unreachable!("valid id")),
            feed_url: "https://farm.example/feed".into(),
            guid: None,
            link: Some(link),
            title: Some(title),
            content: Some(body),
            summary: None,
            authors: vec![],
            feed_categories: vec![],
            published: Some(Utc::now()),
            updated: None,
            language_hint: None,
            category: Category::general(),
            fetched_at: Utc::now(),
            http: None,
        }
    }

    fn analysed(&mut self, n: usize, settings: &ProcessorSettings) -> Vec<Analysis> {
        let items: Vec<RawItem> = (0..n).map(|_| self.item()).collect();
        let fresh = vec![true; items.len()];
        analyze_batch(items, &fresh, settings).into_iter().flatten().collect()
    }
}

/// Flag of the child process that measures memory (see `main`).
const MEMORY_CHILD: &str = "--memory-child";

/// Timed rounds per window size.
const ROUNDS: usize = 9;

fn rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

/// The default settings with the exact, near-duplicate and story windows given.
fn settings(exact: usize, near: usize, story: usize) -> ProcessorSettings {
    ProcessorSettings {
        dedup_capacity: exact,
        near_dup_window: near,
        story_window: story,
        ..ProcessorSettings::default()
    }
}

/// Fills `processor` with `n` more articles through `decide`, analysing in chunks.
fn fill(processor: &mut Processor, generator: &mut Generator, n: usize, s: &ProcessorSettings) {
    let mut left = n;
    while left > 0 {
        let chunk = left.min(256);
        for a in generator.analysed(chunk, s) {
            let _ = processor.decide(a, Utc::now());
        }
        left -= chunk;
    }
}

fn list(args: &[String], flag: &str, default: &[usize]) -> Vec<usize> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let windows = list(&args, "--windows", &[1_000, 10_000, 100_000]);
    let memory = list(&args, "--memory", &[50_000, 200_000]);
    let scale: Vec<String> =
        args.iter().position(|a| a == "--scale").and_then(|i| args.get(i + 1)).map_or_else(
            || vec!["exact".into(), "near".into(), "story".into()],
            |v| v.split(',').map(|x| x.trim().to_owned()).collect(),
        );
    let measure = list(&args, "--measure", &[20_000]).first().copied().unwrap_or(20_000);

    // Memory in a child process of its own: memory freed by another run would be reused and
    // hide the growth, and the heap the memory run leaves behind (a window of 200,000
    // articles, freed) would scatter the decision-cost runs' data and slow them down.
    if !args.iter().any(|a| a == MEMORY_CHILD) && !memory.is_empty() {
        let me = std::env::current_exe().context("locating this executable")?;
        let list = memory.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let out = std::process::Command::new(me)
            .args([MEMORY_CHILD, "--memory", &list])
            .output()
            .context("running the memory measurement")?;
        anyhow::ensure!(
            out.status.success(),
            "memory measurement failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    if args.iter().any(|a| a == MEMORY_CHILD) {
        // One processor whose windows hold the largest size, measured as it fills.
        let top = memory.iter().copied().max().unwrap_or(0);
        let s = settings(top, top, top);
        let mut processor = Processor::new(&s);
        let mut generator = Generator::new(11);
        let before = rss_bytes()?;
        let mut filled = 0;
        let mut previous: Option<(usize, u64)> = None;
        let mut sizes = memory.clone();
        sizes.sort_unstable();
        for size in sizes {
            fill(&mut processor, &mut generator, size - filled, &s);
            filled = size;
            let rss = rss_bytes()?;
            let per = (rss.saturating_sub(before)) as f64 / size as f64;
            let slope = previous
                .map(|(n0, r0)| format!("{:.0}", (rss.saturating_sub(r0)) as f64 / (size - n0) as f64))
                .unwrap_or_else(|| "null".into());
            let (exact, near, story) = processor.remembered();
            // What the memories' own structures hold, from their capacities, per article:
            // the part of the resident growth that each of them accounts for.
            let (he, hn, hs) = processor.heap_bytes();
            let per_size = |b: usize| b as f64 / size as f64;
            let accounted = format!(
                "{{\"exact\":{:.0},\"near\":{:.0},\"story\":{:.0},\"total\":{:.0}}}",
                per_size(he),
                per_size(hn),
                per_size(hs),
                per_size(he + hn + hs)
            );
            println!(
                "{{\"measure\":\"memory\",\"window\":{size},\"remembered\":[{exact},{near},{story}],\"bytes_per_article\":{per:.0},\"bytes_per_article_since_previous\":{slope},\"accounted_bytes_per_article\":{accounted}}}"
            );
            previous = Some((size, rss));
        }
    }

    if args.iter().any(|a| a == MEMORY_CHILD) {
        return Ok(());
    }

    // Decision cost: the same measured articles at every window size. All windows are filled
    // first, then timed in interleaved rounds (each round times every window in turn), and
    // each window's median round is reported: a burst of other work on a shared machine then
    // hits all windows alike instead of deciding one window's figure.
    struct Run {
        window: usize,
        settings: ProcessorSettings,
        processor: Processor,
        generator: Generator,
        copies: usize,
        n: usize,
        rounds: Vec<f64>,
    }
    let small = windows.iter().copied().min().unwrap_or(0);
    let mut runs: Vec<Run> = Vec::new();
    for &w in &windows {
        // `--scale` names the memories that take the window size; the others keep the
        // smallest, to see which one a growth in cost comes from.
        let pick = |name: &str| if scale.iter().any(|x| x == name) { w } else { small };
        let settings = settings(pick("exact"), pick("near"), pick("story"));
        let mut processor = Processor::new(&settings);
        let mut generator = Generator::new(7);
        fill(&mut processor, &mut generator, w, &settings);
        runs.push(Run { window: w, settings, processor, generator, copies: 0, n: 0, rounds: Vec::new() });
    }
    for _ in 0..ROUNDS {
        for run in &mut runs {
            let batch = run.generator.analysed(measure.div_ceil(ROUNDS), &run.settings);
            let len = batch.len();
            let started = Instant::now();
            for a in batch {
                if let Outcome::Article(a) = run.processor.decide(a, Utc::now())
                    && a.duplicate.is_some()
                {
                    run.copies += 1;
                }
            }
            run.rounds.push(started.elapsed().as_secs_f64() * 1e6 / len.max(1) as f64);
            run.n += len;
        }
    }
    let mut baseline = None;
    for run in &mut runs {
        run.rounds.sort_by(f64::total_cmp);
        let us = run.rounds.get(run.rounds.len() / 2).copied().unwrap_or(0.0);
        let base = *baseline.get_or_insert(us);
        let (exact, near, story) = run.processor.remembered();
        let (w, n, copies) = (run.window, run.n, run.copies);
        println!(
            "{{\"measure\":\"decision_cost\",\"window\":{w},\"articles\":{n},\"copies_marked\":{copies},\"us_per_article\":{us:.2},\"ratio_to_smallest_window\":{:.2},\"remembered\":[{exact},{near},{story}]}}",
            us / base
        );
    }

    Ok(())
}
