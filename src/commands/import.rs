//! `herald import [NAME…|--all]`: adopt existing Response Management templates as YAML, and
//! bind them in the ledger so a later plan shows no changes. Also the way to accept a drifted
//! remote text instead of restoring the reviewed one.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use herald_genesys::{Response, ResponseType, TextContentType, TextType};
use herald_ledger::{NewRun, TemplateWrite};

use crate::ExitStatus;
use crate::cli::{GlobalArgs, ImportTemplatesArgs};
use crate::output::Printer;
use crate::spec::Name;
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

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ImportTemplatesArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    anyhow::ensure!(
        args.all || !args.names.is_empty(),
        "name the responses to import, or pass --all"
    );
    let (loaded, settings) = super::env_context(global)?;
    let ws = &loaded.workspace;
    let key = settings.ledger_key()?;
    let run_id = super::new_run_id("import");
    let mut locked =
        match crate::ledger_access::open_locked(&settings, &key, &run_id, "import", None)? {
            Ok(l) => l,
            Err(e) => {
                printer.error(&e.to_string());
                return Ok(ExitStatus::Locked);
            }
        };
    let rt = super::runtime()?;
    let remote = rt.block_on(crate::remote::connect(&settings))?;
    let library = rt.block_on(remote.client.find_library_by_name(&settings.env.library))?;
    let responses = match &library {
        Some(l) => rt.block_on(remote.client.list_responses(&l.id))?,
        None => Vec::new(),
    };
    rt.block_on(remote.shutdown());
    let selected: Vec<&Response> = responses
        .iter()
        .filter(|r| args.all || args.names.iter().any(|n| n == &r.name))
        .collect();
    for n in &args.names {
        if !responses.iter().any(|r| &r.name == n) {
            printer.error(&format!(
                "no response named `{n}` in the library `{}`",
                settings.env.library
            ));
        }
    }
    if selected.is_empty() {
        printer.error("nothing to import");
        return Ok(ExitStatus::Error);
    }
    locked.ledger.begin_run(&NewRun {
        run_id: run_id.clone(),
        command: "import".into(),
        user: crate::settings::current_user(),
        host: crate::settings::host_name(),
        git_commit: crate::gather::git_state(&ws.root).commit,
        plan_hash: None,
    })?;
    let mut imported = 0;
    let mut problems = 0;
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
                printer.error(&e);
                problems += 1;
                continue;
            }
        };
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        super::plan::write_atomic(&path, yaml.as_bytes())?;
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
        imported += 1;
        let rel = path
            .strip_prefix(&ws.root)
            .unwrap_or(&path)
            .display()
            .to_string();
        printer.out(&format!(
            "imported {} (response {} v{}) → {rel}\n",
            r.name, r.id, r.version
        ))?;
    }
    locked.ledger.finish_run(
        &run_id,
        if problems == 0 {
            "ok"
        } else {
            "error: some responses were not imported"
        },
    )?;
    printer.info(&format!("{imported} imported; run `herald validate` and `herald plan`, then commit the YAML for review"));
    Ok(if problems == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}
