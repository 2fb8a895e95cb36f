//! What names a dispatched send: the handle a sender gets back for it, recorded with the
//! `sent` row so that receipts and reconcile can find it again.

use serde::{Deserialize, Serialize};

/// How a dispatched send is named by the service that took it.
///
/// Today every send is one agentless message, named by its message id. A sender that hands
/// messages over in bulk (a contact in an outbound messaging campaign's contact list) would
/// add its own variant here, say `Contact { contact_list_id, contact_id }`; the claim and
/// the `dispatching` → outcome transition stay as they are, and only the columns the new
/// variant is stored in would be new.
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
}

impl DispatchHandle {
    /// A handle for one message sent on its own.
    pub fn message(message_id: impl Into<String>, conversation_id: Option<String>) -> Self {
        Self::MessageId {
            message_id: message_id.into(),
            conversation_id,
        }
    }

    /// The message id stored with the send (receipts and reconcile look sends up by it).
    pub fn message_id(&self) -> Option<&str> {
        match self {
            Self::MessageId { message_id, .. } => Some(message_id),
        }
    }

    /// The conversation id stored with the send, if the service gave one.
    pub fn conversation_id(&self) -> Option<&str> {
        match self {
            Self::MessageId {
                conversation_id, ..
            } => conversation_id.as_deref(),
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
    }
}
