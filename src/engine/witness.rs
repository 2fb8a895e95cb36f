//! The ledger head witness kept in the org: what catches a restored older ledger, or another
//! ledger swapped in, without the user passing `--expect-head`.
//!
//! After each `apply` herald writes the ledger's head (`SEQ:HASH`, the full keyed hash of its
//! last event) as the text of one Response Management response, `herald ledger head (<env>)`,
//! in a library of its own, `<managed library> (ledger head)` — never the managed library, so
//! plans and reviews do not see it. Before the next `apply` writes or sends anything, the
//! ledger's chain must contain that head: a ledger restored from a copy older than the last
//! apply, or a different ledger, does not, and apply is refused.
//!
//! What it cannot catch (see docs/review.md): someone with rights in the org who rolls back
//! or deletes the witness together with the ledger (a missing witness is taken as a first run
//! and recorded anew); a copy of the ledger taken after the last apply (it holds the
//! witnessed head; what the receiver or `suppress` recorded after that copy is lost — keep
//! `--expect-head` with the head printed after those writes, or back the ledger up after
//! them); anyone holding the ledger key. The head hash is keyed, so the witness reveals
//! nothing and cannot be forged for another ledger without the key.

use anyhow::Context as _;
use herald_genesys::{
    ApiError, EntityRef, GenesysClient, Response, ResponseDraft, ResponseText, TextContentType,
};
use herald_ledger::{ChainHead, Ledger};

use crate::settings::EnvSettings;

/// The witness library's name: the managed library's, marked.
pub(crate) fn library_name(settings: &EnvSettings) -> String {
    format!("{} (ledger head)", settings.env.library)
}

/// The witness response's name.
pub(crate) fn response_name(settings: &EnvSettings) -> String {
    format!("herald ledger head ({})", settings.env.name)
}

/// The witness found in the org, if any.
pub(crate) struct Found {
    library_id: Option<String>,
    response: Option<(Response, ChainHead)>,
}

impl Found {
    /// The witnessed head.
    pub(crate) fn head(&self) -> Option<&ChainHead> {
        self.response.as_ref().map(|(_, h)| h)
    }
}

/// Reads the witness (no library or no response: none yet). A response whose text is not a
/// full `SEQ:HASH` is an error, not "none": it was edited.
pub(crate) async fn read(client: &GenesysClient, settings: &EnvSettings) -> anyhow::Result<Found> {
    let Some(library) = client.find_library_by_name(&library_name(settings)).await? else {
        return Ok(Found {
            library_id: None,
            response: None,
        });
    };
    let name = response_name(settings);
    let response = client
        .list_responses(&library.id)
        .await?
        .into_iter()
        .find(|r| r.name == name);
    let response = match response {
        Some(r) => {
            let text = r
                .texts
                .first()
                .map(|t| t.content.trim())
                .unwrap_or_default();
            let head = ChainHead::parse(text)
                .ok()
                .filter(|h| h.hash.len() == 64)
                .with_context(|| {
                    format!(
                        "the ledger head witness `{name}` in the org does not hold a ledger head (SEQ:HASH): it was edited"
                    )
                })?;
            Some((r, head))
        }
        None => None,
    };
    Ok(Found {
        library_id: Some(library.id),
        response,
    })
}

/// Why `ledger` may not be used, if its chain does not contain the witnessed head.
pub(crate) fn refusal(ledger: &dyn Ledger, found: &Found) -> anyhow::Result<Option<String>> {
    let Some(head) = found.head() else {
        return Ok(None);
    };
    if ledger.contains_head(head)? {
        return Ok(None);
    }
    let current = ledger
        .head()?
        .map_or_else(|| "none".to_owned(), |h| h.to_string());
    Ok(Some(format!(
        "the ledger does not contain the head {head} that the last apply recorded in the org (its head is {current}): \
         it is an older copy or another ledger; restore the current ledger (nothing was done)"
    )))
}

/// Records `head` as the witness (creating the library and the response on first use).
pub(crate) async fn record(
    client: &GenesysClient,
    settings: &EnvSettings,
    found: &Found,
    head: &ChainHead,
) -> Result<(), ApiError> {
    let library_id = match &found.library_id {
        Some(id) => id.clone(),
        None => match client.find_library_by_name(&library_name(settings)).await? {
            Some(l) => l.id,
            None => client.create_library(&library_name(settings)).await?.id,
        },
    };
    let draft = ResponseDraft {
        name: response_name(settings),
        libraries: vec![EntityRef::id(library_id)],
        response_type: None,
        texts: vec![ResponseText {
            content: format!("{}:{}", head.seq, head.hash),
            content_type: TextContentType::Plain,
            text_type: None,
        }],
        substitutions: Vec::new(),
    };
    match &found.response {
        Some((r, _)) => client.update_response(&r.id, r.version, &draft).await?,
        None => client.create_response(&draft).await?,
    };
    Ok(())
}
