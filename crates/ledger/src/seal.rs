//! Row seals: how `verify` checks the tables that grow with every send (`sends` and
//! `conversations`) without events that carry every row's image.
//!
//! Owns: the seal of one row (columns `seq`, `mac`, `tags`), the digest of a batch that an
//! event carries ([`RowsDigest`]), and the check that streams a table against the digests.
//!
//! How it decides. Every row herald writes carries `seq` (the event that last wrote it),
//! `mac` (a 64-bit SipHash-2-4 of every other column and `seq` under a key derived from the
//! ledger key: nobody without the key can compute it) and `tags` (3 bits per column of a
//! second keyed hash, only to name the column that differs). The event that writes a batch
//! carries, instead of the rows, how many rows it wrote and the wrapping sum of their MACs,
//! and for each earlier event whose rows it overwrote, how many and the sum of the MACs those
//! rows held (recomputed from the rows as they were, so an edit made behind the chain is
//! never absorbed by a later write). Replaying the digests gives, for each event, the rows
//! it wrote that are still current and their MAC sum. `verify` streams the table once: each
//! row's MAC must match its columns (else the row and, from the tags, the column are named),
//! and per event the rows that name it must be as many, with the same sum, as the chain
//! says (else rows were deleted, inserted or restored from an older copy). Memory is one
//! entry per event, whatever the table's size.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher as _;

use serde::{Deserialize, Serialize};
use siphasher::sip::{SipHasher13, SipHasher24};

use crate::chain::ChainKey;
use crate::error::Result;
use crate::model::BrokenLink;
use crate::raw::{RawKind, RawTable};
use crate::store::{Cells, Db};

/// One column value, as sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum V<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> From<Option<&'a str>> for V<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(V::Null, V::Text)
    }
}

impl From<Option<i64>> for V<'_> {
    fn from(n: Option<i64>) -> Self {
        n.map_or(V::Null, V::Int)
    }
}

/// The keys of the row seals, derived from the chain key.
#[derive(Clone)]
pub(crate) struct SealKey {
    mac: (u64, u64),
    tag: (u64, u64),
}

fn halves(k: [u8; 32]) -> ((u64, u64), (u64, u64)) {
    let w = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&k[i * 8..i * 8 + 8]);
        u64::from_le_bytes(b)
    };
    ((w(0), w(1)), (w(2), w(3)))
}

fn write_value(h: &mut impl std::hash::Hasher, v: V<'_>) {
    match v {
        V::Null => h.write_u8(0),
        V::Int(n) => {
            h.write_u8(1);
            h.write_i64(n);
        }
        V::Text(s) => {
            h.write_u8(2);
            h.write_u64(s.len() as u64);
            h.write(s.as_bytes());
        }
    }
}

/// The seal of one row: its MAC and its column tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seal {
    pub(crate) mac: i64,
    pub(crate) tags: i64,
}

impl SealKey {
    pub(crate) fn derive(chain: &ChainKey) -> SealKey {
        let (mac, tag) = halves(chain.sub_key(b"herald row seal v1"));
        SealKey { mac, tag }
    }

    fn tag(&self, table: RawTable, column: usize, v: V<'_>) -> i64 {
        let mut h = SipHasher13::new_with_keys(self.tag.0, self.tag.1);
        h.write(table.name().as_bytes());
        h.write_u64(column as u64);
        write_value(&mut h, v);
        i64::try_from(h.finish() & 7).unwrap_or(0)
    }

    /// The MAC of a row of `table` whose sealed columns (every column but `mac` and `tags`,
    /// `seq` last) are `values`.
    pub(crate) fn mac(&self, table: RawTable, values: &[V<'_>]) -> i64 {
        let mut h = SipHasher24::new_with_keys(self.mac.0, self.mac.1);
        h.write(table.name().as_bytes());
        h.write_u64(values.len() as u64);
        for v in values {
            write_value(&mut h, *v);
        }
        h.finish().cast_signed()
    }

    /// The seal (MAC and column tags) of such a row.
    pub(crate) fn seal(&self, table: RawTable, values: &[V<'_>]) -> Seal {
        let mut tags = 0i64;
        for (i, v) in values.iter().enumerate().take(21) {
            tags |= self.tag(table, i, *v) << (3 * i);
        }
        Seal {
            mac: self.mac(table, values),
            tags,
        }
    }

    /// The first sealed column whose tag differs from `tags` (`None`: the tags do not tell).
    fn differing_column(&self, table: RawTable, values: &[V<'_>], tags: i64) -> Option<usize> {
        (0..values.len().min(21)).find(|&i| self.tag(table, i, values[i]) != (tags >> (3 * i)) & 7)
    }
}

/// Sealed columns of `table`: every column but the last two (`mac`, `tags`); `seq` is last.
pub(crate) fn sealed_len(table: RawTable) -> usize {
    table.columns().len() - 2
}

/// One sealed column of a row read with [`RawTable::column_list`]: a keyed id stored as bytes
/// (schema 12), decoded, or any other column, read in place.
enum Decoded {
    Id(Option<String>),
    InPlace,
}

/// The keyed ids of a row read with [`RawTable::column_list`], decoded.
fn decoded_ids(table: RawTable, r: &dyn Cells) -> Result<Vec<Decoded>> {
    table
        .columns()
        .iter()
        .take(sealed_len(table))
        .enumerate()
        .map(|(i, c)| {
            if crate::packed::is_packed(table, c.name) {
                r.packed(i).map(Decoded::Id)
            } else {
                Ok(Decoded::InPlace)
            }
        })
        .collect()
}

/// The sealed values of a row read with [`RawTable::column_list`], its ids from `ids`
/// ([`decoded_ids`]).
fn values_with<'a>(table: RawTable, r: &'a dyn Cells, ids: &'a [Decoded]) -> Result<Vec<V<'a>>> {
    let cols = table.columns();
    let mut out = Vec::with_capacity(cols.len());
    for (i, c) in cols.iter().take(sealed_len(table)).enumerate() {
        out.push(match (&ids[i], c.kind) {
            (Decoded::Id(id), _) => V::from(id.as_deref()),
            (Decoded::InPlace, RawKind::Text) => V::from(r.text(i)?),
            (Decoded::InPlace, RawKind::Int | RawKind::Bool) => V::from(r.int(i)?),
        });
    }
    Ok(out)
}

/// What a batch event says about the rows of one table it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowsDigest {
    /// Rows this event wrote (each counted once, in its final form within the event).
    pub(crate) n: u64,
    /// Wrapping sum of their MACs.
    pub(crate) sum: u64,
    /// `[seq, n, sum]` per earlier event whose rows this event overwrote: how many, and the
    /// sum of the MACs they held (recomputed from their columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) prev: Vec<[u64; 3]>,
}

/// A [`RowsDigest`] being built by a write, for the event numbered `seq`.
#[derive(Debug)]
pub(crate) struct DigestBuilder {
    seq: u64,
    n: u64,
    sum: u64,
    prev: BTreeMap<u64, (u64, u64)>,
}

impl DigestBuilder {
    pub(crate) fn new(seq: u64) -> DigestBuilder {
        DigestBuilder {
            seq,
            n: 0,
            sum: 0,
            prev: BTreeMap::new(),
        }
    }

    /// The event number the rows are sealed with.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// A row as it was before this write (`seq` as stored, `mac` recomputed from its
    /// columns); a row this event already wrote is taken out of its own count.
    pub(crate) fn replaced(&mut self, seq: Option<i64>, mac: i64) {
        let seq = seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
        let mac = mac.cast_unsigned();
        if seq == self.seq {
            self.n = self.n.wrapping_sub(1);
            self.sum = self.sum.wrapping_sub(mac);
        } else {
            let e = self.prev.entry(seq).or_default();
            e.0 += 1;
            e.1 = e.1.wrapping_add(mac);
        }
    }

    /// A row as this write leaves it.
    pub(crate) fn written(&mut self, mac: i64) {
        self.n = self.n.wrapping_add(1);
        self.sum = self.sum.wrapping_add(mac.cast_unsigned());
    }

    /// Whether nothing was written.
    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0 && self.prev.is_empty()
    }

    pub(crate) fn finish(self) -> Option<RowsDigest> {
        (!self.is_empty()).then(|| RowsDigest {
            n: self.n,
            sum: self.sum,
            prev: self.prev.into_iter().map(|(s, (n, m))| [s, n, m]).collect(),
        })
    }
}

/// Per event: the rows of one table it wrote that are still current, and their MAC sum, as
/// the chain says (`live`) and as the table holds (`found`).
#[derive(Debug, Default)]
pub(crate) struct Groups {
    live: HashMap<u64, (i64, u64)>,
    found: HashMap<u64, (i64, u64)>,
    /// Events whose digests were replayed, with their kind (for messages).
    kinds: HashMap<u64, &'static str>,
    /// Only events after this one are checked (incremental verify).
    after: u64,
}

impl Groups {
    /// Groups of the events after `after` only (rows sealed by earlier events are skipped).
    pub(crate) fn after(after: u64) -> Groups {
        Groups {
            after,
            ..Groups::default()
        }
    }

    /// Folds the digest of event `seq`.
    pub(crate) fn apply(&mut self, seq: u64, kind: &'static str, d: &RowsDigest) {
        self.kinds.insert(seq, kind);
        let e = self.live.entry(seq).or_default();
        e.0 += i64::try_from(d.n).unwrap_or(i64::MAX);
        e.1 = e.1.wrapping_add(d.sum);
        for [s, n, sum] in &d.prev {
            if *s <= self.after {
                continue;
            }
            let e = self.live.entry(*s).or_default();
            e.0 -= i64::try_from(*n).unwrap_or(i64::MAX);
            e.1 = e.1.wrapping_sub(*sum);
        }
    }

    /// Whether rows sealed by event `seq` are checked.
    pub(crate) fn covers(&self, seq: u64) -> bool {
        seq > self.after
    }

    fn found(&mut self, seq: u64, mac: i64) {
        let e = self.found.entry(seq).or_default();
        e.0 += 1;
        e.1 = e.1.wrapping_add(mac.cast_unsigned());
    }

    /// The first event whose rows the table does not hold as the chain says.
    fn first_mismatch(&self, table: RawTable) -> Option<BrokenLink> {
        let mut seqs: Vec<u64> = self.live.keys().chain(self.found.keys()).copied().collect();
        seqs.sort_unstable();
        seqs.dedup();
        for seq in seqs {
            let live = self.live.get(&seq).copied().unwrap_or_default();
            let found = self.found.get(&seq).copied().unwrap_or_default();
            if live == found {
                continue;
            }
            let kind = self.kinds.get(&seq).copied().unwrap_or("?");
            let what = match found.0.cmp(&live.0) {
                std::cmp::Ordering::Less => {
                    format!(
                        "{} of the {} rows event #{seq} ({kind}) wrote and no later event changed are missing (deleted outside herald)",
                        live.0 - found.0,
                        live.0
                    )
                }
                std::cmp::Ordering::Greater => format!(
                    "{} more rows than the chain records carry the seal of event #{seq} ({kind}): a row was restored from an older copy or copied outside herald",
                    found.0 - live.0
                ),
                std::cmp::Ordering::Equal => format!(
                    "the rows event #{seq} ({kind}) wrote are not the ones it recorded: a row was replaced by an older or altered copy"
                ),
            };
            return Some(BrokenLink {
                seq: Some(seq),
                reason: format!("table `{}`: {what}", table.name()),
            });
        }
        None
    }
}

/// Streams `table` (in storage order; only rows sealed after `after`, and unsealed ones,
/// when given) and checks every
/// row's seal and the per-event groups; returns the rows checked and the first problem.
pub(crate) fn check_table(
    db: &mut dyn Db,
    key: &SealKey,
    table: RawTable,
    groups: &mut Groups,
) -> Result<(u64, Option<BrokenLink>)> {
    let n = sealed_len(table);
    let filter = if groups.after > 0 {
        // Unsealed rows too: nobody but herald seals a row, so one without a seal was
        // inserted (or stripped) behind the chain, whenever that was.
        format!(" WHERE seq > {} OR seq IS NULL", groups.after)
    } else {
        String::new()
    };
    // The ids are read as stored and decoded here: cheaper than `id_unpack` in SQL.
    let sql = format!(
        "SELECT {} FROM {}{filter}",
        table.column_list(),
        table.name()
    );
    let mut rows = 0u64;
    let mut bad: Option<BrokenLink> = None;
    db.each(&sql, &[], &mut |r| {
        rows += 1;
        if bad.is_some() {
            return Ok(());
        }
        let ids = decoded_ids(table, r)?;
        let values = values_with(table, r, &ids)?;
        let (mac, tags) = (r.int(n)?, r.int(n + 1)?);
        let seq = match values[n - 1] {
            V::Int(s) => u64::try_from(s).ok(),
            _ => None,
        };
        let (Some(seq), Some(mac), Some(tags)) = (seq, mac, tags) else {
            let label = row_label(table, &values);
            bad = Some(BrokenLink {
                seq: None,
                reason: format!(
                    "table `{}`: row {label} was never recorded by any event (inserted outside herald: it carries no seal)",
                    table.name()
                ),
            });
            return Ok(());
        };
        if key.mac(table, &values) != mac {
            let label = row_label(table, &values);
            let col = key
                .differing_column(table, &values, tags)
                .map_or_else(
                    || "a column".to_owned(),
                    |i| format!("column `{}`", table.columns()[i].name),
                );
            bad = Some(BrokenLink {
                seq: Some(seq),
                reason: format!(
                    "table `{}`: row {label} {col} differs from what the events recorded (last changed by event #{seq})",
                    table.name()
                ),
            });
            return Ok(());
        }
        if groups.covers(seq) {
            groups.found(seq, mac);
        }
        Ok(())
    })?;
    let broken = bad.or_else(|| groups.first_mismatch(table));
    Ok((rows, broken))
}

fn row_label(table: RawTable, values: &[V<'_>]) -> String {
    let text = |v: &V<'_>| match v {
        V::Text(s) => (*s).to_owned(),
        V::Int(n) => n.to_string(),
        V::Null => String::new(),
    };
    match table {
        RawTable::Sends => format!("{}/{}", text(&values[0]), text(&values[1])),
        _ => text(&values[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::LedgerKey;

    fn key() -> SealKey {
        SealKey::derive(&ChainKey::derive(
            &LedgerKey::from_secret(
                "b3fa433e893fe97f27ae5e0e99bda6c83ba57e4db01c9ee0245f7f512fe3b402",
            )
            .unwrap(),
        ))
    }

    #[test]
    fn a_seal_changes_with_any_column_and_its_tags_name_it() {
        let k = key();
        let row = [
            V::Text("r"),
            V::Text("sms"),
            V::Text("c-1"),
            V::Int(5),
            V::Int(9),
        ];
        let s = k.seal(RawTable::Conversations, &row);
        assert_eq!(s, k.seal(RawTable::Conversations, &row));
        let mut named = 0;
        for i in 0..row.len() {
            let mut edited = row;
            edited[i] = if i == 3 { V::Int(6) } else { V::Null };
            let e = k.seal(RawTable::Conversations, &edited);
            assert_ne!(e.mac, s.mac, "column {i}");
            if k.differing_column(RawTable::Conversations, &edited, s.tags) == Some(i) {
                named += 1;
            }
        }
        // Each tag misses with probability 1/8; these fixed values name at least three.
        assert!(named >= 3, "{named}");
        // Another table, another seal.
        assert_ne!(k.seal(RawTable::Sends, &row).mac, s.mac);
        // Text boundaries are part of the input.
        let a = k.seal(RawTable::Conversations, &[V::Text("ab"), V::Text("c")]);
        let b = k.seal(RawTable::Conversations, &[V::Text("a"), V::Text("bc")]);
        assert_ne!(a.mac, b.mac);
    }

    #[test]
    fn a_digest_takes_rewritten_rows_out_of_their_earlier_event() {
        let mut b = DigestBuilder::new(7);
        b.replaced(Some(3), 10);
        b.written(100);
        b.replaced(Some(7), 100);
        b.written(101);
        b.replaced(None, 5);
        b.written(102);
        let d = b.finish().unwrap();
        assert_eq!((d.n, d.sum), (2, 203));
        assert_eq!(d.prev, vec![[0, 1, 5], [3, 1, 10]]);
        let mut g = Groups::default();
        g.apply(
            3,
            "sends_claimed",
            &RowsDigest {
                n: 2,
                sum: 30,
                prev: vec![],
            },
        );
        g.apply(7, "outcomes_recorded", &d);
        assert_eq!(g.live[&3], (1, 20));
        assert_eq!(g.live[&7], (2, 203));
        assert!(DigestBuilder::new(1).finish().is_none());
    }
}
