//! Do-Not-Call registries and the facts of each send (schema 8).
//!
//! Owns: the registry tables (`dnc_registries`, `dnc_numbers`), their streamed import (a full
//! list replaces a source's set, a change list adds and deletes), the batched lookup the
//! planner uses, the `send_facts` table (why each send was allowed) and the per-recipient
//! audit read. Every import appends one `dnc_imported` event to the chain in the same
//! transaction. Numbers are stored only as keyed recipient ids (the SMS recipient id of the
//! E.164 number), never raw.

use serde::{Deserialize, Serialize};

use crate::chain::Event;
use crate::codec::{RawSend, count, parse_recipient, send_cols, suppression, ts};
use crate::error::{LedgerError, Result};
use crate::key::RecipientId;
use crate::model::{SendRecord, SuppressionAction, SuppressionAudit};
use crate::store::{Db, Val, p};
use crate::writes::append_event;

/// Which kind of registry file an import read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DncFileKind {
    /// The full list: replaces the source's whole set.
    Full,
    /// A change list: additions and deletions applied to the source's set.
    Changes,
}

impl DncFileKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Changes => "changes",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "full" => Ok(Self::Full),
            "changes" => Ok(Self::Changes),
            other => Err(crate::codec::corrupt("registry file kind", other)),
        }
    }
}

/// One registry import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DncImport {
    /// `national` or a two-letter state code.
    pub source: String,
    /// The day the file was downloaded from the registry (`YYYY-MM-DD`).
    pub downloaded_on: jiff::civil::Date,
    /// Full list or change list.
    pub kind: DncFileKind,
    /// `sha256:` + hex of the file's bytes.
    pub file_digest: String,
}

/// One number of a registry file, as a keyed id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DncChange {
    /// The SMS recipient id of the E.164 number.
    pub recipient: RecipientId,
    /// `true`: on the registry (full list or addition); `false`: deleted from it.
    pub add: bool,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DncImportReport {
    /// Numbers read from the file.
    pub read: u64,
    /// Numbers added to the source's set (a full list: every distinct number in it).
    pub added: u64,
    /// Numbers removed from it (a full list: every number the source held before).
    pub removed: u64,
    /// Numbers the source holds after the import.
    pub numbers: u64,
}

/// A loaded registry, as of its latest import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DncRegistry {
    /// `national` or a two-letter state code.
    pub source: String,
    /// The day its file was downloaded.
    pub downloaded_on: jiff::civil::Date,
    /// When it was imported.
    pub imported_at: jiff::Timestamp,
    /// Numbers it holds.
    pub numbers: u64,
    /// `sha256:` + hex of the last file read.
    pub file_digest: String,
    /// Whether that file was a full list or a change list.
    pub file_kind: DncFileKind,
}

/// Why one send was allowed: a compact JSON object, stored with the send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFacts {
    /// Campaign.
    pub campaign: String,
    /// Audience row key.
    pub row_key: String,
    /// The facts (JSON object text; no raw address or personal value).
    pub facts: String,
}

/// Everything the ledger holds about one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientAudit {
    /// Every send row of the recipient (any campaign, any state), oldest first, with the
    /// facts recorded when it was claimed.
    pub sends: Vec<(SendRecord, Option<String>)>,
    /// Every suppression change, oldest first.
    pub suppressions: Vec<SuppressionAudit>,
    /// The registries that list the recipient now.
    pub registries: Vec<DncRegistry>,
    /// `herald serve`'s keyword replies to the recipient (HELP answers, opt-out
    /// confirmations), oldest first.
    pub replies: Vec<crate::ReplyRecord>,
}

/// Every number of the loaded registries, read once into memory: what the planner checks an
/// audience's rows against in its single pass (see [`crate::Ledger::dnc_set`]).
///
/// Compact: one entry per (number, registry) pair, the number as the first 16 bytes of its
/// keyed id (a MAC under the ledger key, so ids are uniformly spread and nobody without the
/// key can make two collide; 128 bits make an accidental collision between any two of a few
/// hundred million numbers about as likely as 2^-70) and the registry as an index into
/// `sources`: 18 bytes a pair, sorted for binary search.
#[derive(Clone, Default)]
pub struct DncSet {
    /// Id prefixes, sorted (one per pair; a number on two registries appears twice).
    ids: Vec<u128>,
    /// `sources[registry[i]]` lists `ids[i]`.
    registry: Vec<u16>,
    /// Registry sources, sorted.
    sources: Vec<String>,
}

impl std::fmt::Debug for DncSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DncSet")
            .field("pairs", &self.ids.len())
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

fn id_prefix(mac: &[u8; 32]) -> u128 {
    let mut head = [0u8; 16];
    head.copy_from_slice(&mac[..16]);
    u128::from_be_bytes(head)
}

impl DncSet {
    /// Builds the set from `(recipient MAC, source)` pairs in any order.
    ///
    /// # Errors
    /// With more than 65,536 distinct sources.
    pub fn from_pairs(pairs: impl IntoIterator<Item = ([u8; 32], String)>) -> Result<DncSet> {
        let mut sources: Vec<String> = Vec::new();
        let mut entries: Vec<(u128, u16)> = Vec::new();
        for (mac, source) in pairs {
            let index = if let Some(i) = sources.iter().position(|s| *s == source) {
                i
            } else {
                sources.push(source);
                sources.len() - 1
            };
            let index = u16::try_from(index)
                .map_err(|_| LedgerError::Backend("more than 65,536 registries".into()))?;
            entries.push((id_prefix(&mac), index));
        }
        // Sources sorted, so that a number's registries come out in source order.
        let mut order: Vec<usize> = (0..sources.len()).collect();
        order.sort_by(|a, b| sources[*a].cmp(&sources[*b]));
        let mut rank = vec![0u16; sources.len()];
        for (r, i) in order.iter().enumerate() {
            rank[*i] = u16::try_from(r).expect("checked above");
        }
        for e in &mut entries {
            e.1 = rank[e.1 as usize];
        }
        entries.sort_unstable();
        let sources = order.into_iter().map(|i| sources[i].clone()).collect();
        Ok(DncSet {
            ids: entries.iter().map(|e| e.0).collect(),
            registry: entries.iter().map(|e| e.1).collect(),
            sources,
        })
    }

    /// The registries that list `recipient`, by source (empty when none).
    pub fn sources_of(&self, recipient: &RecipientId) -> impl Iterator<Item = &str> {
        let id = id_prefix(&recipient.to_bytes());
        let start = self.ids.partition_point(|x| *x < id);
        let end = start + self.ids[start..].partition_point(|x| *x == id);
        self.registry[start..end]
            .iter()
            .map(|r| self.sources[*r as usize].as_str())
    }

    /// Whether a loaded registry lists `recipient`.
    pub fn contains(&self, recipient: &RecipientId) -> bool {
        if self.ids.is_empty() {
            return false;
        }
        let id = id_prefix(&recipient.to_bytes());
        self.ids.binary_search(&id).is_ok()
    }

    /// (number, registry) pairs held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no registry lists any number.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Rows per statement of an import or a lookup.
const BATCH: usize = 500;

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn registry(r: &dyn crate::store::Cells) -> Result<DncRegistry> {
    let day = r.str(1)?;
    Ok(DncRegistry {
        source: r.s(0)?,
        downloaded_on: day
            .parse()
            .map_err(|_| crate::codec::corrupt("registry download date", day))?,
        imported_at: ts(r.i(2)?)?,
        numbers: count(r.i(3)?),
        file_digest: r.s(4)?,
        file_kind: DncFileKind::parse(r.str(5)?)?,
    })
}

const REGISTRY_COLS: &str =
    "source, downloaded_on, imported_at, numbers, file_digest, file_kind FROM dnc_registries";

/// Imports one registry file inside the caller's write transaction.
pub(crate) fn import_in(
    db: &mut dyn Db,
    at: i64,
    import: &DncImport,
    next: &mut dyn FnMut() -> Result<Option<Vec<DncChange>>>,
) -> Result<DncImportReport> {
    let source = import.source.as_str();
    let mut report = DncImportReport::default();
    if import.kind == DncFileKind::Full {
        report.removed = db.execute("DELETE FROM dnc_numbers WHERE source = ?1", p![source])?;
    }
    while let Some(batch) = next()? {
        report.read += batch.len() as u64;
        let (adds, dels): (Vec<_>, Vec<_>) = batch.iter().partition(|c| c.add);
        for chunk in adds.chunks(BATCH) {
            let values = (0..chunk.len())
                .map(|i| format!("(?{}, ?1)", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO dnc_numbers (recipient, source) VALUES {values} ON CONFLICT DO NOTHING"
            );
            let mut params: Vec<Val<'_>> = vec![Val::Text(source)];
            params.extend(chunk.iter().map(|c| Val::Text(c.recipient.as_str())));
            report.added += db.execute(&sql, &params)?;
        }
        for chunk in dels.chunks(BATCH) {
            let sql = format!(
                "DELETE FROM dnc_numbers WHERE source = ?1 AND recipient IN ({})",
                placeholders(2, chunk.len())
            );
            let mut params: Vec<Val<'_>> = vec![Val::Text(source)];
            params.extend(chunk.iter().map(|c| Val::Text(c.recipient.as_str())));
            report.removed += db.execute(&sql, &params)?;
        }
    }
    let numbers = db
        .row(
            "SELECT COUNT(*) FROM dnc_numbers WHERE source = ?1",
            p![source],
            |r| r.i(0),
        )?
        .unwrap_or(0);
    report.numbers = count(numbers);
    let day = import.downloaded_on.to_string();
    db.execute(
        "INSERT INTO dnc_registries (source, downloaded_on, imported_at, numbers, file_digest, file_kind) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source) DO UPDATE SET \
         downloaded_on = excluded.downloaded_on, imported_at = excluded.imported_at, \
         numbers = excluded.numbers, file_digest = excluded.file_digest, file_kind = excluded.file_kind",
        p![source, day.as_str(), at, numbers, import.file_digest.as_str(), import.kind.as_str()],
    )?;
    append_event(
        db,
        at,
        &Event::DncImported {
            source: import.source.clone(),
            downloaded_on: day,
            file_kind: import.kind.as_str().to_owned(),
            file_digest: import.file_digest.clone(),
            read: report.read,
            added: report.added,
            removed: report.removed,
            numbers: report.numbers,
        },
    )?;
    Ok(report)
}

/// Every loaded registry, by source.
pub(crate) fn registries_in(db: &mut dyn Db) -> Result<Vec<DncRegistry>> {
    db.rows(
        &format!("SELECT {REGISTRY_COLS} ORDER BY source"),
        &[],
        registry,
    )
}

/// `(recipient, source)` of every listed recipient among `recipients`.
pub(crate) fn lookup_in(
    db: &mut dyn Db,
    recipients: &[RecipientId],
) -> Result<Vec<(RecipientId, String)>> {
    let mut out = Vec::new();
    for chunk in recipients.chunks(BATCH) {
        let sql = format!(
            "SELECT recipient, source FROM dnc_numbers WHERE recipient IN ({}) ORDER BY recipient, source",
            placeholders(1, chunk.len())
        );
        let params: Vec<Val<'_>> = chunk.iter().map(|r| Val::Text(r.as_str())).collect();
        db.each(&sql, &params, &mut |r| {
            out.push((parse_recipient(r.str(0)?)?, r.s(1)?));
            Ok(())
        })?;
    }
    Ok(out)
}

/// Every (number, registry) pair of the loaded registries, streamed into a [`DncSet`].
pub(crate) fn set_in(db: &mut dyn Db) -> Result<DncSet> {
    let mut pairs = Vec::new();
    db.each("SELECT recipient, source FROM dnc_numbers", &[], &mut |r| {
        let mac = crate::key::recipient_bytes(r.str(0)?)
            .ok_or_else(|| LedgerError::Corrupt("malformed recipient id in dnc_numbers".into()))?;
        pairs.push((mac, r.s(1)?));
        Ok(())
    })?;
    DncSet::from_pairs(pairs)
}

/// Stores the facts of claimed sends (a resent row's facts replace the earlier ones).
pub(crate) fn record_facts_in(db: &mut dyn Db, at: i64, facts: &[SendFacts]) -> Result<()> {
    for f in facts {
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&f.facts).is_err() {
            return Err(LedgerError::Backend(format!(
                "send facts of {}/{} are not a JSON object",
                f.campaign, f.row_key
            )));
        }
        db.execute(
            "INSERT INTO send_facts (campaign, row_key, recorded_at, facts) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (campaign, row_key) DO UPDATE SET recorded_at = excluded.recorded_at, facts = excluded.facts",
            p![f.campaign.as_str(), f.row_key.as_str(), at, f.facts.as_str()],
        )?;
    }
    Ok(())
}

/// Everything the ledger holds about one recipient, from one snapshot.
pub(crate) fn audit_in(db: &mut dyn Db, recipient: &RecipientId) -> Result<RecipientAudit> {
    let rid = recipient.as_str();
    let cols = send_cols!()
        .split(", ")
        .map(|c| match c.trim().strip_prefix("id_unpack(") {
            Some(packed) => format!("id_unpack(s.{packed}"),
            None => format!("s.{}", c.trim()),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols}, f.facts FROM sends s LEFT JOIN send_facts f \
         ON f.campaign = s.campaign AND f.row_key = s.row_key \
         WHERE s.recipient = id_pack(?1) ORDER BY s.updated_at, s.campaign, s.row_key"
    );
    let facts_at = send_cols!().split(',').count();
    let sends = db.rows(&sql, p![rid], |r| {
        let facts = r.os(facts_at)?;
        Ok((RawSend::from_row(r)?.record()?, facts))
    })?;
    let suppressions = db.rows(
        "SELECT action, recipient, channel, masked, reason, source, at FROM suppression_audit \
         WHERE recipient = ?1 ORDER BY id",
        p![rid],
        |r| {
            Ok(SuppressionAudit {
                action: match r.str(0)? {
                    "add" => SuppressionAction::Add,
                    "remove" => SuppressionAction::Remove,
                    other => return Err(crate::codec::corrupt("audit action", other)),
                },
                suppression: suppression(r, 1)?,
                at: ts(r.i(6)?)?,
            })
        },
    )?;
    let registries = db.rows(
        &format!(
            "SELECT {REGISTRY_COLS} WHERE source IN (SELECT source FROM dnc_numbers WHERE recipient = ?1) ORDER BY source"
        ),
        p![rid],
        registry,
    )?;
    let replies = crate::replies::of_recipient_in(db, recipient)?;
    Ok(RecipientAudit {
        sends,
        suppressions,
        registries,
        replies,
    })
}
