//! The checkpoint: what the tables held at the chain's head, sealed under the ledger key.
//!
//! Owns: the one-row `checkpoint` table (schema 6), its keyed seal, carrying it forward on
//! every write, and the cheap check `apply` runs before any send.
//!
//! The body names the head event (`seq`, `hash`) and holds, for that moment, the row count
//! of every table but `events` and `meta` (plus the sends per state) and an order-independent
//! keyed digest of the suppressions: the wrapping sum, in four 64-bit lanes, of
//! `HMAC(checkpoint key, "herald-suppression:v1\n" ‖ recipient ‖ "\n" ‖ channel)` over every
//! row. The seal is `HMAC(checkpoint key, "herald-checkpoint:v1\n" ‖ seq ‖ "\n" ‖ hash ‖ "\n"
//! ‖ body)`, the checkpoint key being derived from the chain key under its own label.
//!
//! Invariants: a write carries the previous checkpoint forward by its own transaction's
//! changes only (row counts from the trigger-kept `row_counts` before and after it; the
//! suppression digest from the `suppression_changed` events it appended), never by reading
//! the tables whole, so a row edited, deleted or inserted behind the chain is never absorbed
//! into a later checkpoint. A checkpoint whose seal fails or that does not name the head
//! before the write is left as it is (stale), so the check keeps failing. The first
//! checkpoint of a ledger (a new one, one migrated from schema 5, one imported) is computed
//! from the tables only after a full verify of the chain against them passes.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::audit::verify_in;
use crate::chain::{ChainKey, Event};
use crate::codec::{scope_str, seq_of};
use crate::error::{LedgerError, Result};
use crate::model::{SendState, SuppressionAction};
use crate::store::{Db, p};

/// The tables whose rows the checkpoint counts (every table but `events` and `meta`).
pub(crate) const COUNTED: [&str; 11] = [
    "runs",
    "template_bindings",
    "template_versions",
    "sends",
    "conversations",
    "suppressions",
    "suppression_audit",
    "inbound",
    "receipts",
    "waves",
    "keyword_replies",
];

/// The checkpoint's sealed content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Body {
    /// Row count per counted table, and `sends:<state>` per send state.
    pub(crate) counts: BTreeMap<String, i64>,
    /// Keyed digest of the suppressions (64 hex digits).
    pub(crate) suppressions: String,
}

/// The stored checkpoint row.
#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    hash: String,
    body: String,
    mac: String,
}

/// The outcome of checking the checkpoint against the head and the tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointReport {
    /// Whether the checkpoint is sealed under this key, names the head and matches the tables.
    pub ok: bool,
    /// The event the checkpoint was sealed at, if there is a readable one.
    pub seq: Option<u64>,
    /// What does not match (tables and counts named; no recipient is shown).
    pub problem: Option<String>,
}

fn checkpoint_key(chain: &ChainKey) -> [u8; 32] {
    chain.sub_key(b"herald ledger checkpoint v1")
}

fn hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key")
}

fn seal(key: &[u8; 32], seq: u64, hash: &str, body: &str) -> String {
    let mut mac = hmac(key);
    mac.update(format!("herald-checkpoint:v1\n{seq}\n{hash}\n{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The order-independent sum of keyed suppression-row MACs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Digest([u64; 4]);

impl Digest {
    fn parse(s: &str) -> Result<Digest> {
        let bytes = hex::decode(s)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| LedgerError::Corrupt("malformed checkpoint digest".into()))?;
        let mut lanes = [0u64; 4];
        for (lane, chunk) in lanes.iter_mut().zip(bytes.chunks_exact(8)) {
            *lane = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        Ok(Digest(lanes))
    }

    fn to_hex(self) -> String {
        hex::encode(
            self.0
                .iter()
                .flat_map(|l| l.to_le_bytes())
                .collect::<Vec<_>>(),
        )
    }

    fn row(key: &[u8; 32], recipient: &str, scope: &str) -> [u64; 4] {
        let mut mac = hmac(key);
        mac.update(format!("herald-suppression:v1\n{recipient}\n{scope}").as_bytes());
        let out = mac.finalize().into_bytes();
        let mut lanes = [0u64; 4];
        for (lane, chunk) in lanes.iter_mut().zip(out.chunks_exact(8)) {
            *lane = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        lanes
    }

    fn add(&mut self, row: [u64; 4]) {
        for (a, b) in self.0.iter_mut().zip(row) {
            *a = a.wrapping_add(b);
        }
    }

    fn sub(&mut self, row: [u64; 4]) {
        for (a, b) in self.0.iter_mut().zip(row) {
            *a = a.wrapping_sub(b);
        }
    }
}

fn head_in(db: &mut dyn Db) -> Result<Option<(u64, String)>> {
    db.row(
        "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        &[],
        |r| Ok((seq_of(r.i(0)?)?, r.s(1)?)),
    )
}

fn stored_in(db: &mut dyn Db) -> Result<Option<Stored>> {
    db.row(
        "SELECT seq, hash, body, mac FROM checkpoint WHERE id = 1",
        &[],
        |r| {
            Ok(Stored {
                seq: seq_of(r.i(0)?)?,
                hash: r.s(1)?,
                body: r.s(2)?,
                mac: r.s(3)?,
            })
        },
    )
}

fn row_counts_in(db: &mut dyn Db) -> Result<BTreeMap<String, i64>> {
    Ok(db
        .rows("SELECT name, n FROM row_counts", &[], |r| {
            Ok((r.s(0)?, r.i(1)?))
        })?
        .into_iter()
        .collect())
}

/// What the tables hold now, counted and digested whole (the check, and the first seal).
pub(crate) fn compute_in(db: &mut dyn Db) -> Result<Body> {
    let mut counts = BTreeMap::new();
    let sql = COUNTED
        .iter()
        .map(|t| format!("(SELECT COUNT(*) FROM {t})"))
        .collect::<Vec<_>>()
        .join(", ");
    let values = db
        .row(&format!("SELECT {sql}"), &[], |r| {
            (0..COUNTED.len())
                .map(|i| r.i(i))
                .collect::<Result<Vec<_>>>()
        })?
        .unwrap_or_default();
    for (t, n) in COUNTED.iter().zip(values) {
        counts.insert((*t).to_owned(), n);
    }
    for state in SendState::ALL {
        counts.insert(format!("sends:{}", state.as_str()), 0);
    }
    for (state, n) in db.rows(
        "SELECT state, COUNT(*) FROM sends GROUP BY state",
        &[],
        |r| Ok((r.s(0)?, r.i(1)?)),
    )? {
        counts.insert(format!("sends:{state}"), n);
    }
    let key = checkpoint_key(db.chain_key());
    let mut digest = Digest::default();
    db.each(
        "SELECT recipient, channel FROM suppressions",
        &[],
        &mut |r| {
            digest.add(Digest::row(&key, r.str(0)?, r.str(1)?));
            Ok(())
        },
    )?;
    Ok(Body {
        counts,
        suppressions: digest.to_hex(),
    })
}

/// What a write transaction saw before it ran (see [`seal_in`]).
pub(crate) struct Before {
    head: Option<(u64, String)>,
    stored: Option<Stored>,
    counts: BTreeMap<String, i64>,
}

/// Reads what [`seal_in`] needs, at the start of a write transaction.
pub(crate) fn before_in(db: &mut dyn Db) -> Result<Before> {
    Ok(Before {
        head: head_in(db)?,
        stored: stored_in(db)?,
        counts: row_counts_in(db)?,
    })
}

fn write_in(db: &mut dyn Db, seq: u64, hash: &str, body: &Body) -> Result<()> {
    let text = serde_json::to_string(body).expect("a checkpoint body serialises");
    let mac = seal(&checkpoint_key(db.chain_key()), seq, hash, &text);
    let seq = i64::try_from(seq).map_err(|_| LedgerError::Corrupt("event seq overflow".into()))?;
    db.execute(
        "INSERT INTO checkpoint (id, seq, hash, body, mac) VALUES (1, ?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
         body = excluded.body, mac = excluded.mac",
        p![seq, hash, &text, &mac],
    )?;
    Ok(())
}

/// The stored checkpoint's body if its seal holds under this key and it names `head`.
fn valid_body(db: &mut dyn Db, stored: &Stored, head: &(u64, String)) -> Option<Body> {
    let key = checkpoint_key(db.chain_key());
    (stored.seq == head.0
        && stored.hash == head.1
        && seal(&key, stored.seq, &stored.hash, &stored.body) == stored.mac)
        .then(|| serde_json::from_str(&stored.body).ok())
        .flatten()
}

/// Seals the checkpoint at the end of a write transaction that started as `before`: the
/// previous checkpoint plus this transaction's own changes. Nothing is written when no event
/// was appended, or when the previous checkpoint is broken or stale (it stays so); a ledger
/// without one gets its first after a full verify passes.
pub(crate) fn seal_in(db: &mut dyn Db, before: &Before) -> Result<()> {
    let Some(head) = head_in(db)? else {
        return Ok(());
    };
    let prev = match (&before.stored, &before.head) {
        (None, _) => {
            if verify_in(db)?.ok {
                let body = compute_in(db)?;
                write_in(db, head.0, &head.1, &body)?;
            }
            return Ok(());
        }
        (Some(stored), Some(old_head)) => match valid_body(db, stored, old_head) {
            Some(body) => body,
            None => return Ok(()),
        },
        (Some(_), None) => return Ok(()),
    };
    if before.head.as_ref() == Some(&head) {
        return Ok(());
    }
    let after = row_counts_in(db)?;
    let mut body = prev;
    for (name, n) in &after {
        let delta = n - before.counts.get(name).copied().unwrap_or(0);
        if delta != 0 {
            *body.counts.entry(name.clone()).or_insert(0) += delta;
        }
    }
    let key = checkpoint_key(db.chain_key());
    let mut digest = Digest::parse(&body.suppressions)?;
    let from = i64::try_from(before.head.as_ref().map_or(0, |h| h.0))
        .map_err(|_| LedgerError::Corrupt("event seq overflow".into()))?;
    db.each(
        "SELECT payload_json FROM events WHERE seq > ?1 AND kind = 'suppression_changed' ORDER BY seq",
        p![from],
        &mut |r| {
            if let Ok(Event::SuppressionChanged { change }) = serde_json::from_str(r.str(0)?) {
                let row = Digest::row(&key, change.recipient.as_str(), scope_str(change.channel));
                match change.action {
                    SuppressionAction::Add => digest.add(row),
                    SuppressionAction::Remove => digest.sub(row),
                }
            }
            Ok(())
        },
    )?;
    body.suppressions = digest.to_hex();
    write_in(db, head.0, &head.1, &body)
}

/// Checks the checkpoint: sealed under this key, naming the chain's head, and equal to the
/// tables counted and digested now. Costs row counts and one pass over the suppressions; the
/// chain and the send rows' contents are `verify`'s.
pub(crate) fn check_in(db: &mut dyn Db) -> Result<CheckpointReport> {
    let fail = |seq: Option<u64>, problem: String| CheckpointReport {
        ok: false,
        seq,
        problem: Some(problem),
    };
    let head = head_in(db)?;
    let Some(stored) = stored_in(db)? else {
        return Ok(fail(
            None,
            "the ledger has no checkpoint: its first one is written only after a full verify passes; run `herald ledger verify`".into(),
        ));
    };
    let Some(head) = head else {
        return Ok(fail(
            Some(stored.seq),
            "the ledger has a checkpoint but no events".into(),
        ));
    };
    if seal(
        &checkpoint_key(db.chain_key()),
        stored.seq,
        &stored.hash,
        &stored.body,
    ) != stored.mac
    {
        return Ok(fail(
            Some(stored.seq),
            "the checkpoint's seal does not hold under the ledger key: it was edited".into(),
        ));
    }
    if stored.seq != head.0 || stored.hash != head.1 {
        return Ok(fail(
            Some(stored.seq),
            format!(
                "the checkpoint was sealed at event #{} but the chain's head is #{}: rows or events were changed behind the chain",
                stored.seq, head.0
            ),
        ));
    }
    let body: Body = serde_json::from_str(&stored.body)
        .map_err(|e| LedgerError::Corrupt(format!("checkpoint body: {e}")))?;
    let now = compute_in(db)?;
    let mut names: Vec<&String> = body.counts.keys().chain(now.counts.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (sealed, actual) = (
            body.counts.get(name).copied().unwrap_or(0),
            now.counts.get(name).copied().unwrap_or(0),
        );
        if sealed != actual {
            let what = match name.split_once(':') {
                Some((table, state)) => format!("{table} in state `{state}`"),
                None => format!("table `{name}`"),
            };
            return Ok(fail(
                Some(stored.seq),
                format!(
                    "{what} holds {actual} rows but the checkpoint at event #{} says {sealed}: rows were changed behind the chain",
                    stored.seq
                ),
            ));
        }
    }
    if body.suppressions != now.suppressions {
        return Ok(fail(
            Some(stored.seq),
            format!(
                "the suppressions differ from the checkpoint at event #{} (same count, other recipients or channels): they were changed behind the chain",
                stored.seq
            ),
        ));
    }
    Ok(CheckpointReport {
        ok: true,
        seq: Some(stored.seq),
        problem: None,
    })
}
