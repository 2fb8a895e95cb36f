//! `SQLite` persistence of the sandbox: libraries, responses, DNC lists (stored as their wire JSON),
//! DNC entries, accepted outbound messages with their arrival times, inbound replies and
//! opt-outs.
//!
//! Invariants: a message row is written before any response (or dropped connection) reaches the
//! client, so `messages` is the ground truth of what was accepted; arrival times are Unix
//! milliseconds from the sandbox clock; a file database uses WAL with `synchronous=FULL`, so an
//! accepted message survives a crash of the sandbox process.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

use crate::config::StateLocation;
use crate::error::SandboxError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS libraries (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dnc_lists (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dnc_entries (list_id TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (list_id, value));
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    text_body TEXT,
    subject TEXT,
    html_body TEXT,
    accepted_at_ms INTEGER NOT NULL,
    recipient_opted_out INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    text_body TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS opt_outs (address TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contact_lists (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messaging_campaigns (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callable_time_sets (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id TEXT NOT NULL,
    id TEXT NOT NULL,
    queue_pos INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (list_id, id)
);
CREATE INDEX IF NOT EXISTS contacts_queue ON contacts (list_id, queue_pos);
CREATE TABLE IF NOT EXISTS campaign_runs (
    campaign_id TEXT PRIMARY KEY,
    paced_from_ms INTEGER NOT NULL,
    sent_since INTEGER NOT NULL,
    rescheduled INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS campaign_contacts (
    campaign_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, contact_id)
);
";

/// Channel of an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Agentless SMS.
    Sms,
    /// Agentless email.
    Email,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

/// An outbound message the sandbox accepted (whether or not the client saw the answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AcceptedMessage {
    /// Message id returned (or that would have been returned) to the client.
    pub id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// SMS or email.
    pub channel: Channel,
    /// Sender number or email address.
    pub from: String,
    /// Recipient number or email address.
    pub to: String,
    /// SMS text or email text body.
    pub text: Option<String>,
    /// Email subject.
    pub subject: Option<String>,
    /// Email HTML body.
    pub html: Option<String>,
    /// When the sandbox accepted it.
    pub accepted_at: Timestamp,
    /// Whether the recipient had opted out when it was accepted (it ends `delivery-failed`).
    pub recipient_opted_out: bool,
}

/// An inbound reply injected through the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    /// Message id.
    pub message_id: String,
    /// Conversation id (that of the last outbound message between the two numbers, if any).
    pub conversation_id: String,
    /// The replying number.
    pub from: String,
    /// The sandbox number replied to.
    pub to: String,
    /// Reply text.
    pub text: String,
    /// Arrival time.
    pub timestamp: Timestamp,
}

/// Creates the state file's missing directories 0700 and the file itself 0600 (it holds full
/// phone numbers and email addresses), whatever the umask; an existing file readable by group
/// or others is tightened to owner-only. `SQLite` gives its `-wal` and `-shm` files the mode of
/// the database file.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        let mut missing = Vec::new();
        let mut cur = Some(dir);
        while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
            missing.push(d.to_owned());
            cur = d.parent();
        }
        for d in missing.iter().rev() {
            match std::fs::DirBuilder::new().mode(0o700).create(d) {
                Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file.set_permissions(std::fs::Permissions::from_mode(0o600)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Handle on the state database; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    conn: Arc<Mutex<Connection>>,
}

fn ts_from_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Store {
    /// Opens (creating if needed) the state database.
    pub(crate) fn open(location: &StateLocation) -> Result<Self, SandboxError> {
        let conn = match location {
            StateLocation::Memory => Connection::open_in_memory()?,
            StateLocation::File(path) => {
                create_private(path).map_err(|e| {
                    SandboxError::Config(format!(
                        "cannot create the state file {}: {e}",
                        path.display()
                    ))
                })?;
                let conn = Connection::open(path)?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "FULL")?;
                conn
            }
        };
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, SandboxError>
    where
        F: FnOnce(&mut Connection) -> Result<R, SandboxError> + Send + 'static,
        R: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| SandboxError::Task("state database lock poisoned".to_owned()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| SandboxError::Task(e.to_string()))?
    }
}

/// Entity tables stored as wire JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Libraries,
    Responses,
    DncLists,
    ContactLists,
    MessagingCampaigns,
    CallableTimeSets,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Libraries => "libraries",
            Table::Responses => "responses",
            Table::DncLists => "dnc_lists",
            Table::ContactLists => "contact_lists",
            Table::MessagingCampaigns => "messaging_campaigns",
            Table::CallableTimeSets => "callable_time_sets",
        }
    }
}

pub(crate) fn put_entity<T: Serialize>(
    conn: &Connection,
    table: Table,
    id: &str,
    entity: &T,
) -> Result<(), SandboxError> {
    let body = serde_json::to_string(entity)?;
    conn.execute(
        &format!(
            "INSERT INTO {} (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
            table.name()
        ),
        params![id, body],
    )?;
    Ok(())
}

pub(crate) fn get_entity<T: DeserializeOwned>(
    conn: &Connection,
    table: Table,
    id: &str,
) -> Result<Option<T>, SandboxError> {
    let body: Option<String> = conn
        .query_row(
            &format!("SELECT body FROM {} WHERE id = ?1", table.name()),
            params![id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

pub(crate) fn list_entities<T: DeserializeOwned>(
    conn: &Connection,
    table: Table,
) -> Result<Vec<T>, SandboxError> {
    let mut stmt = conn.prepare(&format!("SELECT body FROM {} ORDER BY seq", table.name()))?;
    let bodies = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(SandboxError::from))
        .collect()
}

pub(crate) fn delete_entity(
    conn: &Connection,
    table: Table,
    id: &str,
) -> Result<bool, SandboxError> {
    let n = conn.execute(
        &format!("DELETE FROM {} WHERE id = ?1", table.name()),
        params![id],
    )?;
    Ok(n > 0)
}

pub(crate) fn insert_message(conn: &Connection, m: &AcceptedMessage) -> Result<(), SandboxError> {
    conn.execute(
        "INSERT INTO messages (id, conversation_id, channel, from_addr, to_addr, text_body, subject, html_body, accepted_at_ms, recipient_opted_out)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            m.id,
            m.conversation_id,
            m.channel.as_str(),
            m.from,
            m.to,
            m.text,
            m.subject,
            m.html,
            m.accepted_at.as_millisecond(),
            m.recipient_opted_out,
        ],
    )?;
    Ok(())
}

fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AcceptedMessage> {
    let channel: String = row.get(2)?;
    Ok(AcceptedMessage {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        channel: if channel == "email" {
            Channel::Email
        } else {
            Channel::Sms
        },
        from: row.get(3)?,
        to: row.get(4)?,
        text: row.get(5)?,
        subject: row.get(6)?,
        html: row.get(7)?,
        accepted_at: ts_from_ms(row.get(8)?),
        recipient_opted_out: row.get(9)?,
    })
}

const MESSAGE_COLUMNS: &str = "id, conversation_id, channel, from_addr, to_addr, text_body, subject, html_body, accepted_at_ms, recipient_opted_out";

pub(crate) fn list_messages(conn: &Connection) -> Result<Vec<AcceptedMessage>, SandboxError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY seq"
    ))?;
    let rows = stmt
        .query_map([], message_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(crate) fn get_message(
    conn: &Connection,
    id: &str,
) -> Result<Option<AcceptedMessage>, SandboxError> {
    Ok(conn
        .query_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
            params![id],
            message_from_row,
        )
        .optional()?)
}

/// Conversation id of the latest outbound message from `from` to `to`.
pub(crate) fn latest_conversation(
    conn: &Connection,
    from: &str,
    to: &str,
) -> Result<Option<String>, SandboxError> {
    Ok(conn
        .query_row(
            "SELECT conversation_id FROM messages WHERE from_addr = ?1 AND to_addr = ?2 ORDER BY seq DESC LIMIT 1",
            params![from, to],
            |row| row.get(0),
        )
        .optional()?)
}

pub(crate) fn insert_inbound(conn: &Connection, m: &InboundMessage) -> Result<(), SandboxError> {
    conn.execute(
        "INSERT INTO inbound (id, conversation_id, from_addr, to_addr, text_body, received_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![m.message_id, m.conversation_id, m.from, m.to, m.text, m.timestamp.as_millisecond()],
    )?;
    Ok(())
}

pub(crate) fn list_inbound(conn: &Connection) -> Result<Vec<InboundMessage>, SandboxError> {
    let mut stmt = conn.prepare(
        "SELECT id, conversation_id, from_addr, to_addr, text_body, received_at_ms FROM inbound ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok(InboundMessage {
                message_id: row.get(0)?,
                conversation_id: row.get(1)?,
                from: row.get(2)?,
                to: row.get(3)?,
                text: row.get(4)?,
                timestamp: ts_from_ms(row.get(5)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(crate) fn set_opted_out(
    conn: &Connection,
    address: &str,
    opted_out: bool,
    at: Timestamp,
) -> Result<(), SandboxError> {
    if opted_out {
        conn.execute(
            "INSERT INTO opt_outs (address, at_ms) VALUES (?1, ?2) ON CONFLICT(address) DO NOTHING",
            params![address, at.as_millisecond()],
        )?;
    } else {
        conn.execute("DELETE FROM opt_outs WHERE address = ?1", params![address])?;
    }
    Ok(())
}

pub(crate) fn is_opted_out(conn: &Connection, address: &str) -> Result<bool, SandboxError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM opt_outs WHERE address = ?1",
            params![address],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub(crate) fn add_dnc_entries(
    conn: &mut Connection,
    list_id: &str,
    values: &[String],
) -> Result<i64, SandboxError> {
    let tx = conn.transaction()?;
    for v in values {
        tx.execute(
            "INSERT INTO dnc_entries (list_id, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![list_id, v],
        )?;
    }
    let size: i64 = tx.query_row(
        "SELECT COUNT(*) FROM dnc_entries WHERE list_id = ?1",
        params![list_id],
        |row| row.get(0),
    )?;
    tx.commit()?;
    Ok(size)
}

pub(crate) fn list_dnc_entries(
    conn: &Connection,
    list_id: &str,
) -> Result<Vec<String>, SandboxError> {
    let mut stmt =
        conn.prepare("SELECT value FROM dnc_entries WHERE list_id = ?1 ORDER BY value")?;
    let rows = stmt
        .query_map(params![list_id], |row| row.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(crate) fn remove_dnc_entries(
    conn: &mut Connection,
    list_id: &str,
    values: &[String],
) -> Result<i64, SandboxError> {
    let tx = conn.transaction()?;
    for v in values {
        tx.execute(
            "DELETE FROM dnc_entries WHERE list_id = ?1 AND value = ?2",
            params![list_id, v],
        )?;
    }
    let size: i64 = tx.query_row(
        "SELECT COUNT(*) FROM dnc_entries WHERE list_id = ?1",
        params![list_id],
        |row| row.get(0),
    )?;
    tx.commit()?;
    Ok(size)
}
