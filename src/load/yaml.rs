//! The one wrapper around serde-saphyr: every YAML document herald reads goes through here,
//! with duplicate keys as errors, YAML 1.2 booleans only, merge keys refused and a tight
//! budget so alias bombs and huge inputs fail fast.

use serde::de::DeserializeOwned;
use serde_saphyr::{DuplicateKeyPolicy, MergeKeyPolicy, Options};

use crate::diag::Pos;

/// The largest YAML file herald reads.
pub const MAX_YAML_BYTES: usize = 4 * 1024 * 1024;

/// A YAML error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// What went wrong (no source excerpt; the caller renders one).
    pub message: String,
    /// Where, when known.
    pub pos: Option<Pos>,
}

fn options() -> Options {
    let mut options = Options::default();
    options.strict_booleans = true;
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    options.merge_keys = MergeKeyPolicy::Error;
    options.budget = serde_saphyr::budget! {
        max_reader_input_bytes: Some(MAX_YAML_BYTES),
        max_events: 200_000,
        max_aliases: 100,
        max_anchors: 100,
        max_nodes: 50_000,
        max_depth: 32,
        max_documents: 1,
        max_total_scalar_bytes: MAX_YAML_BYTES,
    };
    options
}

/// Deserialises one YAML document into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(YamlError {
            message: format!("file is larger than {MAX_YAML_BYTES} bytes"),
            pos: None,
        });
    }
    serde_saphyr::from_str_with_options(text, options()).map_err(|err| {
        let pos = err.location().as_ref().and_then(Pos::from_location);
        let message = first_line(&err.without_snippet().to_string());
        YamlError { message, pos }
    })
}

/// serde-saphyr messages may start with a location prefix and carry an excerpt; keep the
/// message line only.
fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message)
        .trim();
    let line = match line.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest,
        _ => line,
    };
    // The position is reported separately; drop the trailing "at line N, column M".
    let line = match line.rfind(" at line ") {
        Some(i) if line[i..].contains("column") => &line[..i],
        _ => line,
    };
    line.replace(", set DuplicateKeyPolicy in Options if acceptable", "")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        name: String,
        #[serde(default)]
        flag: Option<bool>,
        #[serde(default)]
        #[allow(dead_code)]
        map: BTreeMap<String, String>,
    }

    #[test]
    fn duplicate_keys_are_errors_everywhere() {
        let err = from_str::<Doc>("name: a\nname: b\n").unwrap_err();
        assert!(err.message.to_lowercase().contains("duplicate"), "{err:?}");
        let err = from_str::<Doc>("name: a\nmap:\n  k: 1\n  k: 2\n").unwrap_err();
        assert!(err.message.to_lowercase().contains("duplicate"), "{err:?}");
        assert_eq!(err.pos.map(|p| p.line), Some(4));
    }

    #[test]
    fn yaml11_booleans_are_not_booleans() {
        assert!(from_str::<Doc>("name: a\nflag: yes\n").is_err());
        assert_eq!(
            from_str::<Doc>("name: a\nflag: true\n").unwrap().flag,
            Some(true)
        );
        // and `no` stays a string where a string is expected
        let d: Doc = from_str("name: no\n").unwrap();
        assert_eq!(d.name, "no");
    }

    #[test]
    fn unknown_fields_have_a_position() {
        let err = from_str::<Doc>("name: a\nnmae: b\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(2));
    }

    #[test]
    fn alias_bombs_are_rejected_fast() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..9 {
            let _ = writeln!(
                bomb,
                "{}: &{} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]",
                (b'a' + i) as char,
                (b'a' + i) as char,
                p = (b'a' + i - 1) as char
            );
        }
        bomb.push_str("name: x\n");
        let started = std::time::Instant::now();
        assert!(from_str::<Doc>(&bomb).is_err());
        // Generous bound: the point is "not minutes and gigabytes".
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
