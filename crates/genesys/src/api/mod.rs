//! The typed Genesys Cloud API, one module per API area, as `impl GenesysClient` blocks.
//!
//! Owns the paths, query parameters and request classes of each operation (so the retry rules
//! in `client` apply correctly). Invariants: paths are the real Genesys ones
//! (reference/genesys-api.md); path segments taken from callers are percent-encoded.

mod analytics;
mod campaigns;
mod messaging;
mod organization;
mod outbound;
mod responses;
mod setup;

pub use campaigns::{
    CONTACTS_PER_REQUEST, CampaignProgress, ContactList, ContactListDraft, ContactOutcome,
    DialerContact, EmailColumn, EmailConfig, FromEmailAddress, MessageEvaluation,
    MessagingCampaign, PhoneColumn, SmsConfig, SmsPhoneNumberRef, WritableContact, classify_wrapup,
};
pub use setup::{
    NamedEntity, OrgLimit, OutboundDomain, RoleDivision, SmsPhoneNumber, TokenClient, TokenInfo,
};

use std::fmt::Write as _;

/// Percent-encodes a caller-supplied id for use as one path segment.
pub(crate) fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(super::seg("abc-123_x.y~"), "abc-123_x.y~");
        assert_eq!(super::seg("a/b c?"), "a%2Fb%20c%3F");
    }
}
