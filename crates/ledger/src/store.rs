//! The small private transaction trait the shared ledger core runs on.
//!
//! Owns: [`Store`] (what a backend provides: a read connection, a read snapshot, a write
//! transaction, its storage check and its bulk import) and [`Db`] (one connection or
//! transaction: run a statement, stream rows). SQL handed to a [`Db`] is written once in the
//! dialect both engines accept: `?N` parameters (spelt `$N` for PostgreSQL when prepared), `CAST(… AS …)` instead of `::`, `RETURNING`,
//! `ON CONFLICT`. Invariants: a [`Store::write`] closure runs inside one transaction that
//! serialises writers (so events append one at a time) and commits only if it returns `Ok`.

use crate::chain::ChainKey;
use crate::codec::RawSend;
use crate::error::{LedgerError, Result};
use crate::raw::{RawSink, TableCounts};

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bool(bool),
    /// A text array (PostgreSQL only: `= ANY($n)`).
    Texts(&'a [&'a str]),
}

impl<'a> From<&'a str> for Val<'a> {
    fn from(s: &'a str) -> Self {
        Val::Text(s)
    }
}

impl<'a> From<&'a String> for Val<'a> {
    fn from(s: &'a String) -> Self {
        Val::Text(s)
    }
}

impl<'a> From<&'a &'a str> for Val<'a> {
    fn from(s: &'a &'a str) -> Self {
        Val::Text(s)
    }
}

impl From<i64> for Val<'_> {
    fn from(n: i64) -> Self {
        Val::Int(n)
    }
}

impl From<bool> for Val<'_> {
    fn from(b: bool) -> Self {
        Val::Bool(b)
    }
}

impl<'a> From<Option<&'a str>> for Val<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Val::Null, Val::Text)
    }
}

impl<'a> From<&'a Option<String>> for Val<'a> {
    fn from(s: &'a Option<String>) -> Self {
        s.as_deref().map_or(Val::Null, Val::Text)
    }
}

impl From<Option<i64>> for Val<'_> {
    fn from(n: Option<i64>) -> Self {
        n.map_or(Val::Null, Val::Int)
    }
}

/// `p![a, b]`: a parameter list.
macro_rules! p {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::Val::from($v)),*]
    };
}
pub(crate) use p;

/// A statement that changes at most one `sends` row (`?1` = campaign, `?2` = row key), as
/// is and with `RETURNING` that row (see [`send_change!`]).
pub(crate) struct SendChange {
    pub(crate) sql: &'static str,
    pub(crate) returning: &'static str,
}

/// `send_change!("UPDATE sends … WHERE campaign = ?1 AND row_key = ?2 …")`.
macro_rules! send_change {
    ($sql:literal $(,)?) => {
        $crate::store::SendChange {
            sql: $sql,
            returning: concat!($sql, " RETURNING ", $crate::codec::send_cols!()),
        }
    };
}
pub(crate) use send_change;

/// One result row.
pub(crate) trait Cells {
    /// A text column (`None` for NULL); any other kind is corrupt.
    fn text(&self, i: usize) -> Result<Option<&str>>;
    /// An integer (or boolean, as 0/1) column (`None` for NULL); any other kind is corrupt.
    fn int(&self, i: usize) -> Result<Option<i64>>;
    /// A byte column (`None` for NULL, or when the column holds text: read it with `text`).
    fn blob(&self, i: usize) -> Result<Option<&[u8]>>;
    /// A keyed-id column read raw (schema 12: bytes), as its string (`id_unpack` in Rust).
    fn packed(&self, i: usize) -> Result<Option<String>>;
}

fn null_at(i: usize) -> LedgerError {
    LedgerError::Corrupt(format!("unexpected NULL in column {i}"))
}

impl dyn Cells + '_ {
    pub(crate) fn str(&self, i: usize) -> Result<&str> {
        self.text(i)?.ok_or_else(|| null_at(i))
    }

    pub(crate) fn s(&self, i: usize) -> Result<String> {
        self.str(i).map(str::to_owned)
    }

    pub(crate) fn os(&self, i: usize) -> Result<Option<String>> {
        Ok(self.text(i)?.map(str::to_owned))
    }

    pub(crate) fn i(&self, i: usize) -> Result<i64> {
        self.int(i)?.ok_or_else(|| null_at(i))
    }
}

pub(crate) type Each<'f> = dyn FnMut(&dyn Cells) -> Result<()> + 'f;

/// One connection or transaction of a backend.
pub(crate) trait Db {
    /// Runs a statement; returns the rows changed.
    fn execute(&mut self, sql: &str, p: &[Val<'_>]) -> Result<u64>;
    /// Runs a query, calling `f` for each row in order.
    fn each(&mut self, sql: &str, p: &[Val<'_>], f: &mut Each<'_>) -> Result<()>;
    /// Runs several statements without parameters.
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// Dialect point: the clause that locks a row read inside a write (` FOR UPDATE`).
    fn row_lock(&self) -> &'static str;
    /// Dialect point: runs `change` and returns the row it changed (`None` if none).
    fn change_send(&mut self, change: &SendChange, p: &[Val<'_>]) -> Result<Option<RawSend>>;
    /// Dialect point: `(recipient, scope)` of every suppression of `recipients`.
    fn suppressions_of(&mut self, recipients: &[&str]) -> Result<Vec<(String, String)>>;
    /// The key the chain's links are HMACs under (derived from the ledger key at open).
    fn chain_key(&self) -> &ChainKey;
    /// Dialect point: statements that lift and restore the `events` append-only guard
    /// (used only inside the write transaction that re-links an old plain chain).
    fn events_guard(&self) -> (&'static str, &'static str);
}

impl dyn Db + '_ {
    pub(crate) fn rows<T>(
        &mut self,
        sql: &str,
        p: &[Val<'_>],
        mut map: impl FnMut(&dyn Cells) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, p, &mut |r| {
            out.push(map(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, if any.
    pub(crate) fn row<T>(
        &mut self,
        sql: &str,
        p: &[Val<'_>],
        mut map: impl FnMut(&dyn Cells) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut out = None;
        self.each(sql, p, &mut |r| {
            if out.is_none() {
                out = Some(map(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// What a backend provides to the shared core, which implements [`crate::Ledger`] for it.
pub(crate) trait Store: Send {
    /// Runs `f` on the read connection.
    fn read<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T>;
    /// Runs `f` in one read transaction (every query sees the same snapshot).
    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T>;
    /// Runs `f` in one serialised write transaction with the current time in Unix
    /// milliseconds, committing if it returns `Ok`.
    fn write<T>(&mut self, f: impl FnOnce(&mut dyn Db, i64) -> Result<T>) -> Result<T>;
    /// The storage engine's own consistency check.
    fn integrity_check(&self) -> Result<Vec<String>>;
    /// Dialect point: bulk import (see [`crate::Ledger::import_raw`]).
    fn import_raw(
        &mut self,
        feed: &mut dyn FnMut(&mut RawSink<'_>) -> Result<()>,
    ) -> Result<TableCounts>;
}
