use super::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    nats: Nats,
    sink: Sink,
}
/// A nested section whose fields have no serde defaults of their own: only the compiled
/// default of the parent knows them (like `nats.raw_stream`).
#[derive(Debug, Deserialize, Serialize, PartialEq, Clone)]
#[serde(deny_unknown_fields)]
struct Stream {
    name: String,
    window_secs: u64,
}
#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Nats {
    url: String,
    timeout_secs: u64,
    #[serde(skip_serializing)]
    token: Option<String>,
    retries: Option<u32>,
    stream: Stream,
}
impl Default for Nats {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            timeout_secs: 5,
            token: None,
            retries: None,
            stream: Stream { name: "RAW".into(), window_secs: 600 },
        }
    }
}
#[derive(Debug, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Sink {
    batch_size: u32,
    tags: Vec<String>,
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn defaults_apply_without_file_or_env() {
    let s: Settings = load_from(None, env(&[("PATH", "/bin")])).unwrap();
    assert_eq!(s.nats, Nats::default());
}

#[test]
fn file_then_env_override_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[nats]\nurl = \"nats://file:4222\"\ntimeout_secs = 9\n").unwrap();
    let s: Settings = load_from(
        Some(&path),
        env(&[
            ("NEWSWIRE_NATS__URL", "nats://env:4222"),
            ("NEWSWIRE_SINK__BATCH_SIZE", "512"),
            ("NEWSWIRE_SINK__TAGS", "[\"a\", \"b\"]"),
        ]),
    )
    .unwrap();
    assert_eq!(s.nats.url, "nats://env:4222");
    assert_eq!(s.nats.timeout_secs, 9, "file value kept where env is silent");
    assert_eq!(s.sink.batch_size, 512);
    assert_eq!(s.sink.tags, ["a", "b"]);
}

#[test]
fn unknown_key_is_an_error_naming_it_and_the_valid_ones() {
    let e = load_from::<Settings>(None, env(&[("NEWSWIRE_NATS__URLL", "x")])).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("nats.urll") || msg.contains("urll"), "{msg}");
    assert!(msg.contains("expected") && msg.contains("`url`") && msg.contains("`timeout_secs`"), "{msg}");
}

#[test]
fn wrong_type_names_the_key_and_layer() {
    let e = load_from::<Settings>(None, env(&[("NEWSWIRE_SINK__BATCH_SIZE", "lots")])).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("config key `sink.batch_size`"), "{msg}");
    assert!(msg.contains("environment"), "{msg}");
}

#[test]
fn malformed_env_name_and_bad_toml_are_clear_errors() {
    let e = load_from::<Settings>(None, env(&[("NEWSWIRE_NATS___URL", "x")])).unwrap_err();
    assert!(e.to_string().contains("double underscore"), "{e}");
    let e = from_toml::<Settings>("[nats\nurl=1").unwrap_err();
    assert!(e.to_string().contains("not valid TOML"), "{e}");
    let e = load_from::<Settings>(Some(Path::new("/nonexistent/x.toml")), env(&[])).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/x.toml"), "{e}");
}

#[test]
fn one_key_of_a_nested_section_is_overridden_alone_from_env_and_file() {
    let s: Settings = load_from(None, env(&[("NEWSWIRE_NATS__STREAM__WINDOW_SECS", "1")])).unwrap();
    assert_eq!(s.nats.stream, Stream { name: "RAW".into(), window_secs: 1 });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[nats.stream]\nwindow_secs = 2\n").unwrap();
    let s: Settings = load_from(Some(&path), env(&[])).unwrap();
    assert_eq!(s.nats.stream, Stream { name: "RAW".into(), window_secs: 2 });
    assert_eq!(s.nats.url, Nats::default().url, "the rest of the section keeps its defaults");
    let s: Settings = from_toml("[nats.stream]\nname = \"OTHER\"\n").unwrap();
    assert_eq!(s.nats.stream, Stream { name: "OTHER".into(), window_secs: 600 });
}

#[test]
fn newswire_variables_that_are_not_config_keys_are_ignored() {
    let s: Settings = load_from(
        None,
        env(&[
            ("NEWSWIRE_TEST_PG", "postgres://x"),
            ("NEWSWIRE_SEEDS_DIR", "/tmp/seeds"),
            ("NEWSWIRE_CONFIG", "/nonexistent.toml"),
        ]),
    )
    .unwrap();
    assert_eq!(s, Settings::default());
}

#[test]
fn an_unknown_section_is_an_error_listing_the_sections() {
    let e = load_from::<Settings>(None, env(&[("NEWSWIRE_NAST__URL", "x")])).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("NEWSWIRE_NAST__URL") && msg.contains("unknown section `nast`"), "{msg}");
    assert!(msg.contains("nats") && msg.contains("sink"), "{msg}");
}

#[test]
fn env_values_take_the_type_of_their_key() {
    // A string key keeps digits (and anything else TOML would read otherwise) as text.
    let s: Settings = load_from(
        None,
        env(&[
            ("NEWSWIRE_NATS__URL", "123"),
            ("NEWSWIRE_NATS__TOKEN", "123456"),
            ("NEWSWIRE_NATS__RETRIES", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(s.nats.url, "123");
    assert_eq!(s.nats.token.as_deref(), Some("123456"), "an optional string key without a default");
    assert_eq!(s.nats.retries, Some(3), "an optional number without a default");
    let s: Settings = load_from(None, env(&[("NEWSWIRE_NATS__TOKEN", "true")])).unwrap();
    assert_eq!(s.nats.token.as_deref(), Some("true"));
    // A wrong type for a typed key is still an error naming it.
    let e = load_from::<Settings>(None, env(&[("NEWSWIRE_NATS__RETRIES", "many")])).unwrap_err();
    assert!(e.to_string().starts_with("config key `nats.retries`"), "{e}");
}
