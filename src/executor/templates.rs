//! Writing the planned templates (Response Management responses) and recording each write in
//! the ledger, before any campaign sends.

use std::sync::Arc;

use herald_genesys::{ApiError, GenesysClient};
use herald_ledger::{Ledger, LedgerError, TemplateWrite};

use super::agentless::describe;
use super::report::{Event, TemplateAction};
use crate::gather::{desired_draft, response_hash};
use crate::plan::{TemplateAction as Planned, TemplatePlan};
use crate::spec::model::Template;

/// A template phase result: the response id campaigns pre-flight, or why they cannot use it.
#[derive(Debug, Clone)]
pub(crate) enum TemplateOutcome {
    /// Written or bound: the response id.
    Ready(String),
    /// Not applied: the saved plan is stale for it (why).
    Stale(String),
    /// A draft: never written.
    Draft,
    /// Writing failed, or the library is unavailable.
    Failed(TemplateError),
}

impl std::fmt::Display for TemplateOutcome {
    /// Why campaigns cannot use the template (or the response id when they can).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(id) => write!(f, "response {id}"),
            Self::Stale(why) => write!(f, "stale: {why}"),
            Self::Draft => f.write_str("draft"),
            Self::Failed(why) => why.fmt(f),
        }
    }
}

impl From<Result<String, TemplateError>> for TemplateOutcome {
    fn from(r: Result<String, TemplateError>) -> Self {
        match r {
            Ok(id) => Self::Ready(id),
            Err(why) => Self::Failed(why),
        }
    }
}

/// Why a template was not written (or its write not recorded).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TemplateError {
    /// A draft is never written.
    #[error("template `{0}` is a draft")]
    Draft(String),
    /// The plan binds it to a response that is not there.
    #[error("template `{0}` has no remote response")]
    NoRemote(String),
    /// The ledger refused to record a binding or a rename.
    #[error(transparent)]
    Ledger(Arc<LedgerError>),
    /// It was changed in Genesys after the plan: nothing was written.
    #[error(
        "template `{name}` was changed in Genesys after the plan (it was version {version}); nothing was written. Run `herald plan` again to review the remote change"
    )]
    Conflict {
        /// Template name.
        name: String,
        /// The version the plan saw.
        version: u32,
    },
    /// Genesys refused the write, or it failed on the way.
    #[error("writing template `{name}` failed: {detail}")]
    Write {
        /// Template name.
        name: String,
        /// The API error, with its correlation id.
        detail: String,
    },
    /// Written, but the ledger could not record it.
    #[error(
        "template `{name}` was written (response {response_id}) but the ledger could not record it: {source}"
    )]
    NotRecorded {
        /// Template name.
        name: String,
        /// The response written.
        response_id: String,
        /// The ledger's error.
        source: Arc<LedgerError>,
    },
    /// The managed library could not be found or created.
    #[error("the managed library is unavailable")]
    NoLibrary,
}

impl From<LedgerError> for TemplateError {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(Arc::new(e))
    }
}

/// Writes templates for one run.
pub(crate) struct TemplateWriter<'a> {
    /// The ledger (locked).
    pub(crate) ledger: &'a mut dyn Ledger,
    /// The client.
    pub(crate) client: &'a GenesysClient,
    /// The runtime that runs HTTP.
    pub(crate) rt: &'a tokio::runtime::Runtime,
    /// This run's id.
    pub(crate) run_id: &'a str,
    /// Git commit of the workspace.
    pub(crate) git_commit: Option<String>,
    /// Receives events as they happen.
    pub(crate) on_event: &'a mut dyn FnMut(&Event),
}

impl TemplateWriter<'_> {
    /// Ensures the managed library exists; returns its id.
    pub(crate) fn ensure_library(
        &mut self,
        name: &str,
        existing: Option<&str>,
    ) -> anyhow::Result<String> {
        if let Some(id) = existing {
            return Ok(id.to_owned());
        }
        let client = self.client.clone();
        let name = name.to_owned();
        let lib = self.rt.block_on(async move {
            match client.find_library_by_name(&name).await? {
                Some(l) => Ok::<_, ApiError>(l),
                None => client.create_library(&name).await,
            }
        })?;
        Ok(lib.id)
    }

    /// Writes one template as planned (create, or PUT with the planned version) and records
    /// the write. A conflict stops this template and the campaigns using it.
    pub(crate) fn apply_template(
        &mut self,
        t: &Template,
        plan: &TemplatePlan,
        library_id: &str,
    ) -> TemplateOutcome {
        self.write_template(t, plan, library_id).into()
    }

    fn record(&mut self, write: &TemplateWrite) -> Result<(), TemplateError> {
        Ok(self.ledger.record_template_write(write)?)
    }

    fn write_template(
        &mut self,
        t: &Template,
        plan: &TemplatePlan,
        library_id: &str,
    ) -> Result<String, TemplateError> {
        let draft = desired_draft(t, library_id);
        let client = self.client.clone();
        let name = t.name.to_string();
        let result = match (plan.action, &plan.remote) {
            (Planned::Draft, _) => return Err(TemplateError::Draft(name)),
            (Planned::Create, _) => self.rt.block_on(client.create_response(&draft)),
            (Planned::Noop, Some(r)) => {
                // Bind (or re-bind) without writing, so later plans know this response.
                let bound = self.ledger.template_binding(t.name.as_str()).ok().flatten();
                if bound.as_ref().is_some_and(|b| {
                    b.response_id == r.id
                        && b.remote_hash == r.hash
                        && b.version == i64::from(r.version)
                }) {
                    return Ok(r.id.clone());
                }
                let write = TemplateWrite {
                    run_id: self.run_id.to_owned(),
                    name,
                    response_id: r.id.clone(),
                    version: i64::from(r.version),
                    content_hash: t.hash.to_string(),
                    remote_hash: r.hash.clone(),
                    git_commit: self.git_commit.clone(),
                    overwrote_hash: None,
                };
                return self.record(&write).map(|()| r.id.clone());
            }
            (Planned::Noop, None) => return Err(TemplateError::NoRemote(name)),
            (_, Some(r)) => {
                if plan.action == Planned::Rename
                    && let Some(from) = &plan.renamed_from
                    && self.ledger.template_binding(from).ok().flatten().is_some()
                {
                    self.ledger
                        .rename_template_binding(self.run_id, from, t.name.as_str())?;
                }
                self.rt
                    .block_on(client.update_response(&r.id, r.version, &draft))
            }
            (_, None) => self.rt.block_on(client.create_response(&draft)),
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let (action, err) = match e {
                    ApiError::Conflict { .. } => (
                        TemplateAction::Conflict,
                        TemplateError::Conflict {
                            name: name.clone(),
                            version: plan.remote.as_ref().map_or(0, |r| r.version),
                        },
                    ),
                    e => (
                        TemplateAction::Error,
                        TemplateError::Write {
                            name: name.clone(),
                            detail: describe(&e),
                        },
                    ),
                };
                (self.on_event)(&Event::Template {
                    name,
                    action,
                    version: None,
                    error: Some(err.to_string()),
                });
                return Err(err);
            }
        };
        let write = TemplateWrite {
            run_id: self.run_id.to_owned(),
            name: name.clone(),
            response_id: response.id.clone(),
            version: i64::from(response.version),
            content_hash: t.hash.to_string(),
            remote_hash: response_hash(&response),
            git_commit: self.git_commit.clone(),
            overwrote_hash: (plan.action == Planned::Drift)
                .then(|| plan.remote.as_ref().map(|r| r.hash.clone()))
                .flatten(),
        };
        if let Err(e) = self.ledger.record_template_write(&write) {
            return Err(TemplateError::NotRecorded {
                name,
                response_id: response.id,
                source: Arc::new(e),
            });
        }
        let action = match plan.action {
            Planned::Create => TemplateAction::Created,
            Planned::Drift => TemplateAction::Restored,
            Planned::Rename => TemplateAction::Renamed,
            _ => TemplateAction::Updated,
        };
        (self.on_event)(&Event::Template {
            name,
            action,
            version: Some(response.version),
            error: None,
        });
        Ok(response.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_outcomes_say_why_campaigns_cannot_use_them() {
        assert_eq!(
            TemplateOutcome::Stale("its text changed".into()).to_string(),
            "stale: its text changed"
        );
        assert_eq!(TemplateOutcome::Draft.to_string(), "draft");
        let failed = TemplateOutcome::from(Err(TemplateError::NoLibrary));
        assert!(matches!(
            failed,
            TemplateOutcome::Failed(TemplateError::NoLibrary)
        ));
        assert_eq!(failed.to_string(), "the managed library is unavailable");
        assert!(matches!(
            TemplateOutcome::from(Ok("r-1".to_owned())),
            TemplateOutcome::Ready(id) if id == "r-1"
        ));
    }
}
