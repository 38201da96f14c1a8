//! Validated identifiers ("parse, don't validate"): once constructed, they are known good, so
//! inner code never re-checks them.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

/// Why a value was refused at the boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A source id must be 1–64 characters of `a-z`, `0-9`, `-` or `_`, because it becomes a
    /// NATS subject token and a database key.
    #[error("invalid source id {0:?}: use 1-64 characters of a-z, 0-9, '-' or '_'")]
    SourceId(String),
    /// An article id is 32 lowercase hexadecimal characters.
    #[error("invalid article id {0:?}: expected 32 lowercase hex characters")]
    ArticleId(String),
    /// A language is an ISO 639-1 (or 639-3) lowercase code, or `und`.
    #[error("invalid language code {0:?}: expected a lowercase ISO 639 code such as \"ar\" or \"und\"")]
    Lang(String),
    /// A category becomes a subject token.
    #[error("invalid category {0:?}: use 1-32 characters of a-z, 0-9, '-' or '_'")]
    Category(String),
    /// The URL does not parse or is not http(s).
    #[error("invalid article URL {url:?}: {reason}")]
    Url {
        /// The rejected input.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad` so that width and alignment (`{:<12}`) work in tables.
                f.pad(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = ModelError;
            fn try_from(s: String) -> Result<Self, ModelError> {
                $name::parse(&s)
            }
        }
        impl std::str::FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                $name::parse(s)
            }
        }
    };
}

/// Identifier of a configured feed source, e.g. `aljazeera-ar`. It is a NATS subject token
/// (`news.raw.<source>`), so it is restricted to `[a-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceId(String);
string_newtype!(SourceId);

impl SourceId {
    /// Validates a source id.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        if is_token(s, 64) { Ok(Self(s.to_owned())) } else { Err(ModelError::SourceId(s.to_owned())) }
    }
}

impl JsonSchema for SourceId {
    fn schema_name() -> Cow<'static, str> {
        "SourceId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[a-z0-9_-]{1,64}$",
            "description": "Configured feed source id; also a NATS subject token."})
    }
}

/// Stable article identifier: the first 128 bits of a SHA-256, as 32 lowercase hex characters.
///
/// Derived from the [`CanonicalUrl`] when the entry has a link (so the same article reached
/// through two feeds, or with a tracking parameter, gets one id), else from the source id and
/// the entry's GUID. It is the `Nats-Msg-Id` of every publish and the primary key in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArticleId(String);
string_newtype!(ArticleId);

impl ArticleId {
    /// Validates an id received from outside (a message, an API path).
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ModelError::ArticleId(s.to_owned()))
        }
    }

    /// The id as a 128-bit number: how the processor's memories keep ids (16 bytes instead of a
    /// 32-character string on the heap).
    pub fn to_bits(&self) -> u128 {
        // Validated at construction: always 32 hex digits.
        u128::from_str_radix(&self.0, 16).unwrap_or_default()
    }

    /// The id with these 128 bits (the inverse of [`to_bits`](Self::to_bits)).
    pub fn from_bits(bits: u128) -> Self {
        Self(format!("{bits:032x}"))
    }

    /// The id of the article at this URL.
    pub fn from_url(url: &CanonicalUrl) -> Self {
        Self::digest(&["url", url.identity_key()])
    }

    /// The id of an entry without a usable link: its GUID is only unique within its source.
    pub fn from_source_guid(source: &SourceId, guid: &str) -> Self {
        Self::digest(&["guid", source.as_str(), guid])
    }

    /// An id derived from arbitrary parts (e.g. a content hash for an entry with neither link
    /// nor GUID). Parts are length-prefixed so that `["ab","c"]` and `["a","bc"]` differ.
    pub fn digest(parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        Self(hex16(&h.finalize()))
    }
}

/// Lowercase hex of the first 16 bytes of a digest.
pub(crate) fn hex16(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(32);
    for b in bytes.iter().take(16) {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl JsonSchema for ArticleId {
    fn schema_name() -> Cow<'static, str> {
        "ArticleId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[0-9a-f]{32}$",
            "description": "Stable article id: 128 bits of SHA-256 over the canonical URL (or source id + GUID), hex."})
    }
}

/// Query parameters that only track the reader and never select content. Dropped from
/// canonical URLs so that shared and syndicated links collapse to one article id.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "yclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "ocid",
    "cmpid",
    "ito",
    "ref_src",
    "smid",
    "at_medium",
    "at_campaign",
    "guccounter",
];

/// An article URL in canonical form: http(s) only, no fragment, no tracking parameters
/// (`utm_*` and the known click ids such as `fbclid`), remaining parameters sorted, host
/// lowercased, default port removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalUrl {
    url: Url,
    /// Host (without `www.`), path and query: what identifies the article. The scheme is left
    /// out because many sites serve the same page over http and https.
    identity: String,
}

impl CanonicalUrl {
    /// Canonicalises `input`, resolving it against `base` when it is relative.
    pub fn parse(input: &str, base: Option<&Url>) -> Result<Self, ModelError> {
        let err = |reason: &str| ModelError::Url { url: input.to_owned(), reason: reason.to_owned() };
        let input_trim = input.trim();
        let mut url = match Url::parse(input_trim) {
            Ok(u) => u,
            Err(url::ParseError::RelativeUrlWithoutBase) => match base {
                Some(b) => b.join(input_trim).map_err(|e| err(&e.to_string()))?,
                None => return Err(err("relative URL without a base")),
            },
            Err(e) => return Err(err(&e.to_string())),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err("only http and https links identify articles"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(err("no host"));
        }
        url.set_fragment(None);
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with("utm_") && !TRACKING_PARAMS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.sort();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        // `Url` already lowercases the host and drops default ports.
        let host = url.host_str().unwrap_or_default();
        let host = host.strip_prefix("www.").unwrap_or(host);
        let mut identity = String::with_capacity(url.as_str().len());
        identity.push_str(host);
        if let Some(port) = url.port() {
            identity.push(':');
            identity.push_str(&port.to_string());
        }
        identity.push_str(url.path());
        if let Some(q) = url.query() {
            identity.push('?');
            identity.push_str(q);
        }
        Ok(Self { url, identity })
    }

    /// The canonical URL.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The canonical URL as a parsed [`Url`].
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The scheme-less key the article id is derived from.
    pub fn identity_key(&self) -> &str {
        &self.identity
    }
}

impl fmt::Display for CanonicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// A language code: lowercase ISO 639-1 where one exists (`ar`, `en`), else ISO 639-3, or
/// `und` when undetermined. It is a subject token (`news.articles.<lang>.…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lang(String);
string_newtype!(Lang);

impl Lang {
    /// Validates a code, accepting `AR` or `ar-EG` style input (region dropped, lowercased).
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let primary = s.trim().split(['-', '_']).next().unwrap_or_default();
        let lower = primary.to_ascii_lowercase();
        if (2..=3).contains(&lower.len()) && lower.bytes().all(|b| b.is_ascii_lowercase()) {
            Ok(Self(lower))
        } else {
            Err(ModelError::Lang(s.to_owned()))
        }
    }

    /// The "undetermined" language (ISO 639-2 `und`).
    pub fn und() -> Self {
        Self("und".to_owned())
    }
}

impl JsonSchema for Lang {
    fn schema_name() -> Cow<'static, str> {
        "Lang".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[a-z]{2,3}$",
            "description": "ISO 639-1 code where one exists, else ISO 639-3; `und` when undetermined."})
    }
}

/// A coarse topic category, configured per feed (e.g. `world`, `politics`); `general` by
/// default. A subject token, so restricted like [`SourceId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(String);
string_newtype!(Category);

impl Category {
    /// Validates a category.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        if is_token(s, 32) { Ok(Self(s.to_owned())) } else { Err(ModelError::Category(s.to_owned())) }
    }

    /// The category of feeds that configure none.
    pub fn general() -> Self {
        Self("general".to_owned())
    }
}

impl Default for Category {
    fn default() -> Self {
        Self::general()
    }
}

impl JsonSchema for Category {
    fn schema_name() -> Cow<'static, str> {
        "Category".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[a-z0-9_-]{1,32}$",
            "description": "Configured topic category; also a NATS subject token."})
    }
}
