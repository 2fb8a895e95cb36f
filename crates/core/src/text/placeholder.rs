//! `{{name}}` placeholders as Genesys writes them in Response Management texts: the id is the
//! exact text between `{{` and `}}` (it may contain spaces, as contact-list column names do);
//! there is no escaping. Any other `{{` or `}}` is malformed.

use std::collections::BTreeMap;
use std::ops::Range;

/// A placeholder occurrence: its id and the byte range of `{{id}}` in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The id between the braces, verbatim.
    pub name: String,
    /// Byte range of the whole `{{…}}`.
    pub span: Range<usize>,
}

/// A malformed placeholder: an unclosed `{{`, an empty `{{}}`, braces inside, or a stray `}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderError {
    /// What is wrong.
    pub message: String,
    /// Byte range of the offending text.
    pub span: Range<usize>,
}

/// Parses every placeholder of `text`, in order, and every malformed one.
pub fn parse_placeholders(text: &str) -> (Vec<Placeholder>, Vec<PlaceholderError>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut rest = 0;
    while rest < text.len() {
        let open = text[rest..].find("{{").map(|i| i + rest);
        let stray = text[rest..].find("}}").map(|i| i + rest);
        match (open, stray) {
            (Some(o), Some(s)) if s < o => {
                errors.push(PlaceholderError {
                    message: "`}}` without a matching `{{`".into(),
                    span: s..s + 2,
                });
                rest = s + 2;
            }
            (None, Some(s)) => {
                errors.push(PlaceholderError {
                    message: "`}}` without a matching `{{`".into(),
                    span: s..s + 2,
                });
                rest = s + 2;
            }
            (None, None) => break,
            (Some(o), _) => {
                let inner_start = o + 2;
                let Some(close) = text[inner_start..].find("}}").map(|i| i + inner_start) else {
                    errors.push(PlaceholderError {
                        message: "`{{` is never closed with `}}`".into(),
                        span: o..text.len().min(o + 2),
                    });
                    break;
                };
                let inner = &text[inner_start..close];
                let span = o..close + 2;
                if inner.is_empty() {
                    errors.push(PlaceholderError {
                        message: "empty placeholder `{{}}`".into(),
                        span,
                    });
                } else if inner.contains('{') || inner.contains('}') {
                    errors.push(PlaceholderError {
                        message: format!("braces inside placeholder `{{{{{inner}}}}}`"),
                        span,
                    });
                } else {
                    found.push(Placeholder {
                        name: inner.to_owned(),
                        span,
                    });
                }
                rest = close + 2;
            }
        }
    }
    (found, errors)
}

/// The distinct placeholder ids of `text`.
pub fn placeholder_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = parse_placeholders(text)
        .0
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A placeholder had no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingValue(pub String);

/// Substitutes every well-formed placeholder with its value, verbatim (no escaping, no
/// trimming). Malformed braces are left as written (validation refuses such templates).
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, MissingValue> {
    Compiled::new(text).render(values)
}

/// A text with its placeholders found once, to render many rows: what [`substitute`] does,
/// without parsing the text again for every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    text: String,
    /// The placeholders, in order.
    placeholders: Vec<Placeholder>,
}

impl Compiled {
    /// Finds the placeholders of `text` (malformed ones stay literal text, as in
    /// [`substitute`]).
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            placeholders: parse_placeholders(text).0,
        }
    }

    /// The text with every placeholder replaced by its value.
    ///
    /// # Errors
    /// The first placeholder without a value.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, MissingValue> {
        let text = &self.text;
        let mut out = String::with_capacity(text.len() + 32);
        let mut last = 0;
        for p in &self.placeholders {
            let value = values
                .get(&p.name)
                .ok_or_else(|| MissingValue(p.name.clone()))?;
            out.push_str(&text[last..p.span.start]);
            out.push_str(value);
            last = p.span.end;
        }
        out.push_str(&text[last..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_genesys_style_ids() {
        let (p, e) = parse_placeholders("Hi {{Customer Name}}, order {{order_id}}.");
        assert!(e.is_empty());
        assert_eq!(
            p.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["Customer Name", "order_id"]
        );
        assert_eq!(
            &"Hi {{Customer Name}}, order {{order_id}}."[p[0].span.clone()],
            "{{Customer Name}}"
        );
    }

    #[test]
    fn spaces_are_part_of_the_id() {
        let (p, _) = parse_placeholders("{{ order_id }}");
        assert_eq!(p[0].name, " order_id ");
    }

    #[test]
    fn malformed() {
        assert_eq!(parse_placeholders("Hi {{name").1.len(), 1);
        assert_eq!(parse_placeholders("Hi {{}}").1.len(), 1);
        assert_eq!(parse_placeholders("Hi name}}").1.len(), 1);
        assert_eq!(parse_placeholders("Hi {{a{b}}").1.len(), 1);
        assert!(parse_placeholders("single {braces} are text").1.is_empty());
    }

    #[test]
    fn renders_verbatim() {
        let out = substitute(
            "Hi {{name}}, {{name}}! {{x}}",
            &values(&[("name", "{{x}} & <b>"), ("x", "1")]),
        )
        .unwrap();
        assert_eq!(out, "Hi {{x}} & <b>, {{x}} & <b>! 1");
    }

    #[test]
    fn missing_value_is_an_error() {
        assert_eq!(
            substitute("Hi {{name}}", &values(&[])),
            Err(MissingValue("name".into()))
        );
    }

    proptest! {
        #[test]
        fn rendering_with_every_value_leaves_no_open_braces(
            names in proptest::collection::btree_set("[a-z][a-z0-9_ ]{0,12}", 1..5),
            filler in "[a-zA-Z0-9 .,!?]{0,20}",
            value in "[a-zA-Z0-9 .,!?-]{0,20}",
        ) {
            let mut text = String::new();
            let mut vals = BTreeMap::new();
            for n in &names {
                text.push_str(&filler);
                text.push_str("{{");
                text.push_str(n);
                text.push_str("}}");
                vals.insert(n.clone(), value.clone());
            }
            let out = substitute(&text, &vals).unwrap();
            prop_assert!(!out.contains("{{"));
            prop_assert!(!out.contains("}}"));
        }
    }
}
