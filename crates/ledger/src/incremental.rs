//! Incremental verify: from the head the last passing verify recorded to the chain's head.
//!
//! Owns: the verified mark (the `meta` row `verified_head`: `SEQ:HASH:MAC`, the MAC an HMAC
//! under a key derived from the chain key with its own label, so nobody without the ledger
//! key can move it forward) and the check of what changed since it.
//!
//! What an incremental verify checks, from one snapshot:
//! - the mark's seal, and that the chain still holds the marked event with the marked hash
//!   (a truncated, restored or rewritten ledger is refused);
//! - every keyed link from the mark to the head, and that each new event decodes;
//! - every `sends` and `conversations` row a new event sealed (`seq` after the mark): its
//!   seal, and per new event that the rows it wrote and no later event changed are all there
//!   with the MACs its digest records ([`crate::seal`]) — a row written since the mark and
//!   then edited is named, one deleted or restored from an older copy is counted against
//!   the event that wrote it;
//! - the sealed checkpoint against the tables: the row count of every table, the sends per
//!   state and the keyed digest of the suppressions — so a row deleted or inserted anywhere,
//!   an already-verified send moved to another state, or a suppression added, removed or
//!   moved to another recipient or channel behind the chain is caught even though its rows
//!   are not read.
//!
//! What it cannot catch (the full `verify` does): an in-place edit of a row no event wrote
//! since the mark that keeps its table's counts, its send state and the suppression set
//! (e.g. another template hash or message id in an old send, an old run's outcome, an old
//! inbound reply's action, a suppression's reason); and an edit of an event's payload
//! before the mark (links before the mark are not recomputed).

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::audit::{Digests, stored_event};
use crate::chain::{ChainCheck, ChainKey, LinkRule};
use crate::error::{LedgerError, Result};
use crate::model::{BrokenLink, ChainHead, VerifyReport};
use crate::raw::RawTable;
use crate::store::{Db, p};

/// The `meta` key of the verified mark.
const MARK: &str = "verified_head";

fn mark_mac(key: &ChainKey, seq: u64, hash: &str) -> String {
    let sub = key.sub_key(b"herald ledger verified head v1");
    let mut mac = <Hmac<Sha256>>::new_from_slice(&sub).expect("HMAC takes any key");
    mac.update(format!("herald-verified:v1\n{seq}\n{hash}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The recorded verified head, if there is one whose seal holds under this key (a mark
/// sealed under another key, or edited, is ignored: the next verify is a full one).
pub(crate) fn mark_in(db: &mut dyn Db) -> Result<Option<ChainHead>> {
    let Some(value) = db.row("SELECT value FROM meta WHERE key = ?1", p![MARK], |r| {
        r.s(0)
    })?
    else {
        return Ok(None);
    };
    let mut parts = value.splitn(3, ':');
    let (Some(seq), Some(hash), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let Ok(seq) = seq.parse::<u64>() else {
        return Ok(None);
    };
    Ok(
        (mark_mac(db.chain_key(), seq, hash) == mac).then(|| ChainHead {
            seq,
            hash: hash.to_owned(),
        }),
    )
}

/// Records `head` as verified (no event: the mark is bookkeeping of verify, sealed itself).
pub(crate) fn record_mark_in(db: &mut dyn Db, head: &ChainHead) -> Result<()> {
    let value = format!(
        "{}:{}:{}",
        head.seq,
        head.hash,
        mark_mac(db.chain_key(), head.seq, &head.hash)
    );
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        p![MARK, value.as_str()],
    )?;
    Ok(())
}

fn failed(events: u64, seq: Option<u64>, reason: String) -> VerifyReport {
    VerifyReport {
        ok: false,
        events_checked: events,
        sends_checked: 0,
        suppressions_checked: 0,
        first_broken: Some(BrokenLink { seq, reason }),
    }
}

/// Verifies what changed since `since` (see the module docs).
pub(crate) fn verify_since_in(db: &mut dyn Db, since: &ChainHead) -> Result<VerifyReport> {
    let stored = db.row(
        "SELECT hash FROM events WHERE seq = ?1",
        p![i64::try_from(since.seq)
            .map_err(|_| LedgerError::Corrupt("event seq overflow".into()))?],
        |r| r.s(0),
    )?;
    let Some(stored) = stored.filter(|h| !since.hash.is_empty() && h.starts_with(&since.hash))
    else {
        return Ok(failed(
            0,
            Some(since.seq),
            format!(
                "the chain does not hold the last verified head {since}: it was truncated, replaced by an older copy or rewritten"
            ),
        ));
    };
    let key = db.chain_key().clone();
    let mut chain = ChainCheck::resume(LinkRule::Keyed(&key), since.seq, &stored);
    let mut digests = Digests::new(since.seq);
    let from = i64::try_from(since.seq).unwrap_or(i64::MAX);
    db.each(
        "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events WHERE seq > ?1 ORDER BY seq",
        p![from],
        &mut |r| {
            if chain.ok() {
                let ev = stored_event(r)?;
                if let Some(event) = chain.feed(&ev) {
                    digests.apply(ev.seq, &event);
                }
            }
            Ok(())
        },
    )?;
    let events = chain.events();
    if let Some(broken) = chain.into_broken() {
        return Ok(VerifyReport {
            ok: false,
            events_checked: events,
            sends_checked: 0,
            suppressions_checked: 0,
            first_broken: Some(broken),
        });
    }
    let mut sends_checked = 0;
    for (table, rows, broken) in digests.check(db)? {
        if table == RawTable::Sends {
            sends_checked = rows;
        }
        if let Some(broken) = broken {
            return Ok(VerifyReport {
                ok: false,
                events_checked: events,
                sends_checked,
                suppressions_checked: 0,
                first_broken: Some(broken),
            });
        }
    }
    let check = crate::checkpoint::check_in(db)?;
    if !check.ok {
        return Ok(VerifyReport {
            ok: false,
            events_checked: events,
            sends_checked,
            suppressions_checked: 0,
            first_broken: Some(BrokenLink {
                seq: check.seq,
                reason: check.problem.unwrap_or_default(),
            }),
        });
    }
    Ok(VerifyReport {
        ok: true,
        events_checked: events,
        sends_checked,
        suppressions_checked: 0,
        first_broken: None,
    })
}
