//! Repository rules checked by `cargo test` (rust-analyzer's tidy): one TLS, HTTP and async
//! stack; every crate documented and under the workspace lints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn one_version_of_each_heavy_crate_and_no_second_tls_stack() {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let mut versions: HashMap<String, Vec<String>> = HashMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            versions.entry(n).or_default().push(v.trim_matches('"').to_owned());
        }
    }
    for heavy in
        ["tokio", "hyper", "rustls", "ring", "reqwest", "axum", "sqlx", "async-nats", "html5ever", "serde"]
    {
        let v = versions.get(heavy).map(Vec::len).unwrap_or(0);
        assert_eq!(
            v,
            1,
            "{heavy}: expected exactly one version in Cargo.lock, found {:?}",
            versions.get(heavy)
        );
    }
    for banned in ["openssl", "openssl-sys", "native-tls", "aws-lc-rs", "aws-lc-sys", "async-std", "h2"] {
        assert!(
            !versions.contains_key(banned),
            "{banned} is in Cargo.lock: one TLS stack (rustls + ring), HTTP/1 only"
        );
    }
}

#[test]
fn every_crate_has_a_crate_doc_and_the_workspace_lints() {
    for group in ["crates", "services"] {
        for entry in std::fs::read_dir(root().join(group)).unwrap() {
            let dir = entry.unwrap().path();
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(
                manifest.contains("[lints]\nworkspace = true"),
                "{}: missing [lints] workspace = true",
                dir.display()
            );
            let src = ["src/lib.rs", "src/main.rs"].iter().map(|f| dir.join(f)).find(|p| p.exists()).unwrap();
            let text = std::fs::read_to_string(&src).unwrap();
            assert!(text.starts_with("//!"), "{}: no //! crate documentation", src.display());
        }
    }
}
