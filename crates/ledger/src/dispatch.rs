//! What names a dispatched send: the handle a sender gets back for it, recorded with the
//! `sent` row so that receipts and reconcile can find it again.

use serde::{Deserialize, Serialize};

/// How a dispatched send is named by the service that took it.
///
/// An agentless send is named by its message id (stored in `message_id`, where receipts
/// and reconcile find it). A send handed to a messaging campaign is a contact of its wave's
/// contact list, named by its contact id: a keyed id of (campaign, row key) that is derived
/// again whenever needed ([`crate::LedgerKey::contact_id`]), so it is not stored; the row's
/// note names its wave (`wave N`), and the wave's row names the contact list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "handle", rename_all = "snake_case")]
pub enum DispatchHandle {
    /// One message sent on its own: the service's message id and, when it gave one, the
    /// conversation the message belongs to.
    MessageId {
        /// Genesys message id.
        message_id: String,
        /// Genesys conversation id.
        conversation_id: Option<String>,
    },
    /// A contact of a messaging campaign's contact list, messaged by Genesys.
    Contact {
        /// The contact id (derived; not stored with the send).
        contact_id: String,
    },
}

impl DispatchHandle {
    /// A handle for one message sent on its own.
    pub fn message(message_id: impl Into<String>, conversation_id: Option<String>) -> Self {
        Self::MessageId {
            message_id: message_id.into(),
            conversation_id,
        }
    }

    /// A handle for a contact of a messaging campaign's contact list.
    pub fn contact(contact_id: impl Into<String>) -> Self {
        Self::Contact {
            contact_id: contact_id.into(),
        }
    }

    /// The message id stored with the send (receipts and reconcile look sends up by it).
    pub fn message_id(&self) -> Option<&str> {
        match self {
            Self::MessageId { message_id, .. } => Some(message_id),
            Self::Contact { .. } => None,
        }
    }

    /// The conversation id stored with the send, if the service gave one.
    pub fn conversation_id(&self) -> Option<&str> {
        match self {
            Self::MessageId {
                conversation_id, ..
            } => conversation_id.as_deref(),
            Self::Contact { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_handle_names_its_message_and_conversation() {
        let h = DispatchHandle::message("m-1", Some("c-1".into()));
        assert_eq!(h.message_id(), Some("m-1"));
        assert_eq!(h.conversation_id(), Some("c-1"));
        assert_eq!(DispatchHandle::message("m-2", None).conversation_id(), None);
        let c = DispatchHandle::contact("0123");
        assert_eq!((c.message_id(), c.conversation_id()), (None, None));
    }
}
