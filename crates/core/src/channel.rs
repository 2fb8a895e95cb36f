//! The channels herald sends on: one type for the workspace, the plan, the ledger and the CLI.
//!
//! Adding a channel means adding its variant here; every `match` on [`Channel`] is exhaustive,
//! so the compiler lists each place that must learn it (its address rule and masking here, its
//! renderer and checks in `text`, its wire adapter in the executor, its page in the preview).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Message channel.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// SMS through the agentless messages API.
    Sms,
    /// Email through the agentless email API.
    Email,
}

impl Channel {
    /// Every channel, in display order.
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Email];

    /// The stored and displayed spelling: `sms` or `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The channel's name in prose and help text.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sms => "SMS",
            Self::Email => "Email",
        }
    }

    /// An address of this channel, masked for output (never the full number or address).
    pub fn mask(self, address: &str) -> String {
        match self {
            Self::Sms => crate::spec::mask_phone(address),
            Self::Email => crate::spec::mask_email(address),
        }
    }

    /// The channel an address (or its mask) belongs to: an email address has an `@` (its
    /// mask keeps it, or is `***`); anything else is a phone number.
    pub fn of_address(address: &str) -> Channel {
        if address.contains('@') || address == "***" {
            Self::Email
        } else {
            Self::Sms
        }
    }

    /// Whether state telephone-solicitation statutes (quiet hours, daily caps, see
    /// `docs/compliance.md`) reach messages on this channel: they reach calls and texts, not
    /// email.
    pub fn state_telemarketing_laws_apply(self) -> bool {
        match self {
            Self::Sms => true,
            Self::Email => false,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spelling that names no channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownChannel(pub String);

impl fmt::Display for UnknownChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        write!(
            f,
            "unknown channel `{}` (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownChannel {}

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::parse(s).ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_round_trips_through_its_spelling_and_serde() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Channel>(&json).unwrap(), c);
        }
        assert_eq!(
            "fax".parse::<Channel>().unwrap_err().to_string(),
            "unknown channel `fax` (expected one of: sms, email)"
        );
    }

    #[test]
    fn masking_follows_the_channel_not_the_shape_of_the_address() {
        assert_eq!(Channel::Sms.mask("+15550100100"), "+1******0100");
        assert_eq!(Channel::Email.mask("jane@example.com"), "j***@example.com");
        // An email address that happens to start with `+` is still an email address.
        assert_eq!(Channel::Email.mask("+tag@example.com"), "+***@example.com");
    }
}
