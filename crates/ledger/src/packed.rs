//! Keyed ids stored as bytes (schema 12): the physical form of the id columns of the two
//! tables that grow with every send.
//!
//! Owns: the encoding of an id string into bytes ([`pack`]) and back ([`unpack`]), which
//! columns are stored that way ([`is_packed`]), the SQL expressions that read and write them
//! ([`select_list`], [`insert_value`]) and the SQLite functions `id_pack` / `id_unpack` (the
//! PostgreSQL ones are SQL functions made by migration 12, with the same results).
//!
//! How it decides. The first byte names the form, the rest is the value:
//! `0x02` + 32 bytes: 64 lowercase hex digits (a recipient id); `0x03` + 32 bytes:
//! `sha256:` and 64 lowercase hex digits (a template hash); `0x01` + 16 bytes: a UUID in its
//! canonical lowercase hyphenated spelling (message and conversation ids); `0x00` + the UTF-8
//! bytes: anything else, verbatim. So every string round-trips exactly (an uppercase UUID is
//! stored verbatim, never re-spelt). Bytes of an unknown form read back as `unreadable:` and
//! their hex, which no seal matches: verify names the row. Everything above the SQL speaks
//! the strings; seals are computed over the strings, so packing changes no MAC.

use crate::error::{LedgerError, Result};
use crate::raw::RawTable;
use crate::store::Cells;

const VERBATIM: u8 = 0;
const UUID: u8 = 1;
const HEX32: u8 = 2;
const SHA256: u8 = 3;
const SHA256_PREFIX: &str = "sha256:";

/// Whether `table.column` is stored packed.
pub(crate) fn is_packed(table: RawTable, column: &str) -> bool {
    match table {
        RawTable::Sends => matches!(
            column,
            "recipient" | "template_hash" | "message_id" | "conversation_id"
        ),
        RawTable::Conversations => matches!(column, "recipient" | "conversation_id"),
        _ => false,
    }
}

/// The `SELECT` list of `table` that reads every column as its string (packed columns through
/// `id_unpack`), in [`RawTable::columns`] order.
pub(crate) fn select_list(table: RawTable) -> String {
    table
        .columns()
        .iter()
        .map(|c| {
            if is_packed(table, c.name) {
                format!("id_unpack({0}) AS {0}", c.name)
            } else {
                c.name.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `VALUES` entry for parameter `n` of `table.column`.
pub(crate) fn insert_value(table: RawTable, column: &str, n: usize) -> String {
    if is_packed(table, column) {
        format!("id_pack(?{n})")
    } else {
        format!("?{n}")
    }
}

fn is_lower_hex(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex_bytes(s: &str, out: &mut Vec<u8>) {
    for pair in s.as_bytes().chunks(2) {
        let v = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        };
        out.push((v(pair[0]) << 4) | v(pair[1]));
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => is_lower_hex(&[*c]),
        })
}

/// The stored bytes of `s`.
pub(crate) fn pack(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    if b.len() == 64 && is_lower_hex(b) {
        let mut out = Vec::with_capacity(33);
        out.push(HEX32);
        hex_bytes(s, &mut out);
        return out;
    }
    if let Some(h) = s.strip_prefix(SHA256_PREFIX)
        && h.len() == 64
        && is_lower_hex(h.as_bytes())
    {
        let mut out = Vec::with_capacity(33);
        out.push(SHA256);
        hex_bytes(h, &mut out);
        return out;
    }
    if is_uuid(s) {
        let mut out = Vec::with_capacity(17);
        out.push(UUID);
        hex_bytes(&s.replace('-', ""), &mut out);
        return out;
    }
    let mut out = Vec::with_capacity(b.len() + 1);
    out.push(VERBATIM);
    out.extend_from_slice(b);
    out
}

/// The string stored as `b` (`unreadable:` and the hex of `b` when `b` is no packed form).
pub(crate) fn unpack(b: &[u8]) -> String {
    let unreadable = || format!("unreadable:{}", hex::encode(b));
    match b.split_first() {
        Some((&HEX32, rest)) => hex::encode(rest),
        Some((&SHA256, rest)) => format!("{SHA256_PREFIX}{}", hex::encode(rest)),
        Some((&UUID, rest)) if rest.len() == 16 => {
            let h = hex::encode(rest);
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        }
        Some((&VERBATIM, rest)) => {
            std::str::from_utf8(rest).map_or_else(|_| unreadable(), str::to_owned)
        }
        _ => unreadable(),
    }
}

/// A recipient id read from a packed column (its 32 bytes; any other form is decoded and
/// parsed as hex, so a tampered value is reported, not misread).
pub(crate) fn recipient_cell(r: &dyn Cells, i: usize) -> Result<[u8; 32]> {
    let malformed = || LedgerError::Corrupt("malformed recipient id".into());
    match r.blob(i)? {
        Some([HEX32, rest @ ..]) if rest.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(rest);
            Ok(out)
        }
        Some(b) => crate::key::recipient_bytes(&unpack(b)).ok_or_else(malformed),
        None => crate::key::recipient_bytes(r.str(i)?).ok_or_else(malformed),
    }
}

/// Registers `id_pack(text)` and `id_unpack(blob)` on a SQLite connection (both map NULL to
/// NULL; `id_unpack` of a text value returns it as is, `id_pack` of a blob likewise).
pub(crate) fn register_sqlite(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::{Value, ValueRef};
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("id_pack", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => Value::Null,
            ValueRef::Text(t) => Value::Blob(pack(&String::from_utf8_lossy(t))),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            ValueRef::Integer(n) => Value::Blob(pack(&n.to_string())),
            ValueRef::Real(f) => Value::Blob(pack(&f.to_string())),
        })
    })?;
    conn.create_scalar_function("id_unpack", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => Value::Null,
            ValueRef::Blob(b) => Value::Text(unpack(b)),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Integer(n) => Value::Text(n.to_string()),
            ValueRef::Real(f) => Value::Text(f.to_string()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips_and_is_smaller_where_it_can_be() {
        let recipient = "9f2c1e0d4b7a6c5e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";
        let template = format!("sha256:{recipient}");
        let uuid = "4e7a11ce-0000-4000-8000-00000000002a";
        for (s, len) in [
            (recipient, 33),
            (template.as_str(), 33),
            (uuid, 17),
            // Not canonical: verbatim, one byte longer than the string.
            ("4E7A11CE-0000-4000-8000-00000000002A", 37),
            ("4e7a11ce00004000800000000000002a", 33),
            ("conv-m0", 8),
            ("m-1", 4),
            ("", 1),
            ("v1:aaaa", 8),
            ("sha256:9F2C", 12),
            ("ünïcødé-id", 1 + "ünïcødé-id".len()),
        ] {
            let b = pack(s);
            assert_eq!(b.len(), len, "{s}");
            assert_eq!(unpack(&b), s, "{s}");
        }
    }

    #[test]
    fn bytes_of_no_form_read_as_unreadable() {
        assert_eq!(unpack(&[]), "unreadable:");
        assert_eq!(unpack(&[9, 1]), "unreadable:0901");
        assert_eq!(unpack(&[UUID, 1, 2]), "unreadable:010102");
        assert_eq!(unpack(&[VERBATIM, 0xff]), "unreadable:00ff");
    }

    #[test]
    fn packing_keeps_the_order_of_recipient_ids() {
        let a = "0".repeat(63) + "f";
        let b = "1".to_owned() + &"0".repeat(63);
        assert!(a < b);
        assert!(pack(&a) < pack(&b));
    }
}
