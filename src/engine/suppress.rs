//! The suppression list: addresses parsed and turned into keyed-hash suppressions, address
//! files read, and `suppress push` (suppressed numbers sent to a Genesys DNC list).
//! Addresses are stored only as keyed hashes plus masks.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::bail;
use herald_ledger::{Ledger, LedgerKey, Suppression};

use crate::audience::{AudienceReader, RowBuf};
use crate::messages::Address;
use crate::settings::EnvSettings;
use crate::spec::{Channel, E164, Email};

/// Parses an address as a phone (leading `+`) or an email (contains `@`).
pub(crate) fn parse_address(raw: &str) -> Result<Address, String> {
    let raw = raw.trim();
    if raw.contains('@') {
        Email::parse(raw).map(Address::Email)
    } else {
        E164::parse(raw).map(Address::Phone)
    }
}

/// The suppression of an address (keyed hash plus mask).
pub(crate) fn suppression(
    key: &LedgerKey,
    a: &Address,
    channel: Option<Channel>,
    reason: &str,
    source: &str,
) -> Suppression {
    Suppression {
        recipient: key.recipient_id(a.channel(), &a.normalized()),
        masked: a.masked(),
        channel,
        reason: reason.to_owned(),
        source: source.to_owned(),
    }
}

/// An address file with invalid lines; nothing of it is used.
#[derive(Debug)]
pub(crate) struct BadAddresses {
    /// The file.
    pub(crate) file: PathBuf,
    /// "line N: why", in file order.
    pub(crate) lines: Vec<String>,
}

impl fmt::Display for BadAddresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} invalid address{} in {}; nothing was imported or pushed",
            self.lines.len(),
            if self.lines.len() == 1 { "" } else { "es" },
            self.file.display()
        )
    }
}

impl std::error::Error for BadAddresses {}

/// Reads a file of addresses: one per line, or a CSV whose header names a `phone`, `email` or
/// `address` column. Any invalid line fails the whole file with [`BadAddresses`].
pub(crate) fn read_address_file(file: &Path) -> anyhow::Result<Vec<Address>> {
    let text = fs_err::read_to_string(file)?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    // A CSV header names the address column; otherwise every line is an address.
    let mut column = None;
    if let Some((_, first)) = lines.peek() {
        let header: Vec<String> = first.split(',').map(|h| h.trim().to_lowercase()).collect();
        if let Some(i) = header
            .iter()
            .position(|h| matches!(h.as_str(), "phone" | "email" | "address"))
        {
            column = Some(i);
            lines.next();
        } else if header.len() > 1 || (!first.contains('@') && !first.trim_start().starts_with('+'))
        {
            bail!(
                "{}: no `phone`, `email` or `address` column in the header",
                file.display()
            );
        }
    }
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in lines {
        let field = match column {
            Some(c) => line.split(',').nth(c).unwrap_or(""),
            None => line,
        };
        match parse_address(field) {
            Ok(a) => out.push(a),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    if !bad.is_empty() {
        return Err(BadAddresses {
            file: file.to_owned(),
            lines: bad,
        }
        .into());
    }
    Ok(out)
}

/// Every parseable phone number in the address column of the workspace's audiences, and a
/// warning for each audience that could not be read.
fn audience_phones(ws: &crate::spec::model::Workspace) -> (Vec<E164>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for audience in ws.audiences.values() {
        let columns = [audience.address.clone()];
        let (mut reader, missing) = match AudienceReader::open(audience, &columns) {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("audience `{}` skipped: {e}", audience.name));
                continue;
            }
        };
        if !missing.is_empty() {
            warnings.push(format!(
                "audience `{}` skipped: no `{}` column",
                audience.name, audience.address
            ));
            continue;
        }
        let mut buf = RowBuf::default();
        while let Some(row) = reader.next_row(&mut buf) {
            if row.is_err() {
                continue;
            }
            if let Some(Some(raw)) = buf.values.first()
                && let Ok(phone) = E164::parse(raw.trim())
            {
                out.push(phone);
            }
        }
    }
    (out, warnings)
}

/// The numbers `suppress push` would send: the candidates whose keyed hash is suppressed
/// for SMS.
#[derive(Debug, Default)]
pub(crate) struct PushSelection {
    /// Candidate numbers given (deduplicated).
    pub(crate) candidates: usize,
    /// The suppressed candidates, normalised (E.164), to push.
    pub(crate) numbers: Vec<String>,
    /// Numbers suppressed for SMS that are not among the candidates (cannot be pushed: the
    /// ledger keeps no addresses).
    pub(crate) unmatched: usize,
    /// Audiences that could not be read for candidates.
    pub(crate) warnings: Vec<String>,
}

/// Selects the numbers to push: candidates from `files` and (with `from_audiences`) the
/// workspace's audiences, kept when suppressed for SMS.
pub(crate) fn select_push(
    ws: &crate::spec::model::Workspace,
    key: &LedgerKey,
    ledger: &dyn Ledger,
    files: &[PathBuf],
    from_audiences: bool,
) -> anyhow::Result<PushSelection> {
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for file in files {
        for a in read_address_file(file)? {
            if matches!(a, Address::Phone(_)) {
                candidates.insert(a.normalized());
            }
        }
    }
    let mut warnings = Vec::new();
    if from_audiences {
        let (phones, w) = audience_phones(ws);
        warnings = w;
        for p in phones {
            candidates.insert(Address::Phone(p).normalized());
        }
    }
    let mut numbers = Vec::new();
    let mut matched = HashSet::new();
    for n in &candidates {
        let id = key.recipient_id(Channel::Sms, n);
        if ledger.is_suppressed(&id, Channel::Sms)? {
            matched.insert(id);
            numbers.push(n.clone());
        }
    }
    let sms_suppressed: HashSet<_> = ledger
        .suppressions()?
        .into_iter()
        .filter(|r| {
            let s = &r.suppression;
            s.channel.unwrap_or_else(|| Channel::of_address(&s.masked)) == Channel::Sms
        })
        .map(|r| r.suppression.recipient)
        .collect();
    Ok(PushSelection {
        candidates: candidates.len(),
        numbers,
        unmatched: sms_suppressed.difference(&matched).count(),
        warnings,
    })
}

/// A DNC list that received numbers.
#[derive(Debug)]
pub(crate) struct Pushed {
    /// Its id.
    pub(crate) list_id: String,
    /// Whether this push created it.
    pub(crate) created: bool,
}

/// Appends `numbers` to the internal DNC list `list` (created when absent).
pub(crate) fn push_to_dnc(
    settings: &EnvSettings,
    list: &str,
    numbers: &[String],
) -> anyhow::Result<Pushed> {
    let rt = super::runtime()?;
    let remote = rt.block_on(crate::remote::connect(settings))?;
    let result: anyhow::Result<Pushed> = rt.block_on(async {
        let lists = remote.client.list_dnc_lists().await?;
        let existing = lists.into_iter().find(|l| l.name == list);
        let (dnc, created) = match existing {
            Some(l) => (l, false),
            None => (remote.client.create_dnc_list(list).await?, true),
        };
        if dnc.dnc_source_type.as_deref().is_some_and(|t| t != "rds") {
            bail!(
                "DNC list `{list}` is not an internal (rds) list; Genesys accepts appended numbers only on internal lists"
            );
        }
        remote.client.add_dnc_phone_numbers(&dnc.id, numbers).await?;
        Ok(Pushed {
            list_id: dnc.id,
            created,
        })
    });
    rt.block_on(remote.shutdown());
    result
}
