//! Whole-workspace validation: the loader's checks plus the checks that need audience data
//! (streamed, row by row). Row diagnostics name the data file and line, never the address or
//! values; at most [`MAX_ROW_DIAGNOSTICS`] are listed per campaign and code, then a count.

use std::collections::BTreeMap;

use crate::audience::CampaignRows;
use crate::diag::{Code, Diagnostic, Pos, Severity};
use crate::load::Loaded;
use crate::messages::{Message, Note, Row, SkipReason};
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
        // Listed (row warnings, H166's family): a counsel reads why each row is not sent.
        SkipReason::NoConsentEvidence | SkipReason::ConsentExpired => {
            Some((Code::H166, Severity::Warning))
        }
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
    let rows = open_rows(ws, campaign, false, diags)?;
    let mut rows = match known {
        Some(k) => rows.skip_known(k),
        None => rows,
    };
    let mut checker = RowChecker::new(ws, campaign);
    for row in rows.by_ref() {
        visit(&row);
        checker.visit(&row);
    }
    Some(checker.finish(rows.take_notes(), diags))
}

/// Opens one campaign's rows (with `seal`, sealing the file as it streams). `None` when the
/// audience cannot be read or lacks columns (reported as diagnostics, appended to `diags`).
pub fn open_rows<'w>(
    ws: &'w Workspace,
    campaign: &'w Campaign,
    seal: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<CampaignRows<'w>> {
    let audience = &ws.audiences[&campaign.audience];
    let data = audience.source_display.as_str();
    let opened = if seal {
        CampaignRows::open_sealing(ws, campaign)
    } else {
        CampaignRows::open(ws, campaign)
    };
    let (rows, missing) = match opened {
        Ok(opened) => opened,
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
    Some(rows)
}

fn line_pos(line: u64) -> Pos {
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: 1,
    }
}

/// Turns a campaign's classified rows into statistics and row diagnostics, one row at a time
/// (so the same pass can also plan or send).
pub struct RowChecker<'w> {
    campaign: &'w Campaign,
    channel: crate::spec::Channel,
    data: &'w str,
    stats: CampaignStats,
    per_code: BTreeMap<Code, usize>,
    diags: Vec<Diagnostic>,
}

impl<'w> RowChecker<'w> {
    /// A checker for `campaign`.
    pub fn new(ws: &'w Workspace, campaign: &'w Campaign) -> Self {
        Self {
            campaign,
            channel: ws.templates[&campaign.template].channel,
            data: ws.audiences[&campaign.audience].source_display.as_str(),
            stats: CampaignStats::default(),
            per_code: BTreeMap::new(),
            diags: Vec::new(),
        }
    }

    /// Counts one row and records its diagnostic, if any.
    pub fn visit(&mut self, row: &Row) {
        let st = &mut self.stats;
        st.rows += 1;
        match row {
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
                    return;
                };
                let (code, sev) = if s.reason == SkipReason::InvalidRow
                    && s.message.starts_with(crate::messages::HIDDEN_KEY)
                {
                    (Code::H153, Severity::Error)
                } else {
                    (code, sev)
                };
                let n = self.per_code.entry(code).or_default();
                *n += 1;
                if *n > MAX_ROW_DIAGNOSTICS {
                    return;
                }
                let data = self.data;
                let mut d =
                    Diagnostic::error(code, data, Some(line_pos(s.line)), s.message.clone())
                        .note(format!("campaign `{}`", self.campaign.name));
                d.severity = sev;
                if let Some(first) = s.first_line {
                    d = d.related(data, Some(line_pos(first)), "first seen here");
                }
                if s.reason == SkipReason::InvalidAddress
                    && self.channel == crate::spec::Channel::Sms
                {
                    d = d.help("audiences hold E.164 numbers: `+` country code and number, no spaces (e.g. +14155552671)");
                }
                self.diags.push(d);
            }
        }
    }

    /// Appends the diagnostics (row diagnostics, then the stream's `notes`, then the counts of
    /// rows not listed) to `diags` and returns the statistics.
    pub fn finish(self, notes: Vec<Note>, diags: &mut Vec<Diagnostic>) -> CampaignStats {
        let data = self.data;
        diags.extend(self.diags);
        for note in notes.into_iter().take(MAX_ROW_DIAGNOSTICS) {
            diags.push(Diagnostic::warning(
                note.code,
                data,
                Some(line_pos(note.line)),
                note.message,
            ));
        }
        for (code, n) in self.per_code {
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
                        self.campaign.name
                    ),
                );
                d.severity = sev;
                diags.push(d);
            }
        }
        self.stats
    }
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
