//! Verbatim copies between ledger backends (`herald ledger migrate`).
//!
//! Owns: the backend-neutral description of every stored table ([`RawTable`]), the row
//! format exchanged by [`Ledger::export_raw`] and [`Ledger::import_raw`], and
//! [`migrate_ledger`]. Invariants: rows and events are copied as stored (same ids, same
//! timestamps, same event hashes), so the copy's hash chain is the source's chain and
//! `verify` gives the same answer on both sides; an import only goes into a fresh ledger
//! created with the same key, in one transaction, and replaces the target's own creation
//! event with the source's history.

use std::collections::BTreeMap;

use crate::Ledger;
use crate::error::{LedgerError, Result};

/// How a column is stored (SQLite `INTEGER`/`TEXT`; PostgreSQL `BIGINT`/`TEXT`/`BOOLEAN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// Text.
    Text,
    /// 64-bit integer (timestamps are Unix milliseconds).
    Int,
    /// Boolean, exchanged as `Int(0)` / `Int(1)`.
    Bool,
}

/// One column of a stored table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawColumn {
    /// Column name (the same in every backend).
    pub name: &'static str,
    /// Storage kind.
    pub kind: RawKind,
}

const fn t(name: &'static str) -> RawColumn {
    RawColumn {
        name,
        kind: RawKind::Text,
    }
}

const fn i(name: &'static str) -> RawColumn {
    RawColumn {
        name,
        kind: RawKind::Int,
    }
}

/// Every table a ledger stores, in copy order (referenced tables first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RawTable {
    /// `meta`: key fingerprint.
    Meta,
    /// `runs`.
    Runs,
    /// `template_bindings`.
    TemplateBindings,
    /// `template_versions`.
    TemplateVersions,
    /// `sends`.
    Sends,
    /// `conversations`.
    Conversations,
    /// `suppressions`.
    Suppressions,
    /// `suppression_audit`.
    SuppressionAudit,
    /// `inbound`.
    Inbound,
    /// `receipts`.
    Receipts,
    /// `waves` (schema 9).
    Waves,
    /// `dnc_registries` (schema 8).
    DncRegistries,
    /// `dnc_numbers` (schema 8).
    DncNumbers,
    /// `send_facts` (schema 8).
    SendFacts,
    /// `keyword_replies` (schema 10).
    KeywordReplies,
    /// `events` (the hash chain).
    Events,
}

impl RawTable {
    /// Every table, in copy order.
    pub const ALL: [RawTable; 16] = [
        RawTable::Meta,
        RawTable::Runs,
        RawTable::TemplateBindings,
        RawTable::TemplateVersions,
        RawTable::Sends,
        RawTable::Conversations,
        RawTable::Suppressions,
        RawTable::SuppressionAudit,
        RawTable::Inbound,
        RawTable::Receipts,
        RawTable::Waves,
        RawTable::DncRegistries,
        RawTable::DncNumbers,
        RawTable::SendFacts,
        RawTable::KeywordReplies,
        RawTable::Events,
    ];

    /// The SQL table name.
    pub fn name(self) -> &'static str {
        match self {
            RawTable::Meta => "meta",
            RawTable::Runs => "runs",
            RawTable::TemplateBindings => "template_bindings",
            RawTable::TemplateVersions => "template_versions",
            RawTable::Sends => "sends",
            RawTable::Conversations => "conversations",
            RawTable::Suppressions => "suppressions",
            RawTable::SuppressionAudit => "suppression_audit",
            RawTable::Inbound => "inbound",
            RawTable::Receipts => "receipts",
            RawTable::Waves => "waves",
            RawTable::DncRegistries => "dnc_registries",
            RawTable::DncNumbers => "dnc_numbers",
            RawTable::SendFacts => "send_facts",
            RawTable::KeywordReplies => "keyword_replies",
            RawTable::Events => "events",
        }
    }

    /// Its columns, in exchange order.
    pub fn columns(self) -> &'static [RawColumn] {
        match self {
            RawTable::Meta => const { &[t("key"), t("value")] },
            RawTable::Runs => {
                const {
                    &[
                        t("run_id"),
                        t("command"),
                        t("user_name"),
                        t("host"),
                        t("git_commit"),
                        t("plan_hash"),
                        i("started_at"),
                        i("finished_at"),
                        t("outcome"),
                    ]
                }
            }
            RawTable::TemplateBindings => {
                const {
                    &[
                        t("name"),
                        t("response_id"),
                        i("version"),
                        t("content_hash"),
                        t("remote_hash"),
                        i("updated_at"),
                    ]
                }
            }
            RawTable::TemplateVersions => {
                const {
                    &[
                        i("id"),
                        t("name"),
                        t("response_id"),
                        i("version"),
                        t("content_hash"),
                        t("remote_hash"),
                        t("git_commit"),
                        t("overwrote_hash"),
                        t("run_id"),
                        i("at"),
                    ]
                }
            }
            RawTable::Sends => {
                const {
                    &[
                        t("campaign"),
                        t("row_key"),
                        t("recipient"),
                        t("masked"),
                        t("channel"),
                        t("template_hash"),
                        t("state"),
                        i("attempts"),
                        i("next_attempt_at"),
                        t("message_id"),
                        t("conversation_id"),
                        t("error_code"),
                        t("note"),
                        t("run_id"),
                        i("created_at"),
                        i("dispatched_at"),
                        i("updated_at"),
                        t("receipt_status"),
                        i("receipt_at"),
                        t("category"),
                        i("seq"),
                        i("mac"),
                        i("tags"),
                    ]
                }
            }
            RawTable::Conversations => {
                const {
                    &[
                        t("recipient"),
                        t("channel"),
                        t("conversation_id"),
                        i("updated_at"),
                        i("seq"),
                        i("mac"),
                        i("tags"),
                    ]
                }
            }
            RawTable::Suppressions => {
                const {
                    &[
                        t("recipient"),
                        t("channel"),
                        t("masked"),
                        t("reason"),
                        t("source"),
                        i("since"),
                    ]
                }
            }
            RawTable::SuppressionAudit => {
                const {
                    &[
                        i("id"),
                        t("action"),
                        t("recipient"),
                        t("channel"),
                        t("masked"),
                        t("reason"),
                        t("source"),
                        i("at"),
                    ]
                }
            }
            RawTable::Inbound => {
                const {
                    &[
                        t("message_id"),
                        t("recipient"),
                        t("masked"),
                        t("channel"),
                        t("action"),
                        RawColumn {
                            name: "flagged",
                            kind: RawKind::Bool,
                        },
                        i("received_at"),
                        i("recorded_at"),
                        t("text_mac"),
                    ]
                }
            }
            RawTable::Receipts => {
                const {
                    &[
                        i("id"),
                        t("message_id"),
                        t("status"),
                        t("reason"),
                        i("at"),
                        i("recorded_at"),
                    ]
                }
            }
            RawTable::Waves => {
                const {
                    &[
                        t("campaign"),
                        i("wave"),
                        t("channel"),
                        t("status"),
                        i("contacts"),
                        t("contact_list_id"),
                        t("genesys_campaign_id"),
                        t("run_id"),
                        i("created_at"),
                        i("updated_at"),
                    ]
                }
            }
            RawTable::DncRegistries => {
                const {
                    &[
                        t("source"),
                        t("downloaded_on"),
                        i("imported_at"),
                        i("numbers"),
                        t("file_digest"),
                        t("file_kind"),
                    ]
                }
            }
            RawTable::DncNumbers => const { &[t("recipient"), t("source")] },
            RawTable::SendFacts => {
                const { &[t("campaign"), t("row_key"), i("recorded_at"), t("facts")] }
            }
            RawTable::KeywordReplies => {
                const {
                    &[
                        t("inbound_id"),
                        t("kind"),
                        t("recipient"),
                        t("masked"),
                        t("state"),
                        t("text_hash"),
                        t("message_id"),
                        t("note"),
                        i("claimed_at"),
                        i("updated_at"),
                    ]
                }
            }
            RawTable::Events => {
                const {
                    &[
                        i("seq"),
                        i("at"),
                        t("kind"),
                        t("payload_json"),
                        t("prev_hash"),
                        t("hash"),
                    ]
                }
            }
        }
    }

    /// The column list of a `SELECT`/`INSERT`.
    pub(crate) fn column_list(self) -> String {
        self.columns()
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `SELECT` list that reads every column as exchanged (keyed ids stored as bytes read
    /// back as their strings), in [`RawTable::columns`] order.
    pub(crate) fn select_list(self) -> String {
        crate::packed::select_list(self)
    }

    /// The `VALUES` list of an `INSERT` of [`RawTable::column_list`] (`?1`, … with keyed ids
    /// packed into bytes).
    pub(crate) fn values_list(self) -> String {
        self.columns()
            .iter()
            .enumerate()
            .map(|(i, c)| crate::packed::insert_value(self, c.name, i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The primary-key order rows are exported in.
    pub(crate) fn order_by(self) -> &'static str {
        match self {
            RawTable::Meta => "key",
            RawTable::Runs => "run_id",
            RawTable::TemplateBindings => "name",
            RawTable::TemplateVersions | RawTable::SuppressionAudit | RawTable::Receipts => "id",
            RawTable::Sends | RawTable::SendFacts => "campaign, row_key",
            RawTable::Conversations => "recipient",
            RawTable::Suppressions => "recipient, channel",
            RawTable::Inbound => "message_id",
            RawTable::Waves => "campaign, wave",
            RawTable::DncRegistries => "source",
            RawTable::DncNumbers => "recipient, source",
            RawTable::KeywordReplies => "inbound_id",
            RawTable::Events => "seq",
        }
    }

    /// Whether the table has an identity/rowid `id` column that must continue after the copy.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn has_id(self) -> bool {
        matches!(
            self,
            RawTable::TemplateVersions | RawTable::SuppressionAudit | RawTable::Receipts
        )
    }
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    /// SQL `NULL`.
    Null,
    /// An integer (or a boolean as 0/1).
    Int(i64),
    /// Text.
    Text(String),
}

/// One stored row, with values in [`RawTable::columns`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    /// The table.
    pub table: RawTable,
    /// The values.
    pub values: Vec<RawValue>,
}

impl RawRow {
    /// Checks the value count and kinds against the table's columns.
    pub(crate) fn check(&self) -> Result<()> {
        let cols = self.table.columns();
        if cols.len() != self.values.len() {
            return Err(LedgerError::Corrupt(format!(
                "{} row has {} values, expected {}",
                self.table.name(),
                self.values.len(),
                cols.len()
            )));
        }
        for (c, v) in cols.iter().zip(&self.values) {
            let fits = matches!(
                (c.kind, v),
                (_, RawValue::Null)
                    | (RawKind::Text, RawValue::Text(_))
                    | (RawKind::Int | RawKind::Bool, RawValue::Int(_))
            );
            if !fits {
                return Err(LedgerError::Corrupt(format!(
                    "{}.{} holds a value of the wrong kind",
                    self.table.name(),
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// The text of a `meta` row as `(key, value)`.
    pub(crate) fn meta_pair(&self) -> Option<(&str, &str)> {
        match (self.table, self.values.as_slice()) {
            (RawTable::Meta, [RawValue::Text(k), RawValue::Text(v)]) => Some((k, v)),
            _ => None,
        }
    }
}

/// Rows per table name.
pub type TableCounts = BTreeMap<String, u64>;

/// Streams rows into a sink (the argument of [`Ledger::import_raw`]).
pub type RawSink<'a> = dyn FnMut(RawRow) -> Result<()> + 'a;

/// What [`migrate_ledger`] copied and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Rows per table, equal on both sides after the copy.
    pub tables: TableCounts,
    /// Events whose hashes were checked on the target (equal to the source's).
    pub events_verified: u64,
    /// Send rows the target's `verify` compared with its events.
    pub sends_verified: u64,
    /// Suppression rows the target's `verify` compared with its events.
    pub suppressions_verified: u64,
}

/// Copies every row and the event chain of `from` into the fresh ledger `to`, then checks
/// that both hold the same row counts and that `verify` passes on both.
///
/// `to` must be newly created with the same key (only its creation event may exist); the
/// copy runs in one transaction on `to`, so a failed copy leaves it fresh. Stop every writer
/// of `from` (hold its run lock, stop the receiver) while copying. A source that fails
/// `verify` is refused: the copy would carry the damage over.
pub fn migrate_ledger(from: &dyn Ledger, to: &mut dyn Ledger) -> Result<MigrateReport> {
    let source = from.verify()?;
    if !source.ok {
        let why = source
            .first_broken
            .map_or_else(String::new, |b| format!(": {}", b.reason));
        return Err(LedgerError::Corrupt(format!(
            "the source ledger fails verification{why}; investigate it before migrating"
        )));
    }
    let copied = to.import_raw(&mut |sink| from.export_raw(sink))?;
    let from_counts = from.table_counts()?;
    let to_counts = to.table_counts()?;
    if copied != from_counts || to_counts != from_counts {
        return Err(LedgerError::Corrupt(format!(
            "row counts differ after the copy (source {from_counts:?}, copied {copied:?}, target {to_counts:?}); \
             was the source written during the migration? Discard the target and retry"
        )));
    }
    let target = to.verify()?;
    if !target.ok || target.events_checked != source.events_checked {
        let why = target
            .first_broken
            .map_or_else(String::new, |b| format!(": {}", b.reason));
        return Err(LedgerError::Corrupt(format!(
            "the copy does not verify ({} of {} events checked){why}; discard the target",
            target.events_checked, source.events_checked
        )));
    }
    Ok(MigrateReport {
        tables: to_counts,
        events_verified: target.events_checked,
        sends_verified: target.sends_checked,
        suppressions_verified: target.suppressions_checked,
    })
}

/// Refuses an import target that holds anything but its own creation event.
pub(crate) fn check_fresh(counts: &TableCounts, only_event_kind: Option<&str>) -> Result<()> {
    for (table, n) in counts {
        let allowed = match table.as_str() {
            "meta" => u64::MAX,
            "events" if only_event_kind == Some("ledger_created") => 1,
            _ => 0,
        };
        if *n > allowed {
            return Err(LedgerError::AlreadyExists {
                what: "data in the migration target",
                name: format!("{n} row(s) in {table}; migrate only into a new, empty ledger"),
            });
        }
    }
    Ok(())
}
