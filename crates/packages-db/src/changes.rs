//! What a committed write changed, as far as the readers' caches care, and how the news
//! travels: to this process's [`ChangeSink`] right after the commit, and on PostgreSQL to
//! every other process on the same database through `NOTIFY` sent in the write's own
//! transaction (so it goes out exactly when, and only if, the write commits).

use std::fmt;
use std::sync::{Arc, OnceLock};

/// The `LISTEN`/`NOTIFY` channel the changes travel on.
pub const CHANGES_CHANNEL: &str = "forge_changes";

/// A kind of record whose change makes cached reads of that kind stale. The ids say which
/// record changed; a cache may use them or drop the whole kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// A user or organisation row: password, activity, visibility, admin flag, deletion.
    Owner(i64),
    /// Access tokens of this user were deleted.
    Tokens(i64),
    /// Team memberships or team units of this organisation (0: not known) changed.
    Teams(i64),
    /// Files, versions or packages of this owner were deleted.
    Files(i64),
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::Owner(_) => "owner",
            Change::Tokens(_) => "tokens",
            Change::Teams(_) => "teams",
            Change::Files(_) => "files",
        }
    }

    fn id(&self) -> i64 {
        match *self {
            Change::Owner(id) | Change::Tokens(id) | Change::Teams(id) | Change::Files(id) => id,
        }
    }

    /// Parses one `kind:id` word of a notification's payload.
    fn parse(word: &str) -> Option<Change> {
        let (kind, id) = word.split_once(':')?;
        let id = id.parse().ok()?;
        Some(match kind {
            "owner" => Change::Owner(id),
            "tokens" => Change::Tokens(id),
            "teams" => Change::Teams(id),
            "files" => Change::Files(id),
            _ => return None,
        })
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// The payload of a notification: the changes as `kind:id` words separated by spaces.
pub(crate) fn encode_payload(changes: &[Change]) -> String {
    let words: Vec<String> = changes.iter().map(Change::to_string).collect();
    words.join(" ")
}

/// The changes a payload names; words that are not understood (from a newer version of
/// the server) are reported as `None`, which a cache must treat as "anything may have
/// changed".
pub fn decode_payload(payload: &str) -> Vec<Option<Change>> {
    payload.split_whitespace().map(Change::parse).collect()
}

/// Receives the changes of committed writes and the state of the feed of other processes'
/// changes.
pub trait ChangeSink: Send + Sync {
    /// Records committed by this or another process changed.
    fn changed(&self, changes: &[Change]);
    /// Something changed that cannot be named (an unknown payload): drop everything.
    fn changed_unknown(&self);
    /// The feed of other processes' changes is down: what is cached may go stale unseen.
    fn feed_lost(&self);
    /// The feed is back; changes made while it was down were not seen.
    fn feed_restored(&self);
}

/// Where a [`crate::Database`] reports its committed changes; shared by its clones.
#[derive(Clone, Default)]
pub(crate) struct SinkSlot(Arc<OnceLock<Arc<dyn ChangeSink>>>);

impl SinkSlot {
    pub(crate) fn set(&self, sink: Arc<dyn ChangeSink>) -> bool {
        self.0.set(sink).is_ok()
    }

    pub(crate) fn get(&self) -> Option<&Arc<dyn ChangeSink>> {
        self.0.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_unknown_words_stay_visible() {
        let changes = [Change::Owner(3), Change::Tokens(3), Change::Teams(0)];
        let payload = encode_payload(&changes);
        assert_eq!(payload, "owner:3 tokens:3 teams:0");
        let decoded: Vec<Option<Change>> = changes.iter().copied().map(Some).collect();
        assert_eq!(decode_payload(&payload), decoded);
        assert_eq!(
            decode_payload("files:9 blobs:1 owner:x"),
            vec![Some(Change::Files(9)), None, None]
        );
    }
}
