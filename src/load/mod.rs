//! Loading a workspace: find `herald.yaml`, discover documents, parse them through the one
//! YAML wrapper, and turn them into the validated [`Workspace`], collecting every problem as a
//! [`Diagnostic`] instead of stopping at the first. Checks that need the audience data live in
//! [`crate::validate`].

pub mod boundary;
pub mod compliance;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiff::civil::Time;
use serde_saphyr::Spanned;

use self::boundary::{Boundary, Refusal};
use crate::diag::{Code, Diagnostic, Pos, Sources};
use crate::hash;
use crate::spec::model::{
    Audience, Campaign, Content, DEFAULT_DENY_PATTERNS, DEFAULT_LIBRARY, DEFAULT_RATE_PER_MINUTE,
    Dispatch, EMAIL_CAMPAIGN_MAX_PER_MINUTE, Environment, Origin, Policy, Project, Source,
    Template, Variable, VariableSource, Window, Workspace,
};
use crate::spec::state_rules::StateRules;
use crate::spec::{
    AudienceDoc, CampaignDoc, CampaignStatus, Category, Channel, DispatchDoc, E164, Email,
    EnvironmentDoc, KindProbe, Name, ProjectDoc, SendWindowDoc, SourceDoc, Target, TemplateDoc,
    TemplateStatus, VariableSourceDoc, WindowDoc,
};
use crate::text::parse_placeholders;

/// The workspace marker file.
pub const PROJECT_FILE: &str = "herald.yaml";

/// The result of loading: the valid part of the workspace plus every diagnostic.
#[derive(Debug)]
pub struct Loaded {
    /// The workspace built from the documents that passed their own checks.
    pub workspace: Workspace,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
    /// Source texts for excerpts.
    pub sources: Sources,
}

impl Loaded {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        crate::diag::count(&self.diagnostics).0 > 0
    }
}

/// Finds the workspace root: `explicit` if given, else the nearest ancestor of `cwd` holding
/// `herald.yaml`.
pub fn find_root(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = explicit {
        return if dir.join(PROJECT_FILE).is_file() {
            Ok(dir.to_path_buf())
        } else {
            Err(format!(
                "{} has no {PROJECT_FILE}; run `herald init {}` to create a workspace",
                dir.display(),
                dir.display()
            ))
        };
    }
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        if d.join(PROJECT_FILE).is_file() {
            return Ok(d.to_path_buf());
        }
        dir = d.parent();
    }
    Err(format!(
        "no {PROJECT_FILE} in {} or any parent directory; run `herald init` to create a workspace, or pass -C DIR",
        cwd.display()
    ))
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Whether a workspace-relative path leaves the root lexically: absolute, or more `..` than
/// directories.
fn escapes(path: &Path) -> bool {
    use std::path::Component;
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return true;
                }
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// Where `item` is written in the list under the top-level `key` of a YAML text.
fn list_item_pos(text: &str, key: &str, item: &str) -> Option<Pos> {
    let start = text.lines().position(|l| {
        l.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
    })?;
    text.lines().enumerate().skip(start).find_map(|(i, l)| {
        let col = l.find(item)?;
        Some(Pos {
            line: u32::try_from(i + 1).ok()?,
            column: u32::try_from(l[..col].chars().count() + 1).ok()?,
        })
    })
}

fn pos<T>(s: &Spanned<T>) -> Option<Pos> {
    Pos::from_location(&s.referenced)
}

struct Loader {
    root: PathBuf,
    boundary: Boundary,
    /// Whether `policy.send_window` is literally `none` (not merely invalid).
    policy_window_none: bool,
    /// Names of documents that exist but failed validation: references to them are not
    /// reported again (the root cause already is).
    invalid: BTreeSet<String>,
    /// Whether some document failed to parse (it may define what a reference names).
    unparsed: bool,
    diags: Vec<Diagnostic>,
    sources: Sources,
    files: BTreeMap<String, crate::spec::ContentHash>,
}

/// Loads and validates the workspace at `root`.
pub fn load(root: &Path) -> Loaded {
    let mut loader = Loader {
        root: root.to_path_buf(),
        boundary: Boundary::new(root),
        policy_window_none: false,
        invalid: BTreeSet::new(),
        unparsed: false,
        diags: Vec::new(),
        sources: Sources::default(),
        files: BTreeMap::new(),
    };
    let project = loader.load_project();
    let mut template_docs = Vec::new();
    let mut audience_docs = Vec::new();
    let mut campaign_docs = Vec::new();
    for path in loader.discover(&project) {
        let display = rel(root, &path);
        let Some(text) = loader.read(&path, &display) else {
            continue;
        };
        let probe: KindProbe = match yaml::from_str(&text) {
            Ok(p) => p,
            Err(e) => {
                loader.unparsed = true;
                loader
                    .diags
                    .push(Diagnostic::error(Code::H002, &display, e.pos, e.message));
                continue;
            }
        };
        let Some(kind) = probe.kind else {
            loader.diags.push(
                Diagnostic::error(
                    Code::H003,
                    &display,
                    Some(Pos { line: 1, column: 1 }),
                    "document has no `kind`",
                )
                .help("start the file with `kind: Template`, `kind: Audience` or `kind: Campaign`"),
            );
            continue;
        };
        match kind.value.as_str() {
            "Template" => loader
                .parse::<TemplateDoc>(&text, &display)
                .map(|d| template_docs.push((display, d))),
            "Audience" => loader
                .parse::<AudienceDoc>(&text, &display)
                .map(|d| audience_docs.push((display, d))),
            "Campaign" => loader
                .parse::<CampaignDoc>(&text, &display)
                .map(|d| campaign_docs.push((display, d))),
            other => {
                loader.diags.push(
                    Diagnostic::error(
                        Code::H003,
                        &display,
                        pos(&kind),
                        format!("unknown kind `{other}`"),
                    )
                    .help("kind is one of `Template`, `Audience`, `Campaign`"),
                );
                None
            }
        };
    }
    let templates = loader.templates(template_docs, &project.policy);
    let audiences = loader.audiences(audience_docs);
    let campaigns = loader.campaigns(campaign_docs, &templates, &audiences, &project.policy);
    let Loader {
        diags,
        sources,
        files,
        ..
    } = loader;
    let mut diagnostics = diags;
    diagnostics.sort_by(|a, b| {
        (&a.primary.file, a.primary.pos, a.code).cmp(&(&b.primary.file, b.primary.pos, b.code))
    });
    Loaded {
        workspace: Workspace {
            root: root.to_path_buf(),
            project,
            templates,
            audiences,
            campaigns,
            files,
            clock: None,
        },
        diagnostics,
        sources,
    }
}

fn parse_time(raw: &str) -> Option<Time> {
    let (h, m) = raw.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn parse_window(doc: &WindowDoc) -> Result<Window, String> {
    let start = parse_time(&doc.start)
        .ok_or_else(|| format!("`{}` is not a time of day in HH:MM form", doc.start))?;
    let end = parse_time(&doc.end)
        .ok_or_else(|| format!("`{}` is not a time of day in HH:MM form", doc.end))?;
    if start == end {
        return Err("the window opens and closes at the same time".into());
    }
    Ok(Window { start, end })
}

/// Whether a name matches a denied pattern: a substring once both are folded
/// ([`crate::text::fold::fold`]: NFKC, case folding, the UTS #39 confusable skeleton), so a
/// look-alike letter (`сard` with a Cyrillic `с`) or full-width form matches too.
pub fn denied_pattern<'a>(name: &str, patterns: &'a [String]) -> Option<&'a str> {
    let folded = crate::text::fold::fold(name);
    patterns
        .iter()
        .find(|p| folded.contains(&crate::text::fold::fold(p)))
        .map(String::as_str)
}

impl Loader {
    fn read(&mut self, path: &Path, display: &str) -> Option<String> {
        let cap = yaml::MAX_YAML_BYTES as u64;
        match self.boundary.read(path, cap) {
            Ok(bytes) => {
                self.files.insert(display.to_owned(), hash::sha256(&bytes));
                if let Ok(text) = String::from_utf8(bytes) {
                    let text = text
                        .strip_prefix('\u{FEFF}')
                        .map(str::to_owned)
                        .unwrap_or(text);
                    self.sources.insert(display, &text);
                    Some(text)
                } else {
                    self.diags.push(Diagnostic::error(
                        Code::H001,
                        display,
                        None,
                        "file is not valid UTF-8",
                    ));
                    None
                }
            }
            Err(refusal) => {
                self.refuse(display, None, "the file", &refusal, cap);
                None
            }
        }
    }

    /// Reports a refused path at `display` (line 1 unless `at` says where it is named).
    fn refuse(&mut self, display: &str, at: Option<Pos>, what: &str, refusal: &Refusal, cap: u64) {
        let code = match refusal {
            Refusal::Outside | Refusal::Private => Code::H006,
            Refusal::NotRegular(_) => Code::H007,
            Refusal::TooLarge(_) => Code::H008,
            Refusal::Missing | Refusal::Io(_) => Code::H001,
        };
        // A refused document is reported at its first line (it is never read, so there is no
        // excerpt); a directory has no lines.
        let at = at.or(match refusal {
            Refusal::Missing | Refusal::Io(_) => None,
            _ if what != "the file" => None,
            _ => Some(Pos { line: 1, column: 1 }),
        });
        let message = match refusal {
            Refusal::Missing if what == "the file" => {
                "cannot read file: it does not exist (a dangling symlink?)".to_owned()
            }
            _ => refusal.describe(what, cap),
        };
        let help = match refusal {
            Refusal::Outside | Refusal::Private => Some(
                "documents, audience data and configured directories must be inside the workspace root (symlinks may point only inside it, never into .herald/ or at a secret file); copy the file in instead",
            ),
            Refusal::NotRegular(_) => Some("workspace files must be regular files"),
            Refusal::TooLarge(_) => {
                Some("split the document, or move bulk data into an audience file")
            }
            Refusal::Missing | Refusal::Io(_) => None,
        };
        let mut d = Diagnostic::error(code, display, at, message);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(d);
    }

    fn parse<T: serde::de::DeserializeOwned>(&mut self, text: &str, display: &str) -> Option<T> {
        match yaml::from_str::<T>(text) {
            Ok(doc) => Some(doc),
            Err(e) => {
                self.unparsed = true;
                self.diags
                    .push(Diagnostic::error(Code::H002, display, e.pos, e.message));
                None
            }
        }
    }

    fn load_project(&mut self) -> Project {
        let path = self.root.join(PROJECT_FILE);
        let doc = self
            .read(&path, PROJECT_FILE)
            .and_then(|text| self.parse::<ProjectDoc>(&text, PROJECT_FILE));
        let doc = doc.unwrap_or_else(|| ProjectDoc {
            environments: BTreeMap::new(),
            default_environment: None,
            directories: None,
            policy: crate::spec::PolicyDoc::default(),
        });
        let mut environments = BTreeMap::new();
        environments.insert(
            "sandbox".to_owned(),
            env_from_doc(
                "sandbox",
                &EnvironmentDoc {
                    target: Target::Sandbox,
                    region: None,
                    base_url: None,
                    library: None,
                    ledger: None,
                    client_id: None,
                    secret_file: None,
                    credential_command: None,
                    webhook_secret_file: None,
                    rate_per_minute: None,
                },
            ),
        );
        for (name, env) in &doc.environments {
            if env.target == Target::Genesys && env.region.is_none() && env.base_url.is_none() {
                // Region may come from GENESYSCLOUD_REGION at run time; nothing to report here.
            }
            if env.target == Target::Genesys
                && let Some(url) = &env.base_url
                && let Some(d) = base_url_diagnostic(name, url)
            {
                self.diags.push(d);
            }
            if env.rate_per_minute == Some(0) {
                self.diags.push(Diagnostic::error(
                    Code::H011,
                    PROJECT_FILE,
                    None,
                    format!("environment `{name}`: rate_per_minute must be at least 1"),
                ));
            }
            environments.insert(name.clone(), env_from_doc(name, env));
        }
        let default_environment = match &doc.default_environment {
            Some(d) if !environments.contains_key(&d.value) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::H011,
                        PROJECT_FILE,
                        pos(d),
                        format!("default_environment `{}` is not defined", d.value),
                    )
                    .help(format!(
                        "define it under `environments`, or use one of: {}",
                        environments.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                );
                "sandbox".to_owned()
            }
            Some(d) => d.value.clone(),
            None => "sandbox".to_owned(),
        };
        let send_window = match &doc.policy.send_window {
            None => Some(Window {
                start: Time::constant(8, 0, 0, 0),
                end: Time::constant(21, 0, 0, 0),
            }),
            Some(SendWindowDoc::None(_)) => {
                self.policy_window_none = true;
                None
            }
            Some(SendWindowDoc::Window(w)) => match parse_window(w) {
                Ok(w) => Some(w),
                Err(e) => {
                    self.diags.push(Diagnostic::error(
                        Code::H012,
                        PROJECT_FILE,
                        None,
                        format!("policy.send_window: {e}"),
                    ));
                    None
                }
            },
        };
        let state_rules = self.state_rules(&doc.policy);
        let deny = doc
            .policy
            .deny_variable_patterns
            .clone()
            .unwrap_or_else(|| {
                DEFAULT_DENY_PATTERNS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            })
            .into_iter()
            .map(|p| p.to_lowercase())
            .collect();
        let frequency_caps = self.frequency_caps(&doc.policy);
        let (consent_expiry, zone_overrides) = self.consent_and_zones(&doc.policy);
        let keyword_replies = self.keyword_replies(&doc.policy);
        Project {
            environments,
            default_environment,
            directories: doc
                .directories
                .clone()
                .unwrap_or_else(|| vec!["templates".into(), "campaigns".into()]),
            policy: Policy {
                send_window,
                max_recipients_per_apply: doc.policy.max_recipients_per_apply.unwrap_or(50_000),
                deny_variable_patterns: deny,
                extra_opt_out_keywords: doc
                    .policy
                    .extra_opt_out_keywords
                    .clone()
                    .unwrap_or_default(),
                frequency_caps,
                state_rules,
                postal_address: doc
                    .policy
                    .postal_address
                    .clone()
                    .filter(|a| !a.trim().is_empty()),
                dnc_express_consent_column: doc
                    .policy
                    .dnc
                    .as_ref()
                    .and_then(|d| d.express_consent_column.clone())
                    .filter(|c| !c.trim().is_empty()),
                require_consent_evidence: doc.policy.require_consent_evidence.unwrap_or(false),
                consent_expiry,
                zone_overrides,
                keyword_replies,
            },
        }
    }

    /// Validates `policy.keyword_replies`; each invalid field is an error naming it (H017),
    /// and then no reply is configured.
    fn keyword_replies(
        &mut self,
        policy: &crate::spec::PolicyDoc,
    ) -> Option<crate::spec::model::KeywordReplies> {
        let doc = policy.keyword_replies.as_ref()?;
        let extra = policy.extra_opt_out_keywords.clone().unwrap_or_default();
        match compliance::keyword_replies(doc, &extra) {
            Ok(replies) => Some(replies),
            Err(errors) => {
                let at = self
                    .sources
                    .get(PROJECT_FILE)
                    .and_then(|text| list_item_pos(text, "policy", "keyword_replies"));
                for (field, message) in errors {
                    self.diags.push(Diagnostic::error(
                        Code::H017,
                        PROJECT_FILE,
                        at,
                        format!("policy.keyword_replies.{field}: {message}"),
                    ));
                }
                None
            }
        }
    }

    /// Validates `policy.consent_expiry` (default: CASL's two years for implied consent to
    /// Canadian numbers) and `policy.zone_overrides`; every invalid field is an error naming it
    /// (H017) and is left out.
    fn consent_and_zones(
        &mut self,
        policy: &crate::spec::PolicyDoc,
    ) -> (
        Vec<crate::spec::consent::ConsentExpiry>,
        Vec<crate::spec::consent::ZoneOverride>,
    ) {
        use crate::spec::consent;
        let mut errors = Vec::new();
        let expiry = match &policy.consent_expiry {
            None => consent::default_expiries(),
            Some(docs) => consent::expiries(docs).unwrap_or_else(|e| {
                errors.extend(e.into_iter().map(|e| ("consent_expiry", e)));
                Vec::new()
            }),
        };
        let zones = match &policy.zone_overrides {
            None => Vec::new(),
            Some(docs) => consent::zone_overrides(docs).unwrap_or_else(|e| {
                errors.extend(e.into_iter().map(|e| ("zone_overrides", e)));
                Vec::new()
            }),
        };
        for (key, (field, message)) in errors {
            let at = self
                .sources
                .get(PROJECT_FILE)
                .and_then(|text| list_item_pos(text, "policy", key));
            self.diags.push(Diagnostic::error(
                Code::H017,
                PROJECT_FILE,
                at,
                format!("{field}: {message}"),
            ));
        }
        (expiry, zones)
    }

    /// Validates `policy.frequency_caps`; an invalid entry is reported (H018) at its line and
    /// left out.
    fn frequency_caps(
        &mut self,
        policy: &crate::spec::PolicyDoc,
    ) -> Vec<crate::spec::caps::FrequencyCap> {
        let mut caps = Vec::new();
        for (i, entry) in policy.frequency_caps.iter().flatten().enumerate() {
            match crate::spec::caps::validate_cap(&entry.value) {
                Ok(cap) => caps.push(cap),
                Err((field, e)) => self.diags.push(Diagnostic::error(
                    Code::H018,
                    PROJECT_FILE,
                    pos(entry),
                    format!("policy.frequency_caps[{i}].{field}: {e}"),
                )),
            }
        }
        caps
    }

    /// The effective state rules: the built-in table with `policy.state_rules` applied. Every
    /// invalid field is an error naming it (H016); the built-in table stays in force.
    fn state_rules(&mut self, policy: &crate::spec::PolicyDoc) -> StateRules {
        let overrides = policy.state_rules.clone().unwrap_or_default();
        match StateRules::configured(&overrides, policy.state_rules_apply_to.as_deref()) {
            Ok(rules) => rules,
            Err(errors) => {
                let at = self
                    .sources
                    .get(PROJECT_FILE)
                    .and_then(|text| list_item_pos(text, "policy", "state_rules"));
                for e in errors {
                    self.diags.push(Diagnostic::error(
                        Code::H016,
                        PROJECT_FILE,
                        at,
                        format!("{}: {}", e.field, e.message),
                    ));
                }
                StateRules::built_in()
            }
        }
    }

    /// Finds every YAML document under the configured directories. Each directory must be
    /// inside the workspace; symlinks are followed only inside it, each real directory is
    /// walked once (loop-safe), and two paths to one file yield it once.
    fn discover(&mut self, project: &Project) -> Vec<PathBuf> {
        for env in project.environments.values() {
            for p in [&env.secret_file, &env.webhook_secret_file, &env.ledger]
                .into_iter()
                .flatten()
            {
                self.boundary.add_private(p);
            }
        }
        let project_text = self.sources.get(PROJECT_FILE).map(str::to_owned);
        let mut visited: BTreeSet<PathBuf> = BTreeSet::new();
        let mut candidates = BTreeSet::new();
        for dir in &project.directories {
            let start = self.root.join(dir);
            let resolved = if escapes(Path::new(dir)) {
                Err(Refusal::Outside)
            } else {
                self.boundary.resolve(&start)
            };
            let real = match resolved {
                Ok(real) => real,
                Err(Refusal::Missing) => continue,
                Err(refusal) => {
                    let at = project_text
                        .as_deref()
                        .and_then(|t| list_item_pos(t, "directories", dir));
                    self.refuse(PROJECT_FILE, at, &format!("directory `{dir}`"), &refusal, 0);
                    continue;
                }
            };
            if !real.is_dir() || !visited.insert(real.clone()) {
                continue;
            }
            let mut stack = vec![start];
            while let Some(d) = stack.pop() {
                let Ok(entries) = fs_err::read_dir(&d) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let Ok(ft) = entry.file_type() else { continue };
                    let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
                    if ft.is_dir() || ft.is_symlink() {
                        let target_is_dir = ft.is_dir() || path.is_dir();
                        if !target_is_dir {
                            if is_yaml {
                                candidates.insert(path);
                            }
                            continue;
                        }
                        match self.boundary.resolve(&path) {
                            Ok(real) => {
                                if visited.insert(real) {
                                    stack.push(path);
                                }
                            }
                            Err(refusal) => {
                                let display = rel(&self.root, &path);
                                self.refuse(&display, None, "the directory", &refusal, 0);
                            }
                        }
                    } else if is_yaml {
                        candidates.insert(path);
                    }
                }
            }
        }
        // One file reached by two paths (a symlink inside the workspace) is one document.
        let mut seen = BTreeSet::new();
        candidates
            .into_iter()
            .filter(|p| match std::fs::canonicalize(p) {
                Ok(real) => seen.insert(real),
                Err(_) => true,
            })
            .collect()
    }

    /// Reports a second document of a kind with the same name; true when it is one.
    fn is_duplicate(
        &mut self,
        kind: &str,
        file: &str,
        at: Option<Pos>,
        name: &Name,
        first: Option<&Origin>,
    ) -> bool {
        let Some(first) = first else { return false };
        let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        self.diags.push(
            Diagnostic::error(
                Code::H004,
                file,
                at,
                format!("{article} {kind} named `{name}` is already defined"),
            )
            .related(&first.file, first.pos, "first defined here"),
        );
        true
    }

    fn name(&mut self, display: &str, raw: &Spanned<String>) -> Option<Name> {
        match Name::parse(&raw.value) {
            Ok(n) => Some(n),
            Err(e) => {
                self.diags
                    .push(Diagnostic::error(Code::H005, display, pos(raw), e));
                None
            }
        }
    }

    fn templates(
        &mut self,
        docs: Vec<(String, TemplateDoc)>,
        policy: &Policy,
    ) -> BTreeMap<Name, Template> {
        let mut out: BTreeMap<Name, Template> = BTreeMap::new();
        for (file, doc) in docs {
            let Some(name) = self.name(&file, &doc.name) else {
                continue;
            };
            if self.is_duplicate(
                "template",
                &file,
                pos(&doc.name),
                &name,
                out.get(&name).map(|x| &x.origin),
            ) {
                continue;
            }
            let before = self.diags.len();
            self.check_hidden_template(&file, &doc);
            let content = self.template_content(&file, &doc);
            let mut previous_names = Vec::new();
            for p in &doc.previous_names {
                match Name::parse(p) {
                    Ok(n) => previous_names.push(n),
                    Err(e) => self.diags.push(Diagnostic::error(
                        Code::H005,
                        &file,
                        pos(&doc.name),
                        format!("previous_names: {e}"),
                    )),
                }
            }
            let variables: BTreeMap<String, Variable> = doc
                .variables
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Variable {
                            description: v.value.description.clone(),
                            example: v.value.example.clone(),
                            max_length: v.value.max_length,
                        },
                    )
                })
                .collect();
            let variable_pos: BTreeMap<String, Option<Pos>> = doc
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), pos(v)))
                .collect();
            let origin = Origin {
                file: file.clone(),
                pos: pos(&doc.name),
            };
            if content.is_none() {
                self.invalid.insert(format!("template:{name}"));
            }
            if let Some(content) = content {
                self.check_template(&file, &doc, &content, &variable_pos, policy);
                if self.diags[before..]
                    .iter()
                    .any(|d| d.severity == crate::diag::Severity::Error)
                {
                    self.invalid.insert(format!("template:{name}"));
                    continue;
                }
                let hash =
                    hash::template_hash(&name, doc.channel, doc.category, &content, &variables);
                out.insert(
                    name.clone(),
                    Template {
                        name,
                        channel: doc.channel,
                        category: doc.category,
                        status: doc.status,
                        previous_names,
                        description: doc.description.clone(),
                        content,
                        variables,
                        hash,
                        origin,
                        variable_pos,
                    },
                );
            }
        }
        out
    }

    /// H143: a control, bidirectional or invisible format character in a text a reviewer
    /// reads (the message texts, the description, variable names, descriptions and examples).
    /// A terminal, a pull-request page or a phone could hide or reorder text around it, so what
    /// the reviewer saw would not be what the recipient gets.
    fn check_hidden_template(&mut self, file: &str, doc: &TemplateDoc) {
        for (field, value) in [
            ("body", &doc.body),
            ("subject", &doc.subject),
            ("html", &doc.html),
            ("text", &doc.text),
        ] {
            if let Some(v) = value {
                self.hidden(file, pos(v), field, &v.value);
            }
        }
        if let Some(d) = &doc.description {
            self.hidden(file, pos(&doc.name), "description", d);
        }
        for (name, v) in &doc.variables {
            let at = pos(v);
            self.hidden(file, at, "variable name", name);
            if let Some(d) = &v.value.description {
                self.hidden(file, at, &format!("variables.{name}.description"), d);
            }
            if let Some(x) = &v.value.example {
                self.hidden(file, at, &format!("variables.{name}.example"), x);
            }
        }
    }

    /// H144: a variable or column name whose letters mix scripts the way look-alike spellings
    /// do (a Cyrillic `с` among Latin letters): reviewers would read it as another name.
    fn mixed_script(&mut self, file: &str, at: Option<Pos>, what: &str, name: &str) {
        if !crate::text::fold::mixes_scripts(name) {
            return;
        }
        let shown = crate::text::visible::escape_hidden(name);
        let odd: Vec<String> = name
            .chars()
            .filter(|c| !c.is_ascii() && c.is_alphabetic())
            .map(|c| format!("`{c}` U+{:04X}", u32::from(c)))
            .collect();
        self.diags.push(
            Diagnostic::error(
                Code::H144,
                file,
                at,
                format!(
                    "{what} name `{shown}` mixes scripts: {} among letters of another script",
                    odd.join(", ")
                ),
            )
            .help("write the name in one script: a look-alike letter from another script makes one name read as another"),
        );
    }

    /// Reports the first hidden character of `text` (H143), named by code point, never raw.
    fn hidden(&mut self, file: &str, at: Option<Pos>, field: &str, text: &str) {
        let Some((line, column, c)) = crate::text::visible::find_hidden(text) else {
            return;
        };
        let field = crate::text::visible::escape_hidden(field);
        self.diags.push(
            Diagnostic::error(
                Code::H143,
                file,
                at,
                format!(
                    "`{field}` contains the invisible or control character {} (line {line}, column {column} of the value)",
                    crate::text::visible::describe(c)
                ),
            )
            .help("control characters, escape sequences, bidirectional controls and invisible format characters can hide or reorder text on a terminal, a review page or a phone, so a reviewer would not see what is sent; remove it"),
        );
    }

    fn template_content(&mut self, file: &str, doc: &TemplateDoc) -> Option<Content> {
        let norm = |s: &Option<Spanned<String>>| s.as_ref().map(|s| hash::normalize_text(&s.value));
        match doc.channel {
            Channel::Sms => {
                for (field, value) in [
                    ("subject", &doc.subject),
                    ("html", &doc.html),
                    ("text", &doc.text),
                ] {
                    if let Some(v) = value {
                        self.diags.push(
                            Diagnostic::error(Code::H104, file, pos(v), format!("an SMS template has no `{field}`"))
                                .help("SMS templates have a `body`; `subject`, `html` and `text` are for email"),
                        );
                    }
                }
                match norm(&doc.body) {
                    Some(body) if !body.is_empty() => Some(Content::Sms { body }),
                    _ => {
                        self.diags.push(Diagnostic::error(
                            Code::H104,
                            file,
                            pos(&doc.name),
                            "an SMS template needs a non-empty `body`",
                        ));
                        None
                    }
                }
            }
            Channel::Email => {
                if let Some(b) = &doc.body {
                    self.diags.push(
                        Diagnostic::error(
                            Code::H104,
                            file,
                            pos(b),
                            "an email template has no `body`",
                        )
                        .help("email templates have `subject`, `html` and optionally `text`"),
                    );
                }
                let subject = norm(&doc.subject).filter(|s| !s.is_empty());
                let html = norm(&doc.html).filter(|s| !s.is_empty());
                if subject.is_none() {
                    self.diags.push(Diagnostic::error(
                        Code::H104,
                        file,
                        pos(&doc.name),
                        "an email template needs a non-empty `subject`",
                    ));
                }
                if html.is_none() {
                    self.diags.push(Diagnostic::error(
                        Code::H104,
                        file,
                        pos(&doc.name),
                        "an email template needs a non-empty `html` body",
                    ));
                }
                if let Some(s) = &subject
                    && s.chars().count() > 400
                {
                    self.diags.push(Diagnostic::error(
                        Code::H104,
                        file,
                        doc.subject.as_ref().and_then(pos),
                        "an email subject is at most 400 characters (Genesys agentless email)",
                    ));
                }
                Some(Content::Email {
                    subject: subject?,
                    html: html?,
                    text: norm(&doc.text),
                })
            }
        }
    }

    fn check_template(
        &mut self,
        file: &str,
        doc: &TemplateDoc,
        content: &Content,
        variable_pos: &BTreeMap<String, Option<Pos>>,
        policy: &Policy,
    ) {
        let spans: BTreeMap<&str, Option<Pos>> = [
            ("body", &doc.body),
            ("subject", &doc.subject),
            ("html", &doc.html),
            ("text", &doc.text),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, pos(v))))
        .collect();
        let mut used = BTreeSet::new();
        for (field, text) in content.texts() {
            let field_pos = spans.get(field).copied().flatten();
            let (placeholders, errors) = parse_placeholders(text);
            for e in errors {
                self.diags.push(
                    Diagnostic::error(Code::H103, file, field_pos, format!("`{field}`: {}", e.message))
                        .help("placeholders are written `{{name}}`, exactly as Genesys does; there is no escaping"),
                );
            }
            let mut reported = BTreeSet::new();
            for p in placeholders {
                used.insert(p.name.clone());
                if !variable_pos.contains_key(&p.name) && reported.insert(p.name.clone()) {
                    let trimmed = p.name.trim();
                    let help = if trimmed != p.name && variable_pos.contains_key(trimmed) {
                        format!(
                            "remove the spaces: write `{{{{{trimmed}}}}}` (Genesys ids are matched exactly)"
                        )
                    } else {
                        format!(
                            "declare it under `variables:` as `{}: {{ description: … }}`, or fix the spelling",
                            p.name
                        )
                    };
                    self.diags.push(
                        Diagnostic::error(Code::H101, file, field_pos, format!("placeholder `{{{{{}}}}}` in `{field}` is not declared in `variables`", p.name))
                            .help(help),
                    );
                }
            }
        }
        for (var, vpos) in variable_pos {
            if !used.contains(var) {
                self.diags.push(
                    Diagnostic::error(
                        Code::H102,
                        file,
                        *vpos,
                        format!("variable `{var}` is declared but no text uses `{{{{{var}}}}}`"),
                    )
                    .help("remove the declaration, or use it in the text"),
                );
            }
            self.mixed_script(file, *vpos, "variable", var);
            if let Some(p) = denied_pattern(var, &policy.deny_variable_patterns) {
                self.diags.push(
                    Diagnostic::error(Code::H130, file, *vpos, format!("variable `{var}` matches the denied pattern `{p}`"))
                        .help("card, health and credential data must never be put in a message (PCI DSS, HIPAA); change policy.deny_variable_patterns only after review"),
                );
            }
        }
        if doc.category == Category::Marketing {
            self.marketing_lints(file, content, &spans, policy);
        }
        if let Content::Sms { body } = content {
            // Length with example values: a first warning before any data is read.
            let values: BTreeMap<String, String> = doc
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.value.example.clone().unwrap_or_default()))
                .collect();
            if let Ok(rendered) = crate::text::substitute(body, &values) {
                let info = crate::text::analyze_sms(&rendered);
                if info.chars > crate::text::AGENTLESS_SMS_MAX_CHARS {
                    self.diags.push(
                        Diagnostic::error(Code::H150, file, spans.get("body").copied().flatten(), format!("rendered with the example values the SMS is {} characters; the agentless API accepts at most 765", info.chars))
                            .help("shorten the text"),
                    );
                }
            }
        }
    }

    /// H140–H142: what a marketing message must carry, checked structurally
    /// ([`compliance`]).
    fn marketing_lints(
        &mut self,
        file: &str,
        content: &Content,
        spans: &BTreeMap<&str, Option<Pos>>,
        policy: &Policy,
    ) {
        let at = |field: &str| spans.get(field).copied().flatten();
        match content {
            Content::Sms { body } => {
                if !compliance::sms_has_opt_out(body, &policy.extra_opt_out_keywords) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::H140,
                            file,
                            at("body"),
                            "marketing SMS without opt-out instructions (a recognised instruction such as `Reply STOP to opt out`; a keyword alone, or a word containing \"stop\", is not one)",
                        )
                        .help("add an instruction naming the keyword and what it does, e.g. `Reply STOP to opt out.`, `Text STOP to cancel` or `STOP to end` (CTIA Messaging Principles; TCPA revocation rules)"),
                    );
                }
            }
            Content::Email { html, text, .. } => {
                if !compliance::html_has_unsubscribe_link(html) {
                    self.diags.push(
                        Diagnostic::error(Code::H141, file, at("html"), "marketing email without a visible unsubscribe link in its HTML part")
                            .help("add a link whose text (or the sentence around it) says unsubscribe, outside comments and hidden elements, e.g. `<a href=\"{{unsubscribe_url}}\">Unsubscribe</a>` (CAN-SPAM, 15 U.S.C. 7704(a)(3))"),
                    );
                }
                if let Some(t) = text
                    && !compliance::text_has_unsubscribe_url(t)
                {
                    self.diags.push(
                        Diagnostic::error(Code::H141, file, at("text"), "marketing email without an unsubscribe URL in its plain-text part")
                            .help("add a line such as `Unsubscribe: {{unsubscribe_url}}`: a reader of the plain-text part must be able to opt out too (CAN-SPAM)"),
                    );
                }
                match &policy.postal_address {
                    None => self.diags.push(
                        Diagnostic::error(Code::H142, file, at("html"), "marketing email, but `policy.postal_address` is not declared")
                            .related(PROJECT_FILE, None, "declare it under `policy`")
                            .help("set `policy.postal_address` in herald.yaml to the sender's valid physical postal address; every marketing email must show it (CAN-SPAM, 15 U.S.C. 7704(a)(5)(A)(iii))"),
                    ),
                    Some(address) => {
                        let parts = [
                            ("html", Some(compliance::visible_text(html))),
                            ("text", text.clone()),
                        ];
                        for (field, part) in parts {
                            if let Some(part) = part
                                && !compliance::contains_address(&part, address)
                            {
                                self.diags.push(
                                    Diagnostic::error(Code::H142, file, at(field), format!("marketing email whose `{field}` part does not show the postal address declared in `policy.postal_address`"))
                                        .help(format!("write the address as declared, `{address}`, in the visible text (line breaks and punctuation between its words may differ) (CAN-SPAM, 15 U.S.C. 7704(a)(5)(A)(iii))")),
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    fn audiences(&mut self, docs: Vec<(String, AudienceDoc)>) -> BTreeMap<Name, Audience> {
        let mut out: BTreeMap<Name, Audience> = BTreeMap::new();
        for (file, doc) in docs {
            let Some(name) = self.name(&file, &doc.name) else {
                continue;
            };
            if self.is_duplicate(
                "audience",
                &file,
                pos(&doc.name),
                &name,
                out.get(&name).map(|x| &x.origin),
            ) {
                continue;
            }
            let base = self.root.join(&file);
            let dir = base.parent().unwrap_or(&self.root).to_path_buf();
            let (source, raw) = match &doc.source.value {
                SourceDoc::Csv(p) => (Source::Csv(dir.join(p)), p),
                SourceDoc::Jsonl(p) => (Source::Jsonl(dir.join(p)), p),
            };
            let what = format!("audience data file `{raw}`");
            let checked = if escapes(&Path::new(&file).parent().unwrap_or(Path::new("")).join(raw))
            {
                Err(Refusal::Outside)
            } else {
                self.boundary.check_file(source.path()).map(|_| ())
            };
            if let Err(refusal) = checked {
                self.invalid.insert(format!("audience:{name}"));
                if matches!(refusal, Refusal::Missing) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::H001,
                            &file,
                            pos(&doc.source),
                            format!("audience data file `{raw}` does not exist"),
                        )
                        .help("the path is relative to the audience file"),
                    );
                } else {
                    self.refuse(&file, pos(&doc.source), &what, &refusal, 0);
                }
                continue;
            }
            let source_display = rel(&self.root, source.path());
            let default_timezone = match &doc.default_timezone {
                None => None,
                Some(z) => {
                    if let Ok(tz) = jiff::tz::TimeZone::get(z.value.trim()) {
                        Some(tz)
                    } else {
                        self.invalid.insert(format!("audience:{name}"));
                        self.diags.push(
                            Diagnostic::error(
                                Code::H165,
                                &file,
                                pos(z),
                                format!(
                                    "default_timezone `{}` is not a known IANA time zone",
                                    z.value
                                ),
                            )
                            .help("use an IANA name such as `America/New_York`"),
                        );
                        continue;
                    }
                }
            };
            out.insert(
                name.clone(),
                Audience {
                    name,
                    source,
                    source_display,
                    key: doc.key.clone(),
                    address: doc.address.clone(),
                    timezone: doc.timezone.clone(),
                    default_timezone,
                    state: doc.state.clone(),
                    consent: doc.consent.clone(),
                    consent_evidence: doc.consent_evidence.clone().unwrap_or_default(),
                    consent_type: doc.consent_type.clone(),
                    origin: Origin {
                        file: file.clone(),
                        pos: pos(&doc.name),
                    },
                },
            );
        }
        out
    }

    fn campaigns(
        &mut self,
        docs: Vec<(String, CampaignDoc)>,
        templates: &BTreeMap<Name, Template>,
        audiences: &BTreeMap<Name, Audience>,
        policy: &Policy,
    ) -> BTreeMap<Name, Campaign> {
        let mut out: BTreeMap<Name, Campaign> = BTreeMap::new();
        for (file, doc) in docs {
            let Some(name) = self.name(&file, &doc.name) else {
                continue;
            };
            if self.is_duplicate(
                "campaign",
                &file,
                pos(&doc.name),
                &name,
                out.get(&name).map(|x| &x.origin),
            ) {
                continue;
            }
            let before = self.diags.len();
            if let Some(n) = &doc.from_name {
                self.hidden(&file, pos(&doc.from), "from_name", n);
            }
            if let Some(d) = &doc.description {
                self.hidden(&file, pos(&doc.name), "description", d);
            }
            for (var, source) in &doc.variables {
                self.hidden(&file, pos(source), "variable name", var);
                match &source.value {
                    VariableSourceDoc::Value(v) => {
                        self.hidden(&file, pos(source), &format!("variables.{var}.value"), v);
                    }
                    VariableSourceDoc::Column(c) => {
                        self.hidden(&file, pos(source), &format!("variables.{var}.column"), c);
                    }
                }
            }
            let template = Name::parse(&doc.template.value)
                .ok()
                .and_then(|n| templates.get(&n));
            match template {
                None if self.unparsed
                    || self
                        .invalid
                        .contains(&format!("template:{}", doc.template.value)) => {}
                None => self.diags.push(
                    Diagnostic::error(
                        Code::H110,
                        &file,
                        pos(&doc.template),
                        format!(
                            "template `{}` does not exist (or is invalid)",
                            doc.template.value
                        ),
                    )
                    .help(format!(
                        "known templates: {}",
                        templates
                            .keys()
                            .map(Name::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ),
                Some(t) if t.status == TemplateStatus::Draft => self.diags.push(
                    Diagnostic::error(
                        Code::H111,
                        &file,
                        pos(&doc.template),
                        format!("template `{}` is a draft; drafts are never sent", t.name),
                    )
                    .related(&t.origin.file, t.origin.pos, "the template")
                    .help("set `status: published` in the template once it is reviewed"),
                ),
                Some(_) => {}
            }
            let audience = Name::parse(&doc.audience.value)
                .ok()
                .and_then(|n| audiences.get(&n));
            if audience.is_none()
                && !self.unparsed
                && !self
                    .invalid
                    .contains(&format!("audience:{}", doc.audience.value))
            {
                self.diags.push(
                    Diagnostic::error(
                        Code::H112,
                        &file,
                        pos(&doc.audience),
                        format!(
                            "audience `{}` does not exist (or is invalid)",
                            doc.audience.value
                        ),
                    )
                    .help(format!(
                        "known audiences: {}",
                        audiences
                            .keys()
                            .map(Name::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
            if let Some(t) = template {
                self.check_mapping(&file, &doc, t, policy);
                match t.channel {
                    Channel::Sms => {
                        if let Err(e) = E164::parse(&doc.from.value) {
                            self.diags.push(Diagnostic::error(
                                Code::H170,
                                &file,
                                pos(&doc.from),
                                format!(
                                    "`from` must be a provisioned SMS number in E.164 form: {e}"
                                ),
                            ));
                        }
                    }
                    Channel::Email => {
                        if let Err(e) = Email::parse(&doc.from.value) {
                            self.diags.push(Diagnostic::error(
                                Code::H170,
                                &file,
                                pos(&doc.from),
                                format!("`from` must be a sender email address: {e}"),
                            ));
                        }
                        if let Some(r) = &doc.reply_to
                            && let Err(e) = Email::parse(r)
                        {
                            self.diags.push(Diagnostic::error(
                                Code::H170,
                                &file,
                                pos(&doc.from),
                                format!("`reply_to`: {e}"),
                            ));
                        }
                    }
                }
            }
            let (not_before, not_after) = doc
                .schedule
                .as_ref()
                .map_or((None, None), |s| (s.value.not_before, s.value.not_after));
            if let (Some(a), Some(b)) = (not_before, not_after)
                && b <= a
            {
                self.diags.push(Diagnostic::error(
                    Code::H171,
                    &file,
                    doc.schedule.as_ref().and_then(pos),
                    "schedule.not_after is not after schedule.not_before",
                ));
            }
            if let Some(r) = &doc.rate_per_minute
                && r.value == 0
            {
                self.diags.push(Diagnostic::error(
                    Code::H172,
                    &file,
                    pos(r),
                    "rate_per_minute must be at least 1",
                ));
            }
            let dispatch = self.campaign_dispatch(&file, &doc, template);
            let send_window = match doc.send_window.as_ref().map(|w| &w.value) {
                None => policy.send_window,
                Some(SendWindowDoc::None(_)) => None,
                Some(SendWindowDoc::Window(w)) => match parse_window(w) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        self.diags.push(Diagnostic::error(
                            Code::H012,
                            &file,
                            pos(&doc.name),
                            format!("send_window: {e}"),
                        ));
                        None
                    }
                },
            };
            // Only a literal `none` (here or inherited): an invalid window is reported as such.
            let window_none = match doc.send_window.as_ref().map(|w| &w.value) {
                None => self.policy_window_none,
                Some(w) => matches!(w, SendWindowDoc::None(_)),
            };
            if let Some(t) = template
                && t.category == Category::Marketing
                && window_none
            {
                self.quiet_hours_required(&file, &doc, t);
            }
            if let Some(w) = send_window {
                self.window_within_bounds(&file, &doc, template, w, policy.send_window);
            }
            if let (Some(t), Some(a)) = (template, audience)
                && t.category == Category::Marketing
                && t.channel == Channel::Sms
            {
                self.consent_required(&file, &doc, a, policy);
            }
            if self.diags[before..]
                .iter()
                .any(|d| d.severity == crate::diag::Severity::Error)
            {
                continue;
            }
            let (Some(t), Some(a)) = (template, audience) else {
                continue;
            };
            out.insert(
                name.clone(),
                Campaign {
                    name,
                    template: t.name.clone(),
                    audience: a.name.clone(),
                    from: doc.from.value.clone(),
                    from_name: doc.from_name.clone(),
                    reply_to: doc.reply_to.clone(),
                    variables: doc
                        .variables
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                match &v.value {
                                    VariableSourceDoc::Column(c) => {
                                        VariableSource::Column(c.clone())
                                    }
                                    VariableSourceDoc::Value(s) => VariableSource::Value(s.clone()),
                                },
                            )
                        })
                        .collect(),
                    not_before,
                    not_after,
                    active: doc.status == CampaignStatus::Active,
                    rate_per_minute: doc.rate_per_minute.as_ref().map(|r| r.value),
                    send_window,
                    dedupe_by: doc.dedupe_by,
                    dispatch,
                    origin: Origin {
                        file: file.clone(),
                        pos: pos(&doc.name),
                    },
                },
            );
        }
        out
    }

    /// A marketing SMS campaign's audience must name its consent column (TCPA: prior express
    /// written consent, 47 CFR 64.1200(a)(2)), and, with `policy.require_consent_evidence`,
    /// the columns holding the consent's timestamp and source (H177).
    fn consent_required(&mut self, file: &str, doc: &CampaignDoc, a: &Audience, policy: &Policy) {
        let mut missing = Vec::new();
        if a.consent.is_none() {
            missing.push("a consent column (`consent`)");
        }
        if policy.require_consent_evidence {
            if a.consent_evidence.timestamp.is_none() {
                missing.push("a consent timestamp column (`consent_evidence.timestamp`)");
            }
            if a.consent_evidence.source.is_none() {
                missing.push("a consent source column (`consent_evidence.source`)");
            }
        }
        if missing.is_empty() {
            return;
        }
        self.diags.push(
            Diagnostic::error(
                Code::H177,
                file,
                pos(&doc.audience),
                format!(
                    "marketing campaign `{}` sends texts to audience `{}`, which names no {}",
                    doc.name.value,
                    a.name,
                    missing
                        .iter()
                        .map(|m| m.trim_start_matches("a "))
                        .collect::<Vec<_>>()
                        .join(" and no ")
                ),
            )
            .related(&a.origin.file, a.origin.pos, "the audience")
            .help("marketing texts need the recipient's prior express written consent (47 CFR 64.1200(a)(2)): name the audience column that records it, e.g. `consent: sms_opt_in`; rows that do not say yes are skipped"),
        );
    }

    /// The campaign's dispatch: `agentless` unless `dispatch: messaging-campaign`, which needs
    /// `messages_per_minute` (at least 1; at most [`EMAIL_CAMPAIGN_MAX_PER_MINUTE`] for email)
    /// and takes no `rate_per_minute` (herald does not pace a Genesys campaign). Each problem
    /// is an H181 error at the field.
    fn campaign_dispatch(
        &mut self,
        file: &str,
        doc: &CampaignDoc,
        template: Option<&Template>,
    ) -> Dispatch {
        let kind = doc
            .dispatch
            .as_ref()
            .map_or(DispatchDoc::Agentless, |d| d.value);
        let mpm = doc.messages_per_minute.as_ref();
        match kind {
            DispatchDoc::Agentless => {
                if let Some(m) = mpm {
                    self.diags.push(
                        Diagnostic::error(
                            Code::H181,
                            file,
                            pos(m),
                            "messages_per_minute applies only to `dispatch: messaging-campaign`",
                        )
                        .help(
                            "set `dispatch: messaging-campaign`, or pace agentless sends with `rate_per_minute`",
                        ),
                    );
                }
                Dispatch::Agentless
            }
            DispatchDoc::MessagingCampaign => {
                let at = doc.dispatch.as_ref().and_then(pos);
                if let Some(r) = &doc.rate_per_minute {
                    self.diags.push(
                        Diagnostic::error(
                            Code::H181,
                            file,
                            pos(r),
                            "rate_per_minute applies only to agentless dispatch: Genesys paces a messaging campaign",
                        )
                        .help("use `messages_per_minute` instead"),
                    );
                }
                let Some(m) = mpm else {
                    self.diags.push(
                        Diagnostic::error(
                            Code::H181,
                            file,
                            at,
                            "`dispatch: messaging-campaign` needs `messages_per_minute`",
                        )
                        .help("add e.g. `messages_per_minute: 100`"),
                    );
                    return Dispatch::Agentless;
                };
                if m.value == 0 {
                    self.diags.push(Diagnostic::error(
                        Code::H181,
                        file,
                        pos(m),
                        "messages_per_minute must be at least 1",
                    ));
                } else if template.is_some_and(|t| t.channel == Channel::Email)
                    && m.value > EMAIL_CAMPAIGN_MAX_PER_MINUTE
                {
                    self.diags.push(Diagnostic::error(
                        Code::H181,
                        file,
                        pos(m),
                        format!(
                            "messages_per_minute {} is above {EMAIL_CAMPAIGN_MAX_PER_MINUTE}, Genesys' cap on outbound email campaigns per org",
                            m.value
                        ),
                    ));
                }
                Dispatch::MessagingCampaign {
                    messages_per_minute: m.value,
                }
            }
        }
    }

    /// A marketing template sent without quiet hours (`send_window: none`, on the campaign or
    /// inherited from the policy): marketing messages must respect the recipient's local
    /// calling hours (TCPA, 47 CFR 64.1200(c)(1)), so there is no opting out of the window.
    fn quiet_hours_required(&mut self, file: &str, doc: &CampaignDoc, t: &Template) {
        let explicit = doc
            .send_window
            .as_ref()
            .filter(|w| matches!(w.value, SendWindowDoc::None(_)));
        let mut d = Diagnostic::error(
            Code::H173,
            file,
            explicit.and_then(pos).or_else(|| pos(&doc.name)),
            format!(
                "marketing template `{}` is used without quiet hours (`send_window: none`)",
                t.name
            ),
        )
        .related(&t.origin.file, t.origin.pos, "the marketing template");
        if explicit.is_none() {
            d = d.related(
                PROJECT_FILE,
                self.sources
                    .get(PROJECT_FILE)
                    .and_then(|text| list_item_pos(text, "policy", "send_window")),
                "`policy.send_window: none` applies to this campaign",
            );
        }
        self.diags.push(d.help(
            "quiet hours are not optional for marketing: give the campaign a `send_window` (e.g. `{ start: \"08:00\", end: \"21:00\" }`) or remove `send_window: none`",
        ));
    }

    /// A campaign's window only narrows the policy's and, for marketing, the federal
    /// 08:00–21:00 (`local_time::timing` intersects them). A marketing window that wraps
    /// midnight, or a window whose intersection is empty (nothing could ever go), is `H175`.
    fn window_within_bounds(
        &mut self,
        file: &str,
        doc: &CampaignDoc,
        template: Option<&Template>,
        window: Window,
        policy: Option<Window>,
    ) {
        let own = doc
            .send_window
            .as_ref()
            .filter(|w| matches!(w.value, SendWindowDoc::Window(_)));
        let marketing = template.is_some_and(|t| t.category == Category::Marketing);
        let federal = crate::local_time::FEDERAL_WINDOW;
        let text =
            |w: &Window| format!("{}–{}", w.start.strftime("%H:%M"), w.end.strftime("%H:%M"));
        let message = if marketing && window.start > window.end {
            format!(
                "marketing campaign `{}` has a send window that wraps midnight ({}): marketing messages may go only between 08:00 and 21:00 at the recipient's location",
                doc.name.value,
                text(&window)
            )
        } else {
            let bounds: Vec<Window> = [Some(window), policy, marketing.then_some(federal)]
                .into_iter()
                .flatten()
                .collect();
            // Windows are whole minutes: the intersection is empty when no minute is in all.
            let open = (0..24i8)
                .flat_map(|h| (0..60i8).filter_map(move |m| Time::new(h, m, 0, 0).ok()))
                .any(|t| bounds.iter().all(|w| w.contains(t)));
            if open {
                return;
            }
            let mut limits = Vec::new();
            if let Some(p) = policy.filter(|p| *p != window) {
                limits.push(format!("`policy.send_window` {}", text(&p)));
            }
            if marketing {
                limits.push(format!(
                    "the federal window for marketing {}",
                    text(&federal)
                ));
            }
            format!(
                "the send window {} of campaign `{}` never overlaps {}: a campaign window can only narrow them, so no message could ever go",
                text(&window),
                doc.name.value,
                limits.join(" and ")
            )
        };
        let mut d = Diagnostic::error(
            Code::H175,
            file,
            own.and_then(pos).or_else(|| pos(&doc.name)),
            message,
        );
        if own.is_none() {
            d = d.related(
                PROJECT_FILE,
                self.sources
                    .get(PROJECT_FILE)
                    .and_then(|text| list_item_pos(text, "policy", "send_window")),
                "`policy.send_window` applies to this campaign",
            );
        }
        self.diags.push(d.help(if marketing {
            "give the campaign a window inside 08:00–21:00 that does not wrap midnight, e.g. `send_window: { start: \"08:00\", end: \"21:00\" }` (state rules may narrow it further)"
        } else {
            "give the campaign a window that overlaps `policy.send_window`, or `send_window: none` for a notice that may go at any hour"
        }));
    }

    /// The guide's trap: the campaign must map every template variable, exactly.
    fn check_mapping(&mut self, file: &str, doc: &CampaignDoc, t: &Template, policy: &Policy) {
        let campaign_pos = pos(&doc.name);
        for (var, vpos) in &t.variable_pos {
            if !doc.variables.contains_key(var) {
                let near = doc.variables.keys().find(|k| similar_name(k, var));
                let mut d = Diagnostic::error(
                    Code::H120,
                    file,
                    near.and_then(|k| pos(&doc.variables[k])).or(campaign_pos),
                    format!(
                        "template variable `{var}` is not mapped by campaign `{}`",
                        doc.name.value
                    ),
                )
                .related(
                    &t.origin.file,
                    *vpos,
                    format!("`{var}` is declared here"),
                );
                d = match near {
                    Some(k) => d.help(format!("the campaign maps `{k}`; rename it to `{var}` (names must match exactly, or Genesys sends `{{{{{var}}}}}` literally)")),
                    None => d.help(format!("add `{var}: {{ column: <audience column> }}` under the campaign's `variables`")),
                };
                self.diags.push(d);
            }
        }
        for (var, source) in &doc.variables {
            if !t.variables.contains_key(var) {
                let near = t.variables.keys().find(|k| similar_name(k, var));
                let mut d = Diagnostic::error(
                    Code::H121,
                    file,
                    pos(source),
                    format!(
                        "campaign maps `{var}`, which template `{}` does not declare",
                        t.name
                    ),
                );
                d = match near {
                    Some(k) => d
                        .related(
                            &t.origin.file,
                            t.variable_pos.get(k).copied().flatten(),
                            format!("the template declares `{k}`"),
                        )
                        .help(format!(
                            "rename `{var}` to `{k}`: the template uses `{{{{{k}}}}}`"
                        )),
                    None => d
                        .related(&t.origin.file, t.origin.pos, "the template")
                        .help("remove the mapping, or add the variable to the template"),
                };
                self.diags.push(d);
            }
            if let VariableSourceDoc::Column(c) = &source.value {
                self.mixed_script(file, pos(source), "column", c);
            }
            if let VariableSourceDoc::Column(c) = &source.value
                && let Some(p) = denied_pattern(c, &policy.deny_variable_patterns)
            {
                self.diags.push(
                        Diagnostic::error(Code::H130, file, pos(source), format!("column `{c}` matches the denied pattern `{p}`"))
                            .help("card, health and credential data must never be put in a message (PCI DSS, HIPAA)"),
                    );
            }
        }
    }
}

/// Two variable names that differ only in case, `_`/`-` or camelCase: `order_id` ~ `orderId`.
fn similar_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    a != b && norm(a) == norm(b)
}

/// H019 for a `base_url` in herald.yaml that could send the OAuth client secret somewhere
/// other than Genesys Cloud or this machine: only a region's API host over https or a
/// loopback host may be named by the workspace (see `remote::allowed_base_url`).
fn base_url_diagnostic(env_name: &str, url: &Spanned<String>) -> Option<Diagnostic> {
    use herald_genesys::BaseUrlHost;
    let message = match herald_genesys::classify_base_url(&url.value) {
        Ok(BaseUrlHost::Genesys(_) | BaseUrlHost::Loopback) => return None,
        Ok(BaseUrlHost::OtherHttps | BaseUrlHost::OtherHttp) => format!(
            "environment `{env_name}`: base_url `{}` is not a Genesys Cloud API host over https nor this machine; the workspace cannot choose where the OAuth client secret is sent",
            url.value
        ),
        Err(e) => format!("environment `{env_name}`: base_url {e}"),
    };
    Some(
        Diagnostic::error(Code::H019, PROJECT_FILE, pos(url), message).help(format!(
            "use `region:` (e.g. `region: us_east_1`) or a region's API host such as `https://api.mypurecloud.com`; a gateway or proxy must be set where herald runs, in {}",
            crate::settings::ENV_BASE_URL
        )),
    )
}

fn env_from_doc(name: &str, doc: &EnvironmentDoc) -> Environment {
    Environment {
        name: name.to_owned(),
        target: doc.target,
        region: doc.region.clone(),
        base_url: doc.base_url.as_ref().map(|u| u.value.clone()),
        library: doc
            .library
            .clone()
            .unwrap_or_else(|| DEFAULT_LIBRARY.to_owned()),
        ledger: doc.ledger.clone(),
        client_id: doc.client_id.clone(),
        secret_file: doc.secret_file.clone(),
        credential_command: doc.credential_command.clone(),
        webhook_secret_file: doc.webhook_secret_file.clone(),
        rate_per_minute: doc.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_names() {
        assert!(similar_name("orderId", "order_id"));
        assert!(similar_name("Order-ID", "order_id"));
        assert!(!similar_name("order_id", "order_id"));
        assert!(!similar_name("order", "order_id"));
    }

    #[test]
    fn windows() {
        let w = parse_window(&WindowDoc {
            start: "08:00".into(),
            end: "21:00".into(),
        })
        .unwrap();
        assert!(w.contains(Time::constant(8, 0, 0, 0)));
        assert!(w.contains(Time::constant(20, 59, 59, 0)));
        assert!(!w.contains(Time::constant(21, 0, 0, 0)));
        assert!(!w.contains(Time::constant(7, 59, 0, 0)));
        let night = parse_window(&WindowDoc {
            start: "22:00".into(),
            end: "06:00".into(),
        })
        .unwrap();
        assert!(night.contains(Time::constant(23, 0, 0, 0)));
        assert!(night.contains(Time::constant(5, 0, 0, 0)));
        assert!(!night.contains(Time::constant(12, 0, 0, 0)));
        assert!(
            parse_window(&WindowDoc {
                start: "8:00".into(),
                end: "21:00".into()
            })
            .is_err()
        );
        assert!(
            parse_window(&WindowDoc {
                start: "25:00".into(),
                end: "21:00".into()
            })
            .is_err()
        );
    }
}
