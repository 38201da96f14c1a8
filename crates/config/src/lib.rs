//! Layered configuration, one way for every service (12-factor).
//!
//! Load order, later layers winning key by key:
//! 1. compiled defaults (the `Default`/`#[serde(default)]` of each settings struct);
//! 2. the TOML file given with `--config` (or `NEWSWIRE_CONFIG`), if any;
//! 3. environment variables `NEWSWIRE_<SECTION>__<KEY>` (double underscore between levels),
//!    e.g. `NEWSWIRE_NATS__URL=nats://nats:4222` or `NEWSWIRE_SINK__BATCH_SIZE=512`, for the
//!    known sections only (an unknown section is an error that lists them; `NEWSWIRE_*`
//!    variables without a double underscore are not configuration and are ignored). A value
//!    takes the type of its key: text for a string key, a TOML value (number, boolean, array)
//!    otherwise.
//!
//! Layers merge key by key at every depth: a file or a variable may set one key of a nested
//! section (`[nats.raw_stream] duplicate_window_secs = 1`) and the rest keep their defaults.
//!
//! Each settings struct lives next to the code it configures and uses
//! `#[serde(deny_unknown_fields)]`, so a misspelt key is an error that names it rather than a
//! silently ignored line. Errors always name the key path (`sink.batch_size`) and the layer it
//! came from.

use std::path::{Path, PathBuf};

use serde::Serialize;
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
    /// The compiled defaults do not serialise to a table (a bug in a settings type).
    #[error("the default settings cannot be layered: {0}")]
    Defaults(String),
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
pub fn load<T: Layered>(file: Option<&Path>) -> Result<T, ConfigError> {
    load_from(file, std::env::vars())
}

/// What a settings type needs to be layered: its defaults are serialised to a table that the
/// file and the environment are merged into key by key, so that one key of a nested section
/// can be overridden alone (`NEWSWIRE_NATS__RAW_STREAM__DUPLICATE_WINDOW_SECS=1`), and the
/// defaults name the known sections and give each environment value its type.
pub trait Layered: DeserializeOwned + Serialize + Default {}
impl<T: DeserializeOwned + Serialize + Default> Layered for T {}

/// [`load`] with an explicit environment, for tests.
pub fn load_from<T: Layered>(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let defaults = defaults_table::<T>()?;
    let mut layers = vec!["defaults".to_owned()];
    let mut root = defaults.clone();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let table = text.parse::<Table>().map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
        merge(&mut root, table);
        layers.push(path.display().to_string());
    }
    let mut env_vars: Vec<(String, String)> = env
        .into_iter()
        // Only NEWSWIRE_<SECTION>__<KEY>: other NEWSWIRE_* variables (NEWSWIRE_TEST_PG,
        // NEWSWIRE_SEEDS_DIR …) belong to scripts and tests, not to the configuration.
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k != CONFIG_ENV && k.contains("__"))
        .collect();
    // Sorted so that the outcome never depends on the environment's iteration order.
    env_vars.sort();
    let mut untyped = Vec::new();
    for (var, value) in &env_vars {
        if let Some(path) = apply_env(&mut root, &defaults, var, value)? {
            untyped.push((path, value.clone()));
        }
    }
    if !env_vars.is_empty() {
        layers.push("environment".to_owned());
    }
    let layers = layers.join(" + ");
    // A key without a default (an optional one, such as `nats.token`) has no type to read an
    // environment value by: it is read as TOML first, and as the plain string if that is what
    // the key turns out to want (`NEWSWIRE_NATS__TOKEN=123456`).
    loop {
        match deserialize(root.clone(), &layers) {
            Ok(v) => return Ok(v),
            Err(e) => {
                let ConfigError::Value { key, .. } = &e else { return Err(e) };
                let Some(i) = untyped.iter().position(|(path, _)| path.join(".") == *key) else {
                    return Err(e);
                };
                let (path, raw) = untyped.swap_remove(i);
                if !set(&mut root, &path, Value::String(raw)) {
                    return Err(e);
                }
            }
        }
    }
}

/// Parses settings from a TOML string over the defaults (no environment), e.g. for tests.
pub fn from_toml<T: Layered>(text: &str) -> Result<T, ConfigError> {
    let mut root = defaults_table::<T>()?;
    let table = text.parse::<Table>().map_err(|e| ConfigError::Syntax {
        path: PathBuf::from("<string>"),
        message: e.to_string().trim().to_owned(),
    })?;
    merge(&mut root, table);
    deserialize(root, "defaults + string")
}

fn defaults_table<T: Layered>() -> Result<Table, ConfigError> {
    match Value::try_from(T::default()) {
        Ok(Value::Table(t)) => Ok(t),
        Ok(_) => Err(ConfigError::Defaults("the settings are not a table".to_owned())),
        Err(e) => Err(ConfigError::Defaults(e.to_string())),
    }
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
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

/// Applies one `NEWSWIRE_<SECTION>__<KEY>` variable. The value takes the type of the key's
/// default: a string key gets the text as it is (a token of digits stays a string), any other
/// key gets it read as a TOML value. Returns the key's path when it has no default to type it
/// by (see [`load_from`]).
fn apply_env(
    root: &mut Table,
    defaults: &Table,
    var: &str,
    value: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let err = |message: String| ConfigError::Env { var: var.to_owned(), message };
    let rest = &var[ENV_PREFIX.len()..];
    let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(|p| p.is_empty() || p.starts_with('_') || p.ends_with('_')) {
        return Err(err(
            "expected NEWSWIRE_<SECTION>__<KEY>, e.g. NEWSWIRE_NATS__URL (double underscore between levels)"
                .to_owned(),
        ));
    }
    if !defaults.contains_key(&path[0]) {
        let sections: Vec<&str> = defaults.keys().map(String::as_str).collect();
        return Err(err(format!("unknown section `{}`; the sections are {}", path[0], sections.join(", "))));
    }
    let (typed, untyped) = match lookup(defaults, &path) {
        Some(Value::String(_)) => (Value::String(value.to_owned()), false),
        Some(_) => (parse_env_value(value), false),
        None => (parse_env_value(value), true),
    };
    let untyped_string = matches!(typed, Value::String(_));
    if !set(root, &path, typed) {
        return Err(err(format!("`{}` is inside a value, not a section", path.join("."))));
    }
    Ok((untyped && !untyped_string).then_some(path))
}

fn lookup<'a>(table: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let v = table.get(first)?;
    if rest.is_empty() {
        return Some(v);
    }
    match v {
        Value::Table(t) => lookup(t, rest),
        _ => None,
    }
}

/// Sets `path` to `value`, creating sections on the way; `false` when a part of the path is a
/// value rather than a section.
fn set(root: &mut Table, path: &[String], value: Value) -> bool {
    let Some((last, parents)) = path.split_last() else { return false };
    let mut table = root;
    for part in parents {
        let entry = table.entry(part.clone()).or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(t) => t,
            _ => return false,
        };
    }
    table.insert(last.clone(), value);
    true
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
