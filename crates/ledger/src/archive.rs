//! Archive files: what `herald ledger archive` writes, and what `verify`, `audit` and `export`
//! read with `--archive`.
//!
//! Owns: the archive file's format (a SQLite file, whatever the hot ledger's backend), its
//! chain, its keyed row MACs, writing it crash-safely before the cut ([`archive_ledger`]) and
//! checking it against the cut the hot ledger recorded ([`verify_archive`]).
//!
//! Format (`herald-archive-v1`): tables `meta (key, value)`, `sends` and `send_facts` (the
//! logical columns of [`RawTable::Sends`] and [`RawTable::SendFacts`], as the hot ledger
//! exported them, plus `amac`: a 64-bit SipHash-2-4 of the row's values under a key derived
//! from the ledger key) and `chain (seq, payload, prev_hash, hash)`. The chain's first entry
//! (`opened`) links to the hot ledger's head when the archive was written (its `prev_hash` is
//! that event's hash) and names the event number the cut will get; one `campaign` entry per
//! campaign carries how many sends and facts it holds and the wrapping sum of their `amac`s;
//! the last entry (`closed`) carries the totals. Each link is `hex(HMAC-SHA256(archive chain
//! key, "herald-archive:v1\n" ‖ prev_hash ‖ "\n" ‖ seq ‖ "\n" ‖ payload))`; both keys are
//! derived from the ledger's chain key under their own labels, so nobody without the ledger
//! key can forge an archive, and an archive of another ledger (another key) fails its links.
//! The hash of the last entry is the archive's head, recorded in the cut's `archived` event.
//!
//! Crash safety: the file is written to `NAME.tmp` (created exclusively, mode 0600), fsynced
//! and renamed to `NAME` (the directory fsynced) before the cut's transaction removes any hot
//! row. A run killed before the cut leaves a file no cut names: the next run removes it from
//! the default directory (and says so); a killed cut transaction leaves nothing.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher as _;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit as _, Mac as _};
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use siphasher::sip::SipHasher24;

use crate::Ledger;
use crate::chain::ChainKey;
use crate::codec::{RawSend, export_row};
use crate::cut::ArchiveCandidate;
use crate::error::{LedgerError, Result};
use crate::fsutil;
use crate::key::{LedgerKey, RecipientId};
use crate::model::{ChainHead, ExportRow, SendRecord};
use crate::raw::{RawKind, RawRow, RawTable, RawValue};
use crate::sqlite::Lite;
use crate::store::{Db as _, p};

/// The format name stored in an archive's `meta`.
pub const ARCHIVE_FORMAT: &str = "herald-archive-v1";

/// The key of the archive rows' MACs, derived from the chain key.
pub(crate) struct RowMacKey(u64, u64);

impl RowMacKey {
    pub(crate) fn derive(chain: &ChainKey) -> RowMacKey {
        let k = chain.sub_key(b"herald archive rows v1");
        let w = |i: usize| u64::from_le_bytes(k[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        RowMacKey(w(0), w(1))
    }

    /// The MAC of a row of `table` with `values` in [`RawTable::columns`] order.
    pub(crate) fn mac(&self, table: RawTable, values: &[RawValue]) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.0, self.1);
        h.write(table.name().as_bytes());
        h.write_u64(values.len() as u64);
        for v in values {
            match v {
                RawValue::Null => h.write_u8(0),
                RawValue::Int(n) => {
                    h.write_u8(1);
                    h.write_i64(*n);
                }
                RawValue::Text(s) => {
                    h.write_u8(2);
                    h.write_u64(s.len() as u64);
                    h.write(s.as_bytes());
                }
            }
        }
        h.finish()
    }
}

fn chain_link(key: &[u8; 32], prev: &str, seq: u64, payload: &str) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("herald-archive:v1\n{prev}\n{seq}\n{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn link_key(chain: &ChainKey) -> [u8; 32] {
    chain.sub_key(b"herald archive chain v1")
}

/// One entry of an archive's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Entry {
    Opened {
        format: String,
        key_fingerprint: String,
        /// `SEQ:HASH` of the hot ledger's head the archive starts from.
        ledger_head: String,
        /// The event number the cut gets in the hot ledger.
        cut_seq: u64,
        /// The cut date, Unix ms.
        before: i64,
    },
    Campaign {
        campaign: String,
        sends: u64,
        sends_sum: u64,
        facts: u64,
        facts_sum: u64,
    },
    Closed {
        campaigns: u64,
        sends: u64,
        facts: u64,
    },
}

/// What one campaign's rows in an archive add up to (count and keyed sum per table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignDigest {
    /// The campaign.
    pub campaign: String,
    /// Send rows.
    pub sends: u64,
    pub(crate) sends_sum: u64,
    /// Facts rows.
    pub facts: u64,
    pub(crate) facts_sum: u64,
}

/// The cut [`Ledger::archive_cut`] makes: what the archive holds and where it links.
#[derive(Debug, Clone)]
pub struct ArchiveCut {
    pub(crate) seq: u64,
    pub(crate) archive: String,
    pub(crate) archive_head: String,
    pub(crate) ledger_head: ChainHead,
    pub(crate) before_ms: i64,
    pub(crate) campaigns: Vec<CampaignDigest>,
}

/// A cut as the hot ledger's chain records it (an `archived` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCutRecord {
    /// The `archived` event.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// When the cut was made.
    pub at: Timestamp,
    /// The archive's file name.
    pub archive: String,
    /// The archive chain's head.
    pub archive_head: String,
    /// The head the archive chain starts from.
    pub ledger_head: ChainHead,
    /// The cut date.
    pub before: Timestamp,
    /// `(campaign, sends, facts)` moved.
    pub campaigns: Vec<(String, u64, u64)>,
}

/// Where `herald ledger archive` writes.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// The cut date: campaigns whose last update is before it move.
    pub before: Timestamp,
    /// The default directory (created 0700), used when `out` is `None`.
    pub dir: PathBuf,
    /// The file-name prefix in `dir` (the environment): `PREFIX-cut-SEQ.sqlite`.
    pub prefix: String,
    /// An explicit output file (must not exist).
    pub out: Option<PathBuf>,
}

/// What [`archive_ledger`] did.
#[derive(Debug, Clone, Default)]
pub struct ArchiveReport {
    /// The archive written (`None`: nothing to move).
    pub path: Option<PathBuf>,
    /// The cut's `archived` event.
    pub cut: Option<ChainHead>,
    /// What moved, per campaign.
    pub moved: Vec<CampaignDigest>,
    /// Campaigns that stayed hot, with the reason.
    pub kept: Vec<ArchiveCandidate>,
    /// Leftovers of an interrupted archive that were removed (no cut named them).
    pub removed_stale: Vec<PathBuf>,
}

impl ArchiveReport {
    /// Send rows moved.
    pub fn sends(&self) -> u64 {
        self.moved.iter().map(|c| c.sends).sum()
    }
    /// Facts rows moved.
    pub fn facts(&self) -> u64 {
        self.moved.iter().map(|c| c.facts).sum()
    }
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE chain (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
";

fn create_table_sql(table: RawTable) -> String {
    let cols = table
        .columns()
        .iter()
        .map(|c| {
            let ty = match c.kind {
                RawKind::Text => "TEXT",
                RawKind::Int | RawKind::Bool => "INTEGER",
            };
            format!("{} {ty}", c.name)
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE TABLE {} ({cols}, amac INTEGER NOT NULL, PRIMARY KEY (campaign, row_key)) WITHOUT ROWID;",
        table.name()
    )
}

fn insert_sql(table: RawTable) -> String {
    let n = table.columns().len();
    let ph = (1..=n + 1)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {} ({}, amac) VALUES ({ph})",
        table.name(),
        table.column_list()
    )
}

fn to_sql(v: &RawValue) -> rusqlite::types::Value {
    match v {
        RawValue::Null => rusqlite::types::Value::Null,
        RawValue::Int(n) => rusqlite::types::Value::Integer(*n),
        RawValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

fn text0(values: &[RawValue]) -> &str {
    match values.first() {
        Some(RawValue::Text(s)) => s,
        _ => "",
    }
}

/// Refuses a symbolic link or any existing file at `path`.
fn refuse_existing(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(LedgerError::Refused(format!(
            "{} is a symbolic link; archives are never written through links",
            path.display()
        ))),
        Ok(_) => Err(LedgerError::AlreadyExists {
            what: "file",
            name: format!("{} (archives never overwrite a file)", path.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(d)?.sync_all()?;
    Ok(())
}

fn tmp_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Removes, from the default directory, archive files and temporaries of this prefix that no
/// cut names (left by an interrupted run). Links are reported, never followed or removed.
fn remove_stale(dir: &Path, prefix: &str, cuts: &[ArchiveCutRecord]) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(removed);
    };
    let start = format!("{prefix}-cut-");
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&start) else {
            continue;
        };
        let (base, tmp) = match rest.strip_suffix(".tmp") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let Some(seq) = base.strip_suffix(".sqlite") else {
            continue;
        };
        if seq.parse::<u64>().is_err() {
            continue;
        }
        let named = !tmp && cuts.iter().any(|c| c.archive == name);
        if named {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if !meta.file_type().is_file() {
            return Err(LedgerError::Refused(format!(
                "{} is not a regular file; remove it by hand",
                path.display()
            )));
        }
        std::fs::remove_file(&path)?;
        removed.push(path);
    }
    Ok(removed)
}

/// Refuses a key other than the one the ledger was created with (its first event names the
/// key's fingerprint): archive keys are derived from it.
fn check_key(ledger: &dyn Ledger, key: &LedgerKey) -> Result<()> {
    let first = ledger.events(0, 1)?;
    let stored = first
        .first()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.payload_json).ok())
        .and_then(|v| v.get("key_fingerprint")?.as_str().map(str::to_owned));
    match stored {
        Some(expected) if expected != key.fingerprint() => Err(LedgerError::WrongKey {
            expected,
            actual: key.fingerprint(),
        }),
        _ => Ok(()),
    }
}

/// Moves every campaign that may move (see [`Ledger::archive_candidates`]) into a new
/// archive file, then cuts them from the hot ledger in one transaction with an `archived`
/// event. `hook` is called with `archive-before-rename`, `archive-before-cut` and
/// `archive-after-cut` (crash tests). The ledger must verify first: a ledger that fails is
/// refused, so damage is never carried into an archive. Hold the run lock while archiving.
pub fn archive_ledger(
    ledger: &mut dyn Ledger,
    key: &LedgerKey,
    opts: &ArchiveOptions,
    hook: &mut dyn FnMut(&str),
) -> Result<ArchiveReport> {
    check_key(ledger, key)?;
    let chain = ChainKey::derive(key);
    let verified = ledger.verify()?;
    if !verified.ok {
        let why = verified
            .first_broken
            .map_or_else(String::new, |b| format!(": {}", b.reason));
        return Err(LedgerError::Corrupt(format!(
            "the ledger fails verification{why}; nothing was archived (investigate it first)"
        )));
    }
    let cuts = ledger.archive_cuts()?;
    let mut report = ArchiveReport::default();
    if opts.out.is_none() {
        fsutil::create_private_dir(&opts.dir)?;
        report.removed_stale = remove_stale(&opts.dir, &opts.prefix, &cuts)?;
    }
    let (moving, kept): (Vec<_>, Vec<_>) = ledger
        .archive_candidates(opts.before)?
        .into_iter()
        .partition(|c| c.kept.is_none());
    report.kept = kept;
    if moving.is_empty() {
        return Ok(report);
    }
    let head = ledger
        .head()?
        .ok_or_else(|| LedgerError::Corrupt("the ledger has no events".into()))?;
    let seq = head.seq + 1;
    let path = match &opts.out {
        Some(p) => p.clone(),
        None => opts.dir.join(format!("{}-cut-{seq}.sqlite", opts.prefix)),
    };
    refuse_existing(&path)?;
    let tmp = tmp_of(&path);
    refuse_existing(&tmp)?;
    let archive = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| LedgerError::Refused(format!("{} names no file", path.display())))?;
    let campaigns: Vec<String> = moving.iter().map(|c| c.campaign.clone()).collect();
    fsutil::create_private_file(&tmp)?;
    let written = write_file(
        &tmp,
        ledger,
        &chain,
        key,
        &head,
        seq,
        opts.before.as_millisecond(),
        &campaigns,
    );
    let (archive_head, digests) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::OpenOptions::new()
        .read(true)
        .open(&tmp)?
        .sync_all()?;
    hook("archive-before-rename");
    refuse_existing(&path)?;
    std::fs::rename(&tmp, &path)?;
    sync_dir(path.parent().unwrap_or(Path::new("")))?;
    hook("archive-before-cut");
    let cut = ArchiveCut {
        seq,
        archive,
        archive_head,
        ledger_head: head,
        before_ms: opts.before.as_millisecond(),
        campaigns: digests.clone(),
    };
    let made = match ledger.archive_cut(&cut) {
        Ok(h) => h,
        Err(e) => {
            // No cut names the file: it must not look like an archive.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    hook("archive-after-cut");
    report.path = Some(path);
    report.cut = Some(made);
    report.moved = digests;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn write_file(
    tmp: &Path,
    ledger: &dyn Ledger,
    chain: &ChainKey,
    key: &LedgerKey,
    head: &ChainHead,
    seq: u64,
    before_ms: i64,
    campaigns: &[String],
) -> Result<(String, Vec<CampaignDigest>)> {
    let mut conn = Connection::open(tmp)?;
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    let tx = conn.transaction()?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(&create_table_sql(RawTable::Sends))?;
    tx.execute_batch(&create_table_sql(RawTable::SendFacts))?;
    tx.execute_batch("CREATE INDEX sends_recipient ON sends (recipient);")?;
    let rows = RowMacKey::derive(chain);
    let mut digests: Vec<CampaignDigest> = campaigns
        .iter()
        .map(|c| CampaignDigest {
            campaign: c.clone(),
            ..CampaignDigest::default()
        })
        .collect();
    let index: HashMap<&str, usize> = campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    {
        let mut ins_sends = tx.prepare(&insert_sql(RawTable::Sends))?;
        let mut ins_facts = tx.prepare(&insert_sql(RawTable::SendFacts))?;
        ledger.archive_rows(campaigns, &mut |row: RawRow| {
            row.check()?;
            let mac = rows.mac(row.table, &row.values);
            let i = *index.get(text0(&row.values)).ok_or_else(|| {
                LedgerError::Backend("a row of another campaign was exported".into())
            })?;
            let d = &mut digests[i];
            let mut params: Vec<rusqlite::types::Value> = row.values.iter().map(to_sql).collect();
            params.push(rusqlite::types::Value::Integer(mac.cast_signed()));
            if row.table == RawTable::Sends {
                d.sends += 1;
                d.sends_sum = d.sends_sum.wrapping_add(mac);
                ins_sends.execute(params_from_iter(params))?;
            } else {
                d.facts += 1;
                d.facts_sum = d.facts_sum.wrapping_add(mac);
                ins_facts.execute(params_from_iter(params))?;
            }
            Ok(())
        })?;
    }
    let mut entries = vec![Entry::Opened {
        format: ARCHIVE_FORMAT.to_owned(),
        key_fingerprint: key.fingerprint(),
        ledger_head: format!("{}:{}", head.seq, head.hash),
        cut_seq: seq,
        before: before_ms,
    }];
    for d in &digests {
        entries.push(Entry::Campaign {
            campaign: d.campaign.clone(),
            sends: d.sends,
            sends_sum: d.sends_sum,
            facts: d.facts,
            facts_sum: d.facts_sum,
        });
    }
    entries.push(Entry::Closed {
        campaigns: digests.len() as u64,
        sends: digests.iter().map(|d| d.sends).sum(),
        facts: digests.iter().map(|d| d.facts).sum(),
    });
    let lk = link_key(chain);
    let mut prev = head.hash.clone();
    for (i, e) in entries.iter().enumerate() {
        let n = i as u64 + 1;
        let payload = serde_json::to_string(e).expect("entries serialise");
        let hash = chain_link(&lk, &prev, n, &payload);
        tx.execute(
            "INSERT INTO chain (seq, payload, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![i64::try_from(n).unwrap_or(i64::MAX), payload, prev, hash],
        )?;
        prev = hash;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('format', ?1)",
        [ARCHIVE_FORMAT],
    )?;
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)?;
    Ok((prev, digests))
}

/// What [`verify_archive`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveCheck {
    /// Whether the archive is intact and is the one its cut names.
    pub ok: bool,
    /// The cut that names it.
    pub cut_seq: Option<u64>,
    /// Campaigns, send rows and facts rows it holds (counted while checking).
    pub campaigns: u64,
    /// Send rows checked.
    pub sends: u64,
    /// Facts rows checked.
    pub facts: u64,
    /// The first problem.
    pub problem: Option<String>,
}

fn open_read_only(path: &Path) -> Result<Connection> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(LedgerError::Refused(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// Checks an archive file against the hot ledger: its chain under this ledger's key, every
/// row's MAC, the rows per campaign against the chain, and that a cut of `ledger` names its
/// head and file name. Streams each table once (memory: one entry per campaign).
pub fn verify_archive(ledger: &dyn Ledger, key: &LedgerKey, path: &Path) -> Result<ArchiveCheck> {
    check_key(ledger, key)?;
    let cuts = ledger.archive_cuts()?;
    let mut check = ArchiveCheck::default();
    match verify_in(ledger, &cuts, key, path, &mut check) {
        Ok(None) => check.ok = true,
        Ok(Some(problem)) => check.problem = Some(problem),
        Err(e) => check.problem = Some(format!("the archive cannot be read: {e}")),
    }
    Ok(check)
}

fn verify_in(
    ledger: &dyn Ledger,
    cuts: &[ArchiveCutRecord],
    key: &LedgerKey,
    path: &Path,
    check: &mut ArchiveCheck,
) -> Result<Option<String>> {
    let conn = open_read_only(path)?;
    let integrity: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Ok(Some(format!(
            "the file is damaged or truncated: {integrity}"
        )));
    }
    let chain = ChainKey::derive(key);
    let lk = link_key(&chain);
    let mut stmt = conn.prepare("SELECT seq, payload, prev_hash, hash FROM chain ORDER BY seq")?;
    let entries: Vec<(i64, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let Some(first) = entries.first() else {
        return Ok(Some("the archive's chain is empty".into()));
    };
    let mut prev = first.2.clone();
    let mut expected: BTreeMap<String, CampaignDigest> = BTreeMap::new();
    let mut opened: Option<(String, u64)> = None;
    let mut closed = false;
    for (i, (seq, payload, prev_hash, hash)) in entries.iter().enumerate() {
        let n = i as u64 + 1;
        if u64::try_from(*seq).ok() != Some(n) || *prev_hash != prev {
            return Ok(Some(format!(
                "archive chain entry #{seq} does not follow #{}: entries are missing or reordered",
                n - 1
            )));
        }
        if chain_link(&lk, prev_hash, n, payload) != *hash {
            return Ok(Some(format!(
                "archive chain entry #{seq} does not hold under this ledger's key: the archive \
                 was edited or belongs to another ledger"
            )));
        }
        prev.clone_from(hash);
        let entry: Entry = serde_json::from_str(payload)
            .map_err(|e| LedgerError::Corrupt(format!("archive chain entry #{seq}: {e}")))?;
        match (n, entry) {
            (
                1,
                Entry::Opened {
                    format,
                    ledger_head,
                    cut_seq,
                    ..
                },
            ) if format == ARCHIVE_FORMAT => opened = Some((ledger_head, cut_seq)),
            (
                n,
                Entry::Campaign {
                    campaign,
                    sends,
                    sends_sum,
                    facts,
                    facts_sum,
                },
            ) if n > 1 && !closed => {
                expected.insert(
                    campaign.clone(),
                    CampaignDigest {
                        campaign,
                        sends,
                        sends_sum,
                        facts,
                        facts_sum,
                    },
                );
            }
            (n, Entry::Closed { campaigns, .. })
                if n > 1 && !closed && campaigns == expected.len() as u64 =>
            {
                closed = true;
            }
            _ => {
                return Ok(Some(format!(
                    "archive chain entry #{seq} is out of place: not an archive herald wrote"
                )));
            }
        }
    }
    let (Some((ledger_head, cut_seq)), true) = (opened, closed) else {
        return Ok(Some(
            "the archive's chain is not closed: the file is truncated".into(),
        ));
    };
    let Some(cut) = cuts.iter().find(|c| c.archive_head == prev) else {
        return Ok(Some(format!(
            "no cut of this ledger names this archive (it was written for event #{cut_seq}): it \
             is an archive of another ledger, or one whose cut never happened"
        )));
    };
    check.cut_seq = Some(cut.seq);
    let head = ChainHead::parse(&ledger_head).map_err(LedgerError::Corrupt)?;
    if cut.seq != cut_seq
        || cut.ledger_head != head
        || !ledger.contains_head(&head)?
        || head.seq >= cut.seq
    {
        return Ok(Some(format!(
            "the archive's first link does not match cut #{}",
            cut.seq
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name != cut.archive {
        return Ok(Some(format!(
            "this file holds the archive of cut #{} (written as `{}`), not `{name}`: was it \
             swapped?",
            cut.seq, cut.archive
        )));
    }
    let cut_counts: BTreeMap<&str, (u64, u64)> = cut
        .campaigns
        .iter()
        .map(|(c, s, f)| (c.as_str(), (*s, *f)))
        .collect();
    let exp_counts: BTreeMap<&str, (u64, u64)> = expected
        .values()
        .map(|d| (d.campaign.as_str(), (d.sends, d.facts)))
        .collect();
    if cut_counts != exp_counts {
        return Ok(Some(format!(
            "the archive's campaigns and counts differ from what cut #{} recorded",
            cut.seq
        )));
    }
    // Every row: its MAC, then the sums per campaign.
    let rows = RowMacKey::derive(&chain);
    let mut found: HashMap<String, CampaignDigest> = HashMap::new();
    for table in [RawTable::Sends, RawTable::SendFacts] {
        let n = table.columns().len();
        let sql = format!(
            "SELECT {}, amac FROM {} ORDER BY campaign, row_key",
            table.column_list(),
            table.name()
        );
        let mut problem = None;
        let mut db = Lite(&conn, &chain);
        db.each(&sql, &[], &mut |r| {
            if problem.is_some() {
                return Ok(());
            }
            let values = crate::audit::raw_values(table, r)?;
            let mac = r.i(n)?.cast_unsigned();
            let label = format!("{}/{}", text0(&values), {
                match values.get(1) {
                    Some(RawValue::Text(s)) => s.as_str(),
                    _ => "",
                }
            });
            if rows.mac(table, &values) != mac {
                problem = Some(format!(
                    "table `{}`: row {label} differs from what was archived (edited)",
                    table.name()
                ));
                return Ok(());
            }
            let d = found.entry(text0(&values).to_owned()).or_default();
            if table == RawTable::Sends {
                d.sends += 1;
                d.sends_sum = d.sends_sum.wrapping_add(mac);
            } else {
                d.facts += 1;
                d.facts_sum = d.facts_sum.wrapping_add(mac);
            }
            Ok(())
        })?;
        if let Some(p) = problem {
            return Ok(Some(p));
        }
    }
    for (campaign, want) in &expected {
        let got = found.remove(campaign).unwrap_or_default();
        if (got.sends, got.sends_sum, got.facts, got.facts_sum)
            != (want.sends, want.sends_sum, want.facts, want.facts_sum)
        {
            return Ok(Some(format!(
                "campaign `{campaign}`: the archive holds {} sends and {} facts, its chain \
                 records {} and {}: rows were deleted, inserted or replaced",
                got.sends, got.facts, want.sends, want.facts
            )));
        }
        check.campaigns += 1;
        check.sends += want.sends;
        check.facts += want.facts;
    }
    if let Some(extra) = found.keys().next() {
        return Ok(Some(format!(
            "rows of campaign `{extra}` are in the archive but not in its chain (inserted)"
        )));
    }
    Ok(None)
}

/// Checks `path` with [`verify_archive`] and refuses it unless it passes.
fn open_verified(ledger: &dyn Ledger, key: &LedgerKey, path: &Path) -> Result<Connection> {
    let check = verify_archive(ledger, key, path)?;
    if !check.ok {
        return Err(LedgerError::Corrupt(format!(
            "archive {} fails verification: {}",
            path.display(),
            check.problem.unwrap_or_default()
        )));
    }
    open_read_only(path)
}

/// Every archived send of `recipient` in the (verified) archive `path`, with its facts,
/// oldest first, as [`Ledger::recipient_audit`] lists hot ones.
pub fn archived_sends_of(
    ledger: &dyn Ledger,
    key: &LedgerKey,
    path: &Path,
    recipient: &RecipientId,
) -> Result<Vec<(SendRecord, Option<String>)>> {
    let conn = open_verified(ledger, key, path)?;
    let chain = ChainKey::derive(key);
    let mut db = Lite(&conn, &chain);
    let cols = RawTable::Sends
        .columns()
        .iter()
        .map(|c| format!("s.{}", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols}, f.facts FROM sends s LEFT JOIN send_facts f \
         ON f.campaign = s.campaign AND f.row_key = s.row_key \
         WHERE s.recipient = ?1 ORDER BY s.updated_at, s.campaign, s.row_key"
    );
    let facts_at = RawTable::Sends.columns().len();
    let rows = (&mut db as &mut dyn crate::store::Db).rows(&sql, p![recipient.as_str()], |r| {
        Ok((RawSend::from_row(r)?.record()?, r.os(facts_at)?))
    })?;
    Ok(rows)
}

/// Streams the (verified) archive's send rows, one campaign or all, ordered, as
/// [`Ledger::export`] does (the git commit is looked up in the hot ledger's runs).
pub fn export_archive(
    ledger: &dyn Ledger,
    key: &LedgerKey,
    path: &Path,
    campaign: Option<&str>,
    sink: &mut dyn FnMut(ExportRow) -> Result<()>,
) -> Result<u64> {
    let conn = open_verified(ledger, key, path)?;
    let commits: HashMap<String, Option<String>> = ledger
        .runs(usize::MAX)?
        .into_iter()
        .map(|r| (r.run.run_id, r.run.git_commit))
        .collect();
    let chain = ChainKey::derive(key);
    let mut db = Lite(&conn, &chain);
    let mut n = 0;
    (&mut db as &mut dyn crate::store::Db).each(
        "SELECT campaign, row_key, recipient, masked, channel, state, attempts, template_hash, \
         message_id, conversation_id, error_code, run_id, receipt_status, updated_at \
         FROM sends WHERE (CAST(?1 AS TEXT) IS NULL OR campaign = CAST(?1 AS TEXT)) \
         ORDER BY campaign, row_key",
        p![campaign],
        &mut |r| {
            let mut row = export_row(r)?;
            row.git_commit = row
                .git_commit
                .take()
                .and_then(|run| commits.get(&run).cloned().flatten());
            n += 1;
            sink(row)
        },
    )?;
    Ok(n)
}
