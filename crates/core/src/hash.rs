//! Content hashes. A template's hash is SHA-256 over a versioned canonical serialisation of the
//! validated model: the prefix `v1:` then compact JSON with keys sorted, texts with CRLF
//! already normalised to LF and a leading BOM stripped by the loader. Comments, key order and
//! YAML formatting never change it; any change to a text, a variable, the channel, the category
//! or the name does. This format is forever: a new format gets a new prefix.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::spec::ContentHash;
use crate::spec::model::{Content, Variable};
use crate::spec::{Category, Channel, Name};

/// SHA-256 of raw bytes, as a [`ContentHash`].
pub fn sha256(bytes: &[u8]) -> ContentHash {
    ContentHash::from_digest(&Sha256::digest(bytes))
}

/// The canonical `v1:` serialisation of a template.
pub fn template_canonical(
    name: &Name,
    channel: Channel,
    category: Category,
    content: &Content,
    variables: &BTreeMap<String, Variable>,
) -> String {
    let texts: serde_json::Map<String, Value> = content
        .texts()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    let vars: serde_json::Map<String, Value> = variables
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({ "description": v.description, "example": v.example, "max_length": v.max_length }),
            )
        })
        .collect();
    let doc = json!({
        "name": name.as_str(),
        "channel": channel.as_str(),
        "category": match category { Category::Transactional => "transactional", Category::Marketing => "marketing" },
        "texts": texts,
        "variables": vars,
    });
    // serde_json's map is ordered by key (no `preserve_order`), so this is sorted at every level.
    format!("v1:{doc}")
}

/// The canonical hash of a template.
pub fn template_hash(
    name: &Name,
    channel: Channel,
    category: Category,
    content: &Content,
    variables: &BTreeMap<String, Variable>,
) -> ContentHash {
    sha256(template_canonical(name, channel, category, content, variables).as_bytes())
}

/// Normalises a text before hashing or sending: a leading BOM is dropped and CRLF becomes LF.
/// Nothing else (no trimming, no Unicode normalisation).
pub fn normalize_text(text: &str) -> String {
    text.strip_prefix('\u{FEFF}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
}
