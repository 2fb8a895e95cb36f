//! Whole-workspace validation: the loader's checks plus the checks that need audience data
//! (streamed, row by row). Row diagnostics name the data file and line, never the address or
//! values; at most [`MAX_ROW_DIAGNOSTICS`] are listed per campaign and code, then a count.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic, Pos, Severity};
use crate::load::Loaded;
use crate::recipients::{CampaignRows, Message, Row, SkipReason};
use crate::spec::model::{Campaign, Workspace};
use crate::text::Encoding;

/// Row diagnostics listed per campaign and code before the rest are counted.
pub const MAX_ROW_DIAGNOSTICS: usize = 5;

/// Per-campaign statistics gathered while validating.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CampaignStats {
    /// Rows read.
    pub rows: u64,
    /// Rows ready to send.
    pub ready: u64,
    /// Skipped rows by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// SMS: encodings seen.
    pub encodings: BTreeMap<String, u64>,
    /// SMS: most segments of any message.
    pub max_segments: usize,
    /// SMS: total segments.
    pub total_segments: u64,
}

fn severity(reason: SkipReason) -> Option<(Code, Severity)> {
    match reason {
        SkipReason::NoConsent | SkipReason::DuplicateAddress => None,
        SkipReason::InvalidRow => Some((Code::H164, Severity::Warning)),
        SkipReason::InvalidAddress => Some((Code::H160, Severity::Warning)),
        SkipReason::RenderError => Some((Code::H151, Severity::Warning)),
        SkipReason::CardNumber => Some((Code::H152, Severity::Error)),
        SkipReason::DuplicateKey => Some((Code::H162, Severity::Error)),
    }
}

/// Runs the data checks for every campaign, appending diagnostics to `loaded`.
pub fn check_data(loaded: &mut Loaded) -> BTreeMap<String, CampaignStats> {
    let mut stats = BTreeMap::new();
    let mut diags = Vec::new();
    for campaign in loaded.workspace.campaigns.values() {
        if let Some(st) = scan_campaign(&loaded.workspace, campaign, &mut diags, None, |_| {}) {
            stats.insert(campaign.name.to_string(), st);
        }
    }
    loaded.diagnostics.extend(diags);
    stats
}

/// Streams one campaign's audience once: every row is classified (rows `known` says are
/// final in the ledger are not rendered again), handed to `visit`, and
/// problems become diagnostics (appended to `diags`). `None` when the audience cannot be read
/// or lacks columns (reported as diagnostics).
pub fn scan_campaign(
    ws: &Workspace,
    campaign: &Campaign,
    diags: &mut Vec<Diagnostic>,
    known: Option<&dyn Fn(&str) -> bool>,
    mut visit: impl FnMut(&Row),
) -> Option<CampaignStats> {
    let audience = &ws.audiences[&campaign.audience];
    let template = &ws.templates[&campaign.template];
    let data = audience.source_display.as_str();
    let (mut rows, missing) = match CampaignRows::open(ws, campaign) {
        Ok((rows, missing)) => match known {
            Some(k) => (rows.skip_known(k), missing),
            None => (rows, missing),
        },
        Err(e) => {
            diags.push(Diagnostic::error(Code::H001, data, e.pos(), e.to_string()));
            return None;
        }
    };
    if !missing.is_empty() {
        for col in &missing {
            diags.push(
                Diagnostic::error(Code::H163, data, Some(Pos { line: 1, column: 1 }), format!("column `{col}` is not in the header"))
                    .related(&campaign.origin.file, campaign.origin.pos, format!("campaign `{}` needs it", campaign.name))
                    .help("fix the column name in the audience or campaign, or add the column to the data"),
            );
        }
        return None;
    }
    let mut st = CampaignStats::default();
    let mut per_code: BTreeMap<Code, usize> = BTreeMap::new();
    let line_pos = |line: u64| {
        Some(Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: 1,
        })
    };
    for row in rows.by_ref() {
        st.rows += 1;
        visit(&row);
        match &row {
            Row::Ready(r) => {
                st.ready += 1;
                if let Message::Sms { info, .. } = &r.message {
                    *st.encodings.entry(info.encoding.to_string()).or_default() += 1;
                    st.max_segments = st.max_segments.max(info.segments);
                    st.total_segments += info.segments as u64;
                }
            }
            Row::Known { .. } => {}
            Row::Skipped(s) => {
                *st.skipped.entry(s.reason).or_default() += 1;
                let Some((code, sev)) = severity(s.reason) else {
                    continue;
                };
                let n = per_code.entry(code).or_default();
                *n += 1;
                if *n > MAX_ROW_DIAGNOSTICS {
                    continue;
                }
                let mut d = Diagnostic::error(code, data, line_pos(s.line), s.message.clone())
                    .note(format!("campaign `{}`", campaign.name));
                d.severity = sev;
                if let Some(first) = s.first_line {
                    d = d.related(data, line_pos(first), "first seen here");
                }
                if s.reason == SkipReason::InvalidAddress
                    && template.channel == crate::spec::Channel::Sms
                {
                    d = d.help("audiences hold E.164 numbers: `+` country code and number, no spaces (e.g. +14155552671)");
                }
                diags.push(d);
            }
        }
    }
    for note in std::mem::take(&mut rows.notes)
        .into_iter()
        .take(MAX_ROW_DIAGNOSTICS)
    {
        diags.push(Diagnostic::warning(
            note.code,
            data,
            line_pos(note.line),
            note.message,
        ));
    }
    for (code, n) in per_code {
        if n > MAX_ROW_DIAGNOSTICS {
            let sev = diags
                .iter()
                .rev()
                .find(|d| d.code == code)
                .map_or(Severity::Warning, |d| d.severity);
            let mut d = Diagnostic::warning(
                code,
                data,
                None,
                format!(
                    "… and {} more rows with {code:?} in campaign `{}`",
                    n - MAX_ROW_DIAGNOSTICS,
                    campaign.name
                ),
            );
            d.severity = sev;
            diags.push(d);
        }
    }
    Some(st)
}

/// A one-line description of a stats entry's SMS cost.
pub fn describe_sms(st: &CampaignStats) -> String {
    if st.encodings.is_empty() {
        return String::new();
    }
    let enc = if st.encodings.contains_key(&Encoding::Ucs2.to_string()) {
        "UCS-2"
    } else {
        "GSM-7"
    };
    format!(
        "{enc}, up to {} segment{} per message, {} segments in all",
        st.max_segments,
        if st.max_segments == 1 { "" } else { "s" },
        st.total_segments
    )
}
