//! `herald schema`: generate the JSON Schemas of the four document kinds into `schema/`, or
//! check that the checked-in files are current.

use std::path::Path;

use anyhow::Context as _;
use schemars::JsonSchema;

use crate::ExitStatus;
use crate::cli::{GlobalArgs, SchemaArgs};
use crate::output::Printer;
use crate::spec::{AudienceDoc, CampaignDoc, ProjectDoc, TemplateDoc};

fn schema_of<T: JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}

/// The generated schema files: (file name, contents).
pub(crate) fn generate() -> Vec<(&'static str, String)> {
    vec![
        ("herald.schema.json", schema_of::<ProjectDoc>()),
        ("template.schema.json", schema_of::<TemplateDoc>()),
        ("audience.schema.json", schema_of::<AudienceDoc>()),
        ("campaign.schema.json", schema_of::<CampaignDoc>()),
    ]
}

pub(crate) fn run(
    global: &GlobalArgs,
    args: &SchemaArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let root = super::workspace_root(global)?;
    let dir = root.join("schema");
    let mut stale = Vec::new();
    for (name, text) in generate() {
        let path = dir.join(name);
        let current = fs_err::read_to_string(&path).ok();
        if current.as_deref() == Some(text.as_str()) {
            continue;
        }
        if args.check {
            stale.push(name);
        } else {
            write(&dir, &path, &text)?;
            printer.info(&format!("wrote schema/{name}"));
        }
    }
    if args.check && !stale.is_empty() {
        printer.error(&format!(
            "schema/ is stale: {}; run `herald schema` and commit the result",
            stale.join(", ")
        ));
        return Ok(ExitStatus::Error);
    }
    if args.check {
        printer.info("schema/ is up to date");
    }
    Ok(ExitStatus::Success)
}

fn write(dir: &Path, path: &Path, text: &str) -> anyhow::Result<()> {
    fs_err::create_dir_all(dir)?;
    crate::engine::refuse_link(dir)?;
    crate::engine::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
