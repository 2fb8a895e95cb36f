//! A campaign's audience as a stream of classified rows: the reader feeds each row's values to
//! the campaign's [`RowClassifier`].

use super::{AudienceError, AudienceReader, AudienceSeal, RowBuf, RowError, SealCheck};
use crate::messages::{Note, Row, RowClassifier};
use crate::spec::ContentHash;
use crate::spec::model::{Audience, Campaign, Workspace};

/// Streams one campaign's rows.
pub struct CampaignRows<'w> {
    classifier: RowClassifier<'w>,
    reader: AudienceReader,
    buf: RowBuf,
}

impl<'w> CampaignRows<'w> {
    /// Opens the campaign's audience. Returns the stream and the columns the data lacks.
    pub fn open(
        ws: &'w Workspace,
        campaign: &'w Campaign,
    ) -> Result<(Self, Vec<String>), AudienceError> {
        Self::open_with(ws, campaign, AudienceReader::open)
    }

    /// [`Self::open`], sealing the file as it streams (see [`Self::seal`]).
    pub fn open_sealing(
        ws: &'w Workspace,
        campaign: &'w Campaign,
    ) -> Result<(Self, Vec<String>), AudienceError> {
        Self::open_with(ws, campaign, AudienceReader::open_sealing)
    }

    /// [`Self::open`] for a file an earlier pass sealed: rows come only from blocks that
    /// match the seal; when one does not, the stream ends with a row error and `check` says
    /// the file changed.
    pub fn open_checked(
        ws: &'w Workspace,
        campaign: &'w Campaign,
        check: &SealCheck,
    ) -> Result<(Self, Vec<String>), AudienceError> {
        Self::open_with(ws, campaign, |audience, columns| {
            AudienceReader::open_checked(audience, columns, check)
        })
    }

    fn open_with(
        ws: &'w Workspace,
        campaign: &'w Campaign,
        open: impl FnOnce(&Audience, &[String]) -> Result<(AudienceReader, Vec<String>), AudienceError>,
    ) -> Result<(Self, Vec<String>), AudienceError> {
        let classifier = RowClassifier::new(ws, campaign);
        let audience = &ws.audiences[&campaign.audience];
        let (reader, missing) = open(audience, classifier.columns())?;
        Ok((
            Self {
                classifier,
                reader,
                buf: RowBuf::default(),
            },
            missing,
        ))
    }

    /// See [`RowClassifier::skip_known`].
    #[must_use]
    pub fn skip_known(mut self, is_known: impl Fn(&str) -> bool + 'w) -> Self {
        self.classifier = self.classifier.skip_known(is_known);
        self
    }

    /// Takes the non-fatal notes about kept rows gathered so far.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.classifier.notes)
    }

    /// SHA-256 of the audience file, hashed while its rows streamed (the rest of the file is
    /// read first). `None` when it cannot be read to its end.
    pub fn content_hash(&mut self) -> Option<ContentHash> {
        self.reader.content_hash()
    }

    /// The file's seal, for a stream opened with [`Self::open_sealing`] (the rest of the file
    /// is read first). `None` when it cannot be read to its end.
    pub fn seal(&mut self) -> Option<AudienceSeal> {
        self.reader.seal()
    }
}

impl Iterator for CampaignRows<'_> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        match self.reader.next_row(&mut self.buf)? {
            Ok(()) => Some(self.classifier.classify(self.buf.line, &self.buf.values)),
            Err(RowError { line, message }) => Some(RowClassifier::invalid(line, message)),
        }
    }
}
