//! Layered configuration, one way for every service (12-factor).
//!
//! Load order, later layers winning key by key:
//! 1. compiled defaults (the `Default`/`#[serde(default)]` of each settings struct);
//! 2. the TOML file given with `--config` (or `NEWSWIRE_CONFIG`), if any;
//! 3. environment variables `NEWSWIRE_<SECTION>__<KEY>` (double underscore between levels),
//!    e.g. `NEWSWIRE_NATS__URL=nats://nats:4222` or `NEWSWIRE_SINK__BATCH_SIZE=512`. A value is
//!    read as TOML when it parses as a TOML value (numbers, booleans, arrays), else as a string.
//!
//! Each settings struct lives next to the code it configures and uses
//! `#[serde(deny_unknown_fields)]`, so a misspelt key is an error that names it rather than a
//! silently ignored line. Errors always name the key path (`sink.batch_size`) and the layer it
//! came from.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

/// Prefix of the environment variables that override configuration.
pub const ENV_PREFIX: &str = "NEWSWIRE_";

/// Environment variable naming the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "NEWSWIRE_CONFIG";

/// Why configuration could not be loaded. Every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An environment variable does not map onto a key.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A key has a wrong value or is unknown.
    #[error("config key `{key}`: {message} (after applying {layers})")]
    Value {
        /// Dotted path of the key.
        key: String,
        /// What is wrong, including the valid keys for an unknown one.
        message: String,
        /// The layers that were applied, to tell where the value came from.
        layers: String,
    },
}

/// Loads settings `T` from defaults, an optional file and the environment.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> Result<T, ConfigError> {
    load_from(file, std::env::vars())
}

/// [`load`] with an explicit environment, for tests.
pub fn load_from<T: DeserializeOwned>(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut layers = vec!["defaults".to_owned()];
    let mut root = Table::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        root = text.parse::<Table>().map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
        layers.push(path.display().to_string());
    }
    let mut env_vars: Vec<(String, String)> =
        env.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX) && k != CONFIG_ENV).collect();
    // Sorted so that the outcome never depends on the environment's iteration order.
    env_vars.sort();
    for (var, value) in &env_vars {
        apply_env(&mut root, var, value)?;
    }
    if !env_vars.is_empty() {
        layers.push("environment".to_owned());
    }
    deserialize(root, &layers.join(" + "))
}

/// Parses settings from a TOML string (no environment), e.g. for tests and examples.
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let root = text.parse::<Table>().map_err(|e| ConfigError::Syntax {
        path: PathBuf::from("<string>"),
        message: e.to_string().trim().to_owned(),
    })?;
    deserialize(root, "defaults + string")
}

fn deserialize<T: DeserializeOwned>(root: Table, layers: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(root)).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Value {
            key: if key == "." { "<root>".to_owned() } else { key },
            // The TOML deserializer appends "in `section`" lines; the key path already says it.
            message: e.into_inner().to_string().lines().next().unwrap_or_default().to_owned(),
            layers: layers.to_owned(),
        }
    })
}

fn apply_env(root: &mut Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Env { var: var.to_owned(), message: message.to_owned() };
    let rest = &var[ENV_PREFIX.len()..];
    let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(|p| p.is_empty() || p.starts_with('_') || p.ends_with('_')) {
        return Err(err(
            "expected NEWSWIRE_<SECTION>__<KEY>, e.g. NEWSWIRE_NATS__URL (double underscore between levels)",
        ));
    }
    let parsed = parse_env_value(value);
    let (last, parents) = path.split_last().ok_or_else(|| err("empty key"))?;
    let mut table = root;
    for part in parents {
        let entry = table.entry(part.clone()).or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(t) => t,
            _ => return Err(err(&format!("`{part}` is a value, not a section"))),
        };
    }
    table.insert(last.clone(), parsed);
    Ok(())
}

/// Reads an environment value as a TOML value when it is one, else as a plain string, so that
/// `NEWSWIRE_SINK__BATCH_SIZE=512` is a number and `NEWSWIRE_NATS__URL=nats://x` a string.
fn parse_env_value(value: &str) -> Value {
    format!("v = {value}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(value.to_owned()))
}

#[cfg(test)]
mod tests;
