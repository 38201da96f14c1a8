//! The story event: what the sink publishes on `news.stories.<lang>` when a story is created
//! or grows with an outlet new to it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ArticleId, Lang, SCHEMA_VERSION, SourceId};

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

/// Why a story event was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoryEventKind {
    /// The story's first article was stored.
    Created,
    /// An article from an outlet that had not carried the story before was stored.
    NewOutlet,
    /// Reserved: two stories became one. The clusterer never merges stories today, so no
    /// event of this kind is published yet; consumers should accept it (and treat
    /// `story_id` as the surviving story) so that adding merges does not break them.
    Merged,
}

/// A story as it stands after a change, published on `news.stories.<lang>`.
///
/// Events of one story carry increasing `version`s; an event with a version no greater than
/// one already handled is a redelivery and can be ignored. The publish's `Nats-Msg-Id` is
/// `<story_id>:<version>`, so a republish after a crash is dropped by JetStream inside its
/// duplicate window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoryEvent {
    /// Contract version this message was written with.
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// The story id (`Article::story_id` of its articles: the id of its first article).
    pub story_id: String,
    /// Language of the story's first article (the subject's `<lang>` token).
    pub language: Lang,
    /// What happened.
    pub kind: StoryEventKind,
    /// Articles stored with this story id, copies included.
    pub article_count: u64,
    /// Source ids of the outlets that carried the story, in the order they first did.
    pub outlets: Vec<SourceId>,
    /// The outlet of the earliest article (by article time).
    pub first_outlet: SourceId,
    /// The earliest article.
    pub first_article: ArticleId,
    /// The earliest article time, RFC 3339 in UTC.
    pub first_seen: DateTime<Utc>,
    /// The latest article time, RFC 3339 in UTC.
    pub last_seen: DateTime<Utc>,
    /// Increases with every change of this story (1 for `created`).
    pub version: u64,
}

impl StoryEvent {
    /// The event's `Nats-Msg-Id`: `<story_id>:<version>`.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", self.story_id, self.version)
    }
}

/// JSON Schema (draft 2020-12) of [`StoryEvent`], as committed in
/// `schemas/story_event.schema.json`.
pub fn story_event_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(StoryEvent)).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is a test failure")]
mod tests {
    use super::*;

    /// The committed schema is what consumers validate against: it must match the code (the
    /// same check as `committed_json_schemas_match_the_code` for the other messages).
    /// Regenerate with `UPDATE_SCHEMAS=1 cargo test -p newswire-model`.
    #[test]
    fn committed_story_event_schema_matches_the_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let path = dir.join("story_event.schema.json");
        let generated = format!("{}\n", serde_json::to_string_pretty(&story_event_schema()).unwrap());
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is out of date; run UPDATE_SCHEMAS=1 cargo test -p newswire-model",
            path.display()
        );
    }

    #[test]
    fn events_round_trip_and_name_their_kind_in_snake_case() {
        let e = StoryEvent {
            schema_version: SCHEMA_VERSION,
            story_id: "0123456789abcdef0123456789abcdef".into(),
            language: Lang::parse("ar").unwrap(),
            kind: StoryEventKind::NewOutlet,
            article_count: 2,
            outlets: vec![SourceId::parse("a").unwrap(), SourceId::parse("b").unwrap()],
            first_outlet: SourceId::parse("a").unwrap(),
            first_article: ArticleId::digest(&["x"]),
            first_seen: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            last_seen: DateTime::from_timestamp(1_700_000_600, 0).unwrap(),
            version: 2,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "new_outlet");
        assert_eq!(e.msg_id(), "0123456789abcdef0123456789abcdef:2");
        assert_eq!(serde_json::from_value::<StoryEvent>(json).unwrap(), e);
    }
}
