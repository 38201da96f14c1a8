use super::*;
use serde::Deserialize;

#[derive(Debug, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    nats: Nats,
    sink: Sink,
}
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Nats {
    url: String,
    timeout_secs: u64,
}
impl Default for Nats {
    fn default() -> Self {
        Self { url: "nats://127.0.0.1:4222".into(), timeout_secs: 5 }
    }
}
#[derive(Debug, Deserialize, Default, PartialEq)]
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
