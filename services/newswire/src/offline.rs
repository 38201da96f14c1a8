//! The offline inspection commands: `inspect feed`, `extract`, `process`. They call the same
//! library code as the services (fetch limits and guard, charset handling, parsing, cleaning,
//! dedup, enrichment), with no NATS and no database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use newswire_app::Settings;
use newswire_fetch::service::parse_body;
use newswire_fetch::{Body, FeedUrl, FetchError, HttpFetcher, Validators, decode_html, looks_binary};
use newswire_model::{Article, Category, Lang, RawItem, SourceId};
use newswire_process::inputs::{InputContext, raw_from_page, raw_from_text};
use newswire_process::{Outcome, Processor, analyze_batch};

/// Exit code when an input could not be read (missing file, network error, refused URL, too
/// large).
pub const EXIT_UNREADABLE: u8 = 1;
/// Exit code for usage and configuration errors (also clap's).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when an input was read but is not usable (not a feed, malformed XML, unknown
/// encoding, binary data, no article text).
pub const EXIT_UNUSABLE: u8 = 3;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// A readable view for a person.
    Text,
    /// The article text only, paragraphs separated by blank lines (`extract` only).
    Plain,
}

/// Options shared by the offline commands.
#[derive(clap::Args, Debug, Clone)]
pub struct InputOptions {
    /// Source id given to the items.
    #[arg(long, default_value = "cli")]
    pub source: String,
    /// Language hint (used when detection is unsure).
    #[arg(long)]
    pub language: Option<String>,
    /// Category given to the items.
    #[arg(long, default_value = "general")]
    pub category: String,
}

/// An input failure: the message (naming the input) and its exit code.
struct Failure {
    message: String,
    code: u8,
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        let code = if e.is_parse_error() { EXIT_UNUSABLE } else { EXIT_UNREADABLE };
        Failure { message: e.to_string(), code }
    }
}

fn fail(f: &Failure) {
    eprintln!("newswire: {}", f.message);
}

struct Env {
    http: HttpFetcher,
    settings: Settings,
    source: SourceId,
    language: Option<Lang>,
    category: Category,
}

/// The shared set-up of the offline commands; a bad option or setting is reported here and
/// yields `Err` with the usage exit code.
fn env(settings: Settings, opts: &InputOptions) -> Result<Env, ExitCode> {
    try_env(settings, opts).map_err(|m| {
        eprintln!("newswire: {m}");
        ExitCode::from(EXIT_USAGE)
    })
}

fn try_env(settings: Settings, opts: &InputOptions) -> Result<Env, String> {
    let source = SourceId::parse(&opts.source).map_err(|e| format!("--source: {e}"))?;
    let language =
        opts.language.as_deref().map(Lang::parse).transpose().map_err(|e| format!("--language: {e}"))?;
    let category = Category::parse(&opts.category).map_err(|e| format!("--category: {e}"))?;
    let http = HttpFetcher::new(&settings.fetcher).map_err(|e| e.to_string())?;
    Ok(Env { http, settings, source, language, category })
}

/// An input as read, and where it came from.
struct Input {
    origin: String,
    body: Body,
}

async fn read(env: &Env, input: &str) -> Result<Input, Failure> {
    let url = env.http.guard().parse(input)?;
    if let FeedUrl::File(p) = &url
        && !p.exists()
    {
        return Err(Failure { message: format!("{input}: no such file"), code: EXIT_UNREADABLE });
    }
    let body = env.http.fetch(&url, &Validators::default()).await?;
    Ok(Input { origin: input.to_owned(), body })
}

fn input_ctx(env: &Env, origin: &str) -> InputContext {
    InputContext {
        source_id: env.source.clone(),
        origin: origin.to_owned(),
        language_hint: env.language.clone(),
        category: env.category.clone(),
        fetched_at: Utc::now(),
    }
}

fn feed_items(env: &Env, input: &Input) -> Result<Vec<RawItem>, Failure> {
    Ok(parse_body(
        &input.body,
        &env.source,
        &input.origin,
        env.language.as_ref(),
        &env.category,
        env.http.max_items(),
    )?
    .items)
}

/// A page's main article as a raw item: charset as the fetcher decides it, then extraction.
fn page_item(env: &Env, input: &Input) -> Result<RawItem, Failure> {
    let decoded = decode_html(&input.body.bytes, input.body.content_type.as_deref(), &input.origin)?;
    if looks_binary(&decoded.text) {
        return Err(Failure {
            message: format!("{}: binary data, not a page", input.origin),
            code: EXIT_UNUSABLE,
        });
    }
    Ok(raw_from_page(&decoded.text, &input_ctx(env, &input.origin)).0)
}

fn print_line(out: &mut impl Write, line: &str) -> bool {
    // A closed pipe (`| head`) ends the command quietly.
    writeln!(out, "{line}").is_ok()
}

/// `newswire inspect feed`.
pub async fn inspect_feed(settings: Settings, opts: &InputOptions, input: &str, format: Format) -> ExitCode {
    let env = match env(settings, opts) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let items = match read(&env, input).await.and_then(|i| feed_items(&env, &i)) {
        Ok(items) => items,
        Err(f) => {
            fail(&f);
            return ExitCode::from(f.code);
        }
    };
    let mut out = std::io::stdout().lock();
    for item in &items {
        let line = match format {
            Format::Text => format!(
                "{}\n  id: {}\n  link: {}\n  published: {}\n  language hint: {}\n",
                item.title.as_deref().unwrap_or("(no title)"),
                item.id,
                item.link.as_deref().unwrap_or("-"),
                item.published.map(|d| d.to_rfc3339()).unwrap_or_else(|| "-".into()),
                item.language_hint.as_ref().map(Lang::as_str).unwrap_or("-"),
            ),
            _ => match serde_json::to_string(item) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("newswire: {input}: cannot encode item: {e}");
                    return ExitCode::from(EXIT_UNUSABLE);
                }
            },
        };
        if !print_line(&mut out, &line) {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// `newswire extract`.
pub async fn extract(settings: Settings, opts: &InputOptions, input: &str, format: Format) -> ExitCode {
    let env = match env(settings, opts) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut processor = Processor::new(&env.settings.processor);
    let result = read(&env, input).await.and_then(|i| {
        let raw = page_item(&env, &i)?;
        match processor.process(&raw, Utc::now()) {
            Outcome::Article(a) => Ok(*a),
            Outcome::Dropped(_) => {
                Err(Failure { message: format!("{input}: no article text found"), code: EXIT_UNUSABLE })
            }
        }
    });
    let article = match result {
        Ok(a) => a,
        Err(f) => {
            fail(&f);
            return ExitCode::from(f.code);
        }
    };
    let mut out = std::io::stdout().lock();
    let text = match format {
        Format::Plain => article.text.clone(),
        Format::Text => readable(&article, input),
        Format::Json => serde_json::to_string(&article).unwrap_or_default(),
    };
    print_line(&mut out, &text);
    ExitCode::SUCCESS
}

/// What an input file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Feed,
    Page,
    Text,
}

fn kind_of(path: &str, input: &Input) -> Kind {
    let ext = Path::new(path).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("txt" | "text") => return Kind::Text,
        Some("html" | "htm" | "xhtml") => return Kind::Page,
        Some("xml" | "rss" | "atom" | "rdf" | "json") => return Kind::Feed,
        _ => {}
    }
    if let Some(ct) = input.body.content_type.as_deref() {
        if ct.contains("html") {
            return Kind::Page;
        }
        if ct.contains("xml") || ct.contains("json") {
            return Kind::Feed;
        }
        if ct.starts_with("text/plain") {
            return Kind::Text;
        }
    }
    let head: String =
        String::from_utf8_lossy(&input.body.bytes[..input.body.bytes.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    if head.contains("<html") || head.starts_with("<!doctype html") {
        Kind::Page
    } else if head.starts_with('<') || head.starts_with('{') {
        Kind::Feed
    } else {
        Kind::Text
    }
}

/// File extensions taken from a directory; files named explicitly are read whatever their name.
const INPUT_EXTENSIONS: &[&str] =
    &["txt", "text", "html", "htm", "xhtml", "xml", "rss", "atom", "rdf", "json"];

/// Expands directories into their input files in name order (not recursive; hidden files and
/// other extensions skipped).
fn expand(inputs: &[String]) -> Vec<Result<String, Failure>> {
    let mut out = Vec::new();
    for i in inputs {
        let p = PathBuf::from(i);
        if i != "-" && p.is_dir() {
            match std::fs::read_dir(&p) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| {
                            f.is_file()
                                && !f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
                                && f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                                    INPUT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                                })
                        })
                        .collect();
                    files.sort();
                    out.extend(files.into_iter().map(|f| Ok(f.display().to_string())));
                }
                Err(e) => out.push(Err(Failure { message: format!("{i}: {e}"), code: EXIT_UNREADABLE })),
            }
        } else {
            out.push(Ok(i.clone()));
        }
    }
    out
}

/// Overrides of the processor settings from the command line.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProcessOverrides {
    /// Near-duplicate threshold (estimated Jaccard of word 3-shingles).
    #[arg(long)]
    pub near_dup_threshold: Option<f32>,
    /// Story clustering threshold (TF-IDF cosine of terms and entities).
    #[arg(long)]
    pub story_threshold: Option<f32>,
    /// Articles remembered for near-duplicate detection.
    #[arg(long)]
    pub near_dup_window: Option<usize>,
    /// Articles remembered for story clustering.
    #[arg(long)]
    pub story_window: Option<usize>,
}

/// `newswire process`.
pub async fn process(
    mut settings: Settings,
    opts: &InputOptions,
    overrides: &ProcessOverrides,
    inputs: &[String],
    format: Format,
) -> ExitCode {
    let p = &mut settings.processor;
    p.near_dup_threshold = overrides.near_dup_threshold.unwrap_or(p.near_dup_threshold);
    p.story_threshold = overrides.story_threshold.unwrap_or(p.story_threshold);
    p.near_dup_window = overrides.near_dup_window.unwrap_or(p.near_dup_window);
    p.story_window = overrides.story_window.unwrap_or(p.story_window);
    let env = match env(settings, opts) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut processor = Processor::new(&env.settings.processor);
    let mut worst = 0u8;
    let mut out = std::io::stdout().lock();
    let mut pending: Vec<(String, RawItem)> = Vec::new();
    for input in expand(inputs) {
        let result = match input {
            Ok(path) => items_of(&env, &path).await,
            Err(f) => Err(f),
        };
        match result {
            Ok(items) => pending.extend(items),
            Err(f) => {
                fail(&f);
                worst = worst.max(f.code);
            }
        }
        // Analysed a chunk at a time on every core, decided in input order: the service's way.
        if pending.len() >= CHUNK && !decide_and_print(&env, &mut processor, &mut pending, format, &mut out) {
            return exit(worst);
        }
    }
    decide_and_print(&env, &mut processor, &mut pending, format, &mut out);
    exit(worst)
}

/// Items analysed together by `newswire process`.
const CHUNK: usize = 64;

fn exit(worst: u8) -> ExitCode {
    if worst == 0 { ExitCode::SUCCESS } else { ExitCode::from(worst) }
}

/// The raw items of one input: a feed's entries, a page or a text file.
async fn items_of(env: &Env, path: &str) -> Result<Vec<(String, RawItem)>, Failure> {
    let input = read(env, path).await?;
    let items: Vec<(String, RawItem)> = match kind_of(path, &input) {
        Kind::Feed => feed_items(env, &input)?
            .into_iter()
            .map(|i| (i.link.clone().map_or_else(|| path.to_owned(), |l| format!("{path}#{l}")), i))
            .collect(),
        Kind::Page => {
            vec![(path.to_owned(), page_item(env, &input)?)]
        }
        Kind::Text => {
            let text = String::from_utf8(input.body.bytes)
                .map_err(|_| Failure { message: format!("{path}: not UTF-8 text"), code: EXIT_UNUSABLE })?;
            if looks_binary(&text) {
                return Err(Failure { message: format!("{path}: binary data"), code: EXIT_UNUSABLE });
            }
            vec![(path.to_owned(), raw_from_text(&text, &input_ctx(env, path)))]
        }
    };
    if items.is_empty() {
        return Err(Failure { message: format!("{path}: no articles"), code: EXIT_UNUSABLE });
    }
    Ok(items)
}

/// Processes and prints the pending items; `false` when stdout was closed.
fn decide_and_print(
    env: &Env,
    processor: &mut Processor,
    pending: &mut Vec<(String, RawItem)>,
    format: Format,
    out: &mut impl Write,
) -> bool {
    let (origins, raws): (Vec<String>, Vec<RawItem>) = pending.drain(..).unzip();
    let fresh: Vec<bool> = raws.iter().map(|r| !processor.seen(r)).collect();
    let analysed = analyze_batch(raws, &fresh, &env.settings.processor);
    for (origin, analysis) in origins.into_iter().zip(analysed) {
        let outcome = match analysis {
            Ok(a) => processor.decide(a, Utc::now()),
            Err(reason) => Outcome::Dropped(reason),
        };
        match outcome {
            Outcome::Article(a) => {
                let line = match format {
                    Format::Text => readable(&a, &origin),
                    _ => json_line(&a, &origin),
                };
                if !print_line(out, &line) {
                    return false;
                }
            }
            Outcome::Dropped(reason) => {
                eprintln!("newswire: {origin}: dropped ({})", reason.as_str());
            }
        }
    }
    true
}

/// The article as JSON with the `input`, `duplicate_of` and `similarity` fields added.
fn json_line(a: &Article, input: &str) -> String {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("input".into(), input.into());
        o.insert("duplicate_of".into(), a.duplicate.as_ref().map(|d| d.of.to_string()).into());
        o.insert("similarity".into(), a.duplicate.as_ref().map(|d| f64::from(d.similarity)).into());
    }
    v.to_string()
}

/// A readable view: title, language, story, duplicate decision, entities, first lines.
fn readable(a: &Article, input: &str) -> String {
    let dup = match &a.duplicate {
        Some(d) => {
            format!("{:?} duplicate of {} (similarity {:.2})", d.kind, d.of, d.similarity).to_lowercase()
        }
        None => "original".to_owned(),
    };
    let entities: Vec<String> =
        a.entities.iter().take(12).map(|e| format!("{} ({})", e.name, e.count)).collect();
    let lines: Vec<&str> = a.text.split("\n\n").take(3).collect();
    format!(
        "── {input}\n   title:     {}\n   id:        {}\n   language:  {}\n   published: {}\n   story:     {}\n   dedup:     {dup}\n   entities:  {}\n   keywords:  {}\n   text:      {}\n",
        a.title,
        a.id,
        a.language,
        a.published_at.map(|d| d.to_rfc3339()).unwrap_or_else(|| "-".into()),
        a.story_id.as_deref().unwrap_or("-"),
        if entities.is_empty() { "-".to_owned() } else { entities.join(", ") },
        a.keywords.join(", "),
        lines
            .iter()
            .map(|l| l.chars().take(160).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n              "),
    )
}
