//! Import: adopt existing Response Management templates as YAML and bind them in the
//! ledger so a later plan shows no changes (also the way to accept a drifted remote text).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use herald_genesys::{Response, ResponseType, TextContentType, TextType};
use herald_ledger::{LockError, NewRun, TemplateWrite};

use crate::settings::EnvSettings;
use crate::spec::Name;
use crate::spec::model::Workspace;
use crate::text::placeholder_names;

/// A YAML scalar: JSON string syntax is valid YAML and escapes everything that needs it.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The YAML document for a response, or why it cannot be imported.
fn template_yaml(r: &Response, category: &str, status: &str) -> Result<String, String> {
    let name =
        Name::parse(&r.name).map_err(|e| format!("response `{}` ({}): {e}", r.name, r.id))?;
    let text = |ty: Option<TextType>, ct: TextContentType| {
        r.texts
            .iter()
            .find(|t| {
                t.text_type.unwrap_or(TextType::Body) == ty.unwrap_or(TextType::Body)
                    && t.content_type == ct
            })
            .map(|t| crate::hash::normalize_text(&t.content))
    };
    let mut out = format!(
        "# Imported from Genesys response {} (version {}). Review category and status.\nkind: Template\nname: {}\n",
        r.id, r.version, name
    );
    let mut all_text = String::new();
    match r.response_type {
        Some(ResponseType::CampaignSmsTemplate) => {
            let body = text(None, TextContentType::Plain)
                .ok_or_else(|| format!("response `{}` has no text", r.name))?;
            let _ = write!(
                out,
                "channel: sms\ncategory: {category}\nstatus: {status}\nbody: {}\n",
                q(&body)
            );
            all_text.push_str(&body);
        }
        Some(ResponseType::CampaignEmailTemplate) => {
            let subject = text(Some(TextType::Subject), TextContentType::Plain)
                .ok_or_else(|| format!("response `{}` has no subject", r.name))?;
            let html = text(Some(TextType::Body), TextContentType::Html)
                .ok_or_else(|| format!("response `{}` has no HTML body", r.name))?;
            let _ = write!(
                out,
                "channel: email\ncategory: {category}\nstatus: {status}\nsubject: {}\nhtml: {}\n",
                q(&subject),
                q(&html)
            );
            all_text.push_str(&subject);
            all_text.push_str(&html);
            if let Some(plain) = text(Some(TextType::Body), TextContentType::Plain) {
                let _ = writeln!(out, "text: {}", q(&plain));
                all_text.push_str(&plain);
            }
        }
        _ => {
            return Err(format!(
                "response `{}` is not a campaign SMS or email template",
                r.name
            ));
        }
    }
    let used: BTreeSet<String> = placeholder_names(&all_text).into_iter().collect();
    if !used.is_empty() {
        out.push_str("variables:\n");
        for v in &used {
            let description = r
                .substitutions
                .iter()
                .find(|s| &s.id == v)
                .and_then(|s| s.description.clone());
            match description {
                Some(d) => {
                    let _ = writeln!(out, "  {}: {{ description: {} }}", q(v), q(&d));
                }
                None => {
                    let _ = writeln!(out, "  {}: {{}}", q(v));
                }
            }
        }
    }
    Ok(out)
}

/// What happened to one selected response, reported as it happens.
#[derive(Debug)]
pub(crate) enum ImportEvent {
    /// A requested name is not in the library.
    NoSuchResponse(String),
    /// Written and bound.
    Imported {
        /// Response name.
        name: String,
        /// Response id.
        id: String,
        /// Response version.
        version: u32,
        /// The YAML file, relative to the workspace root.
        file: PathBuf,
    },
    /// Not importable (why).
    Refused(String),
}

/// Counts of an import run.
#[derive(Debug, Default)]
pub(crate) struct ImportSummary {
    /// Responses selected (0: nothing to import, nothing was recorded).
    pub(crate) selected: usize,
    /// Imported.
    pub(crate) imported: usize,
    /// Refused.
    pub(crate) problems: usize,
    /// The ledger's chain head after the run was recorded (`None`: nothing was written).
    pub(crate) ledger_head: Option<herald_ledger::ChainHead>,
}

/// Imports the named responses (or all with `all`) of the environment's managed library
/// under the run lock, reporting each through `on_event`.
pub(crate) fn import_templates(
    ws: &Workspace,
    settings: &EnvSettings,
    names: &[String],
    all: bool,
    on_event: &mut dyn FnMut(ImportEvent) -> anyhow::Result<()>,
) -> anyhow::Result<Result<ImportSummary, LockError>> {
    let key = settings.ledger_key()?;
    let run_id = super::new_run_id("import");
    let mut locked =
        match crate::ledger_access::open_locked(settings, &key, &run_id, "import", None)? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
    let rt = super::runtime()?;
    let remote = rt.block_on(crate::remote::connect(settings))?;
    let library = rt.block_on(remote.client.find_library_by_name(&settings.env.library))?;
    let responses = match &library {
        Some(l) => rt.block_on(remote.client.list_responses(&l.id))?,
        None => Vec::new(),
    };
    rt.block_on(remote.shutdown());
    let selected: Vec<&Response> = responses
        .iter()
        .filter(|r| all || names.iter().any(|n| n == &r.name))
        .collect();
    for n in names {
        if !responses.iter().any(|r| &r.name == n) {
            on_event(ImportEvent::NoSuchResponse(n.clone()))?;
        }
    }
    let mut summary = ImportSummary {
        ledger_head: None,
        selected: selected.len(),
        ..ImportSummary::default()
    };
    if selected.is_empty() {
        return Ok(Ok(summary));
    }
    locked.ledger.begin_run(&NewRun {
        run_id: run_id.clone(),
        command: "import".into(),
        user: settings.vars.user.clone(),
        host: settings.vars.host.clone(),
        git_commit: crate::gather::git_state(&ws.root).commit,
        plan_hash: None,
    })?;
    for r in selected {
        let existing = Name::parse(&r.name).ok().and_then(|n| ws.templates.get(&n));
        let (path, category, status) = match existing {
            Some(t) => (
                ws.root.join(&t.origin.file),
                match t.category {
                    crate::spec::Category::Transactional => "transactional",
                    crate::spec::Category::Marketing => "marketing",
                },
                match t.status {
                    crate::spec::TemplateStatus::Published => "published",
                    crate::spec::TemplateStatus::Draft => "draft",
                },
            ),
            None => (
                ws.root.join("templates").join(format!("{}.yaml", r.name)),
                "transactional",
                "published",
            ),
        };
        let yaml = match template_yaml(r, category, status) {
            Ok(y) => y,
            Err(e) => {
                on_event(ImportEvent::Refused(e))?;
                summary.problems += 1;
                continue;
            }
        };
        // A linked `templates` directory (or file) in the workspace is never written through.
        super::refuse_link_within(&ws.root, &path)?;
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        super::write_atomic(&path, yaml.as_bytes())?;
        // Bind it: the content hash is that of the template as herald now reads it.
        let reloaded = crate::load::load(&ws.root);
        let hash = Name::parse(&r.name).ok().and_then(|n| {
            reloaded
                .workspace
                .templates
                .get(&n)
                .map(|t| t.hash.to_string())
        });
        locked.ledger.record_template_write(&TemplateWrite {
            run_id: run_id.clone(),
            name: r.name.clone(),
            response_id: r.id.clone(),
            version: i64::from(r.version),
            content_hash: hash.unwrap_or_default(),
            remote_hash: crate::gather::response_hash(r),
            git_commit: None,
            overwrote_hash: None,
        })?;
        summary.imported += 1;
        on_event(ImportEvent::Imported {
            name: r.name.clone(),
            id: r.id.clone(),
            version: r.version,
            file: path.strip_prefix(&ws.root).unwrap_or(&path).to_owned(),
        })?;
    }
    locked.ledger.finish_run(
        &run_id,
        if summary.problems == 0 {
            "ok"
        } else {
            "error: some responses were not imported"
        },
    )?;
    summary.ledger_head = locked.ledger.head()?;
    Ok(Ok(summary))
}
