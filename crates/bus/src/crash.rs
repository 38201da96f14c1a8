//! Recognising a message that crashes its stage.
//!
//! A message that kills the process (a stack overflow, an abort, the OOM killer) never reaches
//! the dead-letter step: the stage dies before it can decide anything, the message is
//! redelivered after `ack_wait`, and the stage dies again, with the messages behind it
//! waiting. A panic can be caught; an abort cannot. So the stage remembers, outside itself,
//! what it was doing when it died:
//!
//! 1. A message delivered for the first time is processed in its batch, as usual.
//! 2. A redelivered one (delivery count above 1) is a *suspect*: the stage marks it in the
//!    `NEWSWIRE_CRASHES` bucket (key `<stage>.<stream sequence>`, value: strikes so far),
//!    processes it alone, and clears the mark. The other messages of a crashed batch come back
//!    as suspects too; each goes through alone, and only the guilty one keeps its mark.
//! 3. A suspect found with a mark was being processed alone when the stage died. After two
//!    such strikes (one on its last delivery), it is dead-lettered with the reason `crash`
//!    before it is processed again. Two, so that a stage killed for another reason (an
//!    operator's `kill -9`) during the millisecond it spends on one innocent suspect does not
//!    cost that message.
//!
//! The mark costs two key-value writes per redelivered message and nothing on the first
//! delivery. If the bucket is unavailable the guard steps aside (suspects are processed
//! without marks): it must never be the reason the pipeline stops.

use std::time::Duration;

use bytes::Bytes;

use crate::{Bus, ConsumerRole, Delivery, KvBucket, KvBucketName};

/// Deaths while processing a message alone after which it is dead-lettered.
const STRIKES: u32 = 2;

/// A mark nobody cleared (the message was then acked by another replica, or the stream
/// dropped it) disappears after this.
const MARK_TTL: Duration = Duration::from_secs(24 * 3600);

/// The crash memory of one stage (see the module docs).
#[derive(Debug, Clone)]
pub struct CrashGuard {
    bucket: Option<KvBucket>,
    stage: &'static str,
}

impl CrashGuard {
    /// Opens the bucket for `role`'s stage. Never fails: without the bucket the guard is
    /// disabled, which is logged.
    pub async fn open(bus: &Bus, role: ConsumerRole) -> Self {
        let bucket = match bus.kv_bucket(KvBucketName::Crashes, Some(MARK_TTL)).await {
            Ok(b) => Some(b),
            Err(error) => {
                tracing::warn!(message = "Crash memory unavailable; a message that kills the stage will not be recognised.", %error, stage = role.stage());
                None
            }
        };
        Self { bucket, stage: role.stage() }
    }

    /// Whether `d` must go through [`CrashGuard::check`] and be processed alone: it was
    /// delivered before.
    pub fn is_suspect(d: &Delivery) -> bool {
        d.delivered() > 1
    }

    fn key(&self, d: &Delivery) -> String {
        format!("{}.{}", self.stage, d.stream_sequence())
    }

    /// Before processing suspect `d` alone: `true` if the stage died on it often enough that
    /// it must be dead-lettered instead; otherwise it is marked (one more strike, should the
    /// stage die now) and `false` returned.
    pub async fn check(&self, d: &Delivery) -> bool {
        let Some(bucket) = &self.bucket else { return false };
        let key = self.key(d);
        let strikes = match bucket.get(&key).await {
            Ok(Some((v, _))) => std::str::from_utf8(&v).ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(0),
            Ok(None) => 0,
            Err(error) => {
                tracing::warn!(message = "Crash memory unreadable; processing the message unmarked.", %error);
                return false;
            }
        };
        if strikes >= STRIKES || (strikes >= 1 && d.is_last_attempt()) {
            tracing::error!(
                message = "Message killed its stage while processed alone; dead-lettering it.",
                stage = self.stage,
                sequence = d.stream_sequence(),
                strikes,
                delivered = d.delivered()
            );
            return true;
        }
        if let Err(error) = bucket.put(&key, Bytes::from((strikes + 1).to_string())).await {
            tracing::warn!(message = "Crash memory unwritable; processing the message unmarked.", %error);
        }
        false
    }

    /// After suspect `d` was processed (whatever came of it) or dead-lettered: its mark is
    /// cleared. A failure is only logged; the mark then expires.
    pub async fn clear(&self, d: &Delivery) {
        let Some(bucket) = &self.bucket else { return };
        if let Err(error) = bucket.delete(&self.key(d)).await {
            tracing::warn!(message = "Clearing a crash mark failed; it expires by itself.", %error);
        }
    }
}
