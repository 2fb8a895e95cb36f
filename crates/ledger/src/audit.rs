//! Reading a ledger whole: verify replay, table counts, and what the raw copy between
//! backends needs (import target check, `meta` import, raw rows as parameters).

use crate::chain::{Replay, StoredEvent};
use crate::codec::{RawSend, count, parse_scope, send_cols};
use crate::error::{LedgerError, Result};
use crate::key::RecipientId;
use crate::model::{BrokenLink, VerifyReport};
use crate::raw::{RawRow, RawTable, RawValue, TableCounts, check_fresh};
use crate::store::{Db, Val, p};

pub(crate) fn corrupt_report(reason: &str) -> VerifyReport {
    VerifyReport {
        ok: false,
        events_checked: 0,
        sends_checked: 0,
        suppressions_checked: 0,
        first_broken: Some(BrokenLink {
            seq: None,
            reason: reason.to_owned(),
        }),
    }
}

/// Replays the chain and compares every current row with it, from one snapshot.
pub(crate) fn verify_in(db: &mut dyn Db) -> Result<VerifyReport> {
    let mut replay = Replay::new();
    db.each(
        "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
        &[],
        &mut |r| {
            if replay.chain_ok() {
                replay.feed_event(&StoredEvent {
                    seq: u64::try_from(r.i(0)?).unwrap_or(0),
                    at_ms: r.i(1)?,
                    kind: r.s(2)?,
                    payload_json: r.s(3)?,
                    prev_hash: r.s(4)?,
                    hash: r.s(5)?,
                });
            }
            Ok(())
        },
    )?;
    if !replay.chain_ok() {
        return Ok(replay.finish());
    }
    let mut unreadable = None;
    db.each(
        concat!("SELECT ", send_cols!(), " FROM sends"),
        &[],
        &mut |r| {
            if unreadable.is_none() {
                let raw = RawSend::from_row(r)?;
                match raw.image() {
                    Ok(image) => replay.check_send(&image),
                    Err(e) => {
                        unreadable = Some(format!(
                            "sends row {}/{} is unreadable: {e}",
                            raw.campaign, raw.row_key
                        ));
                    }
                }
            }
            Ok(())
        },
    )?;
    db.each(
        "SELECT recipient, channel, masked, reason, source FROM suppressions",
        &[],
        &mut |r| {
            if unreadable.is_some() {
                return Ok(());
            }
            let (Some(recipient), Ok(scope)) =
                (RecipientId::from_hex(r.str(0)?), parse_scope(r.str(1)?))
            else {
                unreadable = Some("a suppression row is unreadable".to_owned());
                return Ok(());
            };
            replay.check_suppression(&recipient, scope, r.str(2)?, r.str(3)?, r.str(4)?);
            Ok(())
        },
    )?;
    Ok(match unreadable {
        Some(reason) => corrupt_report(&reason),
        None => replay.finish(),
    })
}

/// Row count of every table, in one statement.
pub(crate) fn table_counts_in(db: &mut dyn Db) -> Result<TableCounts> {
    let sql = RawTable::ALL
        .iter()
        .map(|t| format!("(SELECT COUNT(*) FROM {})", t.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let counts = db
        .row(&format!("SELECT {sql}"), &[], |r| {
            (0..RawTable::ALL.len())
                .map(|i| r.i(i))
                .collect::<Result<Vec<_>>>()
        })?
        .unwrap_or_default();
    Ok(RawTable::ALL
        .iter()
        .zip(counts)
        .map(|(t, n)| (t.name().to_owned(), count(n)))
        .collect())
}

/// Refuses an import into a ledger that holds more than its own creation.
pub(crate) fn check_import_target(db: &mut dyn Db) -> Result<()> {
    let first_kind = db.row("SELECT kind FROM events ORDER BY seq LIMIT 1", &[], |r| {
        r.s(0)
    })?;
    check_fresh(&table_counts_in(db)?, first_kind.as_deref())
}

/// Imports one `meta` row: the key fingerprint must match this ledger's; others are upserted.
pub(crate) fn import_meta(db: &mut dyn Db, key: &str, value: &str) -> Result<()> {
    if key == "key_fingerprint" {
        let ours = db.row(
            "SELECT value FROM meta WHERE key = 'key_fingerprint'",
            &[],
            |r| r.s(0),
        )?;
        return match ours {
            Some(actual) if actual != value => Err(LedgerError::WrongKey {
                expected: value.to_owned(),
                actual,
            }),
            _ => Ok(()),
        };
    }
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        p![key, value],
    )?;
    Ok(())
}

/// Counts of each table, all zero.
pub(crate) fn zero_counts() -> TableCounts {
    RawTable::ALL
        .iter()
        .map(|t| (t.name().to_owned(), 0))
        .collect()
}

/// A raw row's values as statement parameters.
pub(crate) fn raw_params(row: &RawRow) -> Vec<Val<'_>> {
    row.values
        .iter()
        .map(|v| match v {
            RawValue::Null => Val::Null,
            RawValue::Int(n) => Val::Int(*n),
            RawValue::Text(t) => Val::Text(t),
        })
        .collect()
}
