//! Waves of a messaging-campaign dispatch (schema 9).
//!
//! Owns: the `waves` table (one row per wave: the Genesys contact list and messaging campaign
//! herald made for it, and how far it got), the hand-off of claimed rows to a wave (state
//! `handed_off`, note `wave N`) and the outcomes read back for them. Every change appends
//! its event in the same transaction: `wave_recorded` for the wave row, `sends_claimed` for
//! the hand-off, `outcomes_recorded` for the outcomes, so `verify` replays all three.
//!
//! Invariants: a wave is created `recorded` and its status only moves forward
//! (`recorded → uploaded → created → started → done`, `stopped` from any state before `done`);
//! rows are handed off only to a `recorded` wave (nothing joins a list already uploaded); a
//! `handed_off` row leaves that state only through [`outcomes_in`](crate::writes) with
//! `from = handed_off`, never through a claim.

use serde::{Deserialize, Serialize};

use crate::chain::Event;
use crate::codec::{corrupt, count, parse_channel, ts};
use crate::error::{LedgerError, Result};
use crate::key::Channel;
use crate::store::{Cells, Db, p};
use crate::writes::{append_event, run_exists};

/// How far a wave got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveStatus {
    /// Its rows are `handed_off` in the ledger; nothing is known to be in Genesys yet.
    Recorded,
    /// Every contact is uploaded to its contact list.
    Uploaded,
    /// Its messaging campaign exists (`off`).
    Created,
    /// Its campaign was switched on: Genesys is messaging the list.
    Started,
    /// Stopped by `herald campaign stop` before it finished.
    Stopped,
    /// Its campaign finished and every outcome was read.
    Done,
}

impl WaveStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Uploaded => "uploaded",
            Self::Created => "created",
            Self::Started => "started",
            Self::Stopped => "stopped",
            Self::Done => "done",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<WaveStatus> {
        [
            Self::Recorded,
            Self::Uploaded,
            Self::Created,
            Self::Started,
            Self::Stopped,
            Self::Done,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }

    /// Whether a wave may move from `self` to `to`.
    pub fn may_become(self, to: WaveStatus) -> bool {
        match (self, to) {
            (Self::Done, _) => to == Self::Done,
            (Self::Stopped, _) => matches!(to, Self::Stopped | Self::Done),
            (_, Self::Stopped) => true,
            _ => to >= self,
        }
    }

    /// Whether Genesys may still message the wave's contacts (its campaign may be `on`).
    pub fn may_be_running(self) -> bool {
        matches!(self, Self::Created | Self::Started)
    }
}

/// One wave, as recorded (the `wave_recorded` event's payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    /// herald campaign.
    pub campaign: String,
    /// Its number within the campaign, from 1.
    pub wave: u32,
    /// The channel its contacts are messaged on.
    pub channel: Channel,
    /// How far it got.
    pub status: WaveStatus,
    /// Contacts handed off to it.
    pub contacts: u64,
    /// The Genesys contact list, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_list_id: Option<String>,
    /// The Genesys messaging campaign, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesys_campaign_id: Option<String>,
}

impl Wave {
    /// The note a handed-off row of this wave carries.
    pub fn note(&self) -> String {
        wave_note(self.wave)
    }
}

/// The note of a row handed off to wave `n`.
pub fn wave_note(n: u32) -> String {
    format!("wave {n}")
}

/// The wave a handed-off row's note names.
pub fn wave_of_note(note: Option<&str>) -> Option<u32> {
    note?.strip_prefix("wave ")?.parse().ok()
}

/// A stored wave with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveRecord {
    /// The wave.
    pub wave: Wave,
    /// The run that last changed it.
    pub run_id: Option<String>,
    /// When it was first recorded.
    pub created_at: jiff::Timestamp,
    /// When it last changed.
    pub updated_at: jiff::Timestamp,
}

pub(crate) const WAVE_COLS: &str = "campaign, wave, channel, status, contacts, contact_list_id, \
     genesys_campaign_id, run_id, created_at, updated_at FROM waves";

pub(crate) fn wave_record(r: &dyn Cells) -> Result<WaveRecord> {
    let status = r.str(3)?;
    Ok(WaveRecord {
        wave: Wave {
            campaign: r.s(0)?,
            wave: u32::try_from(r.i(1)?).map_err(|_| corrupt("wave number", "out of range"))?,
            channel: parse_channel(r.str(2)?)?,
            status: WaveStatus::parse(status).ok_or_else(|| corrupt("wave status", status))?,
            contacts: count(r.i(4)?),
            contact_list_id: r.os(5)?,
            genesys_campaign_id: r.os(6)?,
        },
        run_id: r.os(7)?,
        created_at: ts(r.i(8)?)?,
        updated_at: ts(r.i(9)?)?,
    })
}

pub(crate) fn wave_in(db: &mut dyn Db, campaign: &str, wave: u32) -> Result<Option<WaveRecord>> {
    db.row(
        &format!("SELECT {WAVE_COLS} WHERE campaign = ?1 AND wave = ?2"),
        p![campaign, i64::from(wave)],
        wave_record,
    )
}

pub(crate) fn waves_in(db: &mut dyn Db, campaign: Option<&str>) -> Result<Vec<WaveRecord>> {
    db.rows(
        &format!(
            "SELECT {WAVE_COLS} WHERE CAST(?1 AS TEXT) IS NULL OR campaign = CAST(?1 AS TEXT) \
             ORDER BY campaign, wave"
        ),
        p![campaign],
        wave_record,
    )
}

/// Records a wave (new: status `recorded`; existing: a forward status change and the ids
/// Genesys gave), with its `wave_recorded` event.
pub(crate) fn record_wave_in(db: &mut dyn Db, at: i64, run_id: &str, w: &Wave) -> Result<()> {
    run_exists(db, run_id)?;
    let refuse = |why: String| {
        Err(LedgerError::Refused(format!(
            "wave {} of campaign {}: {why}",
            w.wave, w.campaign
        )))
    };
    let n = i64::from(w.wave);
    let contacts = i64::try_from(w.contacts).unwrap_or(i64::MAX);
    match wave_in(db, &w.campaign, w.wave)? {
        None => {
            if w.status != WaveStatus::Recorded {
                return refuse(format!(
                    "a new wave starts `recorded`, not `{}`",
                    w.status.as_str()
                ));
            }
            db.execute(
                "INSERT INTO waves (campaign, wave, channel, status, contacts, contact_list_id, \
                 genesys_campaign_id, run_id, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                p![
                    &w.campaign,
                    n,
                    w.channel.as_str(),
                    w.status.as_str(),
                    contacts,
                    &w.contact_list_id,
                    &w.genesys_campaign_id,
                    run_id,
                    at
                ],
            )?;
        }
        Some(old) => {
            if !old.wave.status.may_become(w.status) {
                return refuse(format!(
                    "cannot go from `{}` to `{}`",
                    old.wave.status.as_str(),
                    w.status.as_str()
                ));
            }
            if old.wave.channel != w.channel {
                return refuse("its channel cannot change".into());
            }
            for (was, now, what) in [
                (
                    &old.wave.contact_list_id,
                    &w.contact_list_id,
                    "contact list",
                ),
                (
                    &old.wave.genesys_campaign_id,
                    &w.genesys_campaign_id,
                    "messaging campaign",
                ),
            ] {
                if was.is_some() && was != now {
                    return refuse(format!("its {what} id cannot change once recorded"));
                }
            }
            db.execute(
                "UPDATE waves SET status = ?3, contacts = ?4, contact_list_id = ?5, \
                 genesys_campaign_id = ?6, run_id = ?7, updated_at = ?8 \
                 WHERE campaign = ?1 AND wave = ?2",
                p![
                    &w.campaign,
                    n,
                    w.status.as_str(),
                    contacts,
                    &w.contact_list_id,
                    &w.genesys_campaign_id,
                    run_id,
                    at
                ],
            )?;
        }
    }
    append_event(
        db,
        at,
        &Event::WaveRecorded {
            run_id: run_id.to_owned(),
            wave: w.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward_and_stop_before_done() {
        use WaveStatus::*;
        assert!(Recorded.may_become(Uploaded));
        assert!(Uploaded.may_become(Started));
        assert!(!Started.may_become(Created));
        assert!(!Created.may_become(Recorded));
        assert!(Started.may_become(Stopped));
        assert!(Stopped.may_become(Done));
        assert!(
            !Stopped.may_become(Started),
            "a stopped wave is never restarted"
        );
        assert!(
            !Done.may_become(Started),
            "a finished wave is never switched on again"
        );
        assert!(!Done.may_become(Stopped));
        for s in [Recorded, Uploaded, Created, Started, Stopped, Done] {
            assert_eq!(WaveStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_wave_note_names_its_wave() {
        assert_eq!(wave_of_note(Some(&wave_note(12))), Some(12));
        assert_eq!(wave_of_note(Some("frequency cap")), None);
        assert_eq!(wave_of_note(None), None);
    }
}
