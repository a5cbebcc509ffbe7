//! Stage 2, `resolve`: turns a loaded contract into the `Model`.
//!
//! Owns every decision about meaning: which paths form a resource, which operation is
//! list/create/read/replace/update/delete, which schema is stored in a table, what each
//! name and type is. A domain spec is first designed into an OpenAPI document
//! (`domain`), so both inputs share one resolver (`openapi`). It does no I/O.
//! **Invariant:** problems are collected, never returned early, so a user sees them all.

pub mod domain;
pub mod errors;
pub mod names;
pub mod openapi;
pub mod security;
pub mod types;

use crate::diag::{Diagnostic, Error};
use crate::load::{Contract, Loaded};
use crate::model::{Database, Model};
use std::borrow::Cow;

/// Options that override what the contract says.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Database chosen on the command line (`--database`); else the contract's, else SQLite.
    pub database: Option<Database>,
    /// Crate name for an OpenAPI contract (default: from `info.title`).
    pub package: Option<String>,
}

/// Resolves `loaded` into a model. Returns the model (with its warnings) or
/// `Error::Invalid` with every problem found, error-level ones included.
pub fn resolve(loaded: &Loaded, opts: &ResolveOptions) -> Result<Model, Error> {
    let mut diags: Vec<Diagnostic> = loaded.diagnostics.clone();
    let (doc, served, envelope, db_from_contract, package) = match &loaded.contract {
        Contract::OpenApi { doc, original, .. } => (
            Cow::Borrowed(doc),
            Cow::Borrowed(original.as_ref().unwrap_or(doc)),
            doc.get("x-apigen-envelope")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            None,
            None,
        ),
        Contract::Domain(spec) => {
            let (doc, d) = domain::to_openapi(spec, &loaded.file);
            diags.extend(d);
            let db = match spec.database.as_deref() {
                None => None,
                Some(s) => match Database::parse(s) {
                    Some(db) => Some(db),
                    None => {
                        diags.push(
                            Diagnostic::new(
                                crate::diag::Severity::Error,
                                &loaded.file,
                                "/database",
                                format!("unknown database `{s}`"),
                            )
                            .hint("use `sqlite` or `postgres`"),
                        );
                        None
                    }
                },
            };
            (
                Cow::Owned(doc.clone()),
                Cow::Owned(doc),
                true,
                db,
                Some(names::package_name(&spec.name)),
            )
        }
    };
    let database = opts.database.or(db_from_contract).unwrap_or_default();
    let package = opts.package.clone().or(package);
    let result = openapi::resolve_document(
        &loaded.file,
        &doc,
        &served,
        envelope,
        database,
        package,
        matches!(loaded.contract, Contract::Domain(_)),
    );
    let mut model = match result {
        Ok(m) => m,
        Err(d) => {
            diags.extend(d);
            dedup(&mut diags);
            loaded.locate(&mut diags);
            return Err(Error::Invalid(diags));
        }
    };
    diags.append(&mut model.diagnostics);
    dedup(&mut diags);
    crate::timing::stage("locate", || loaded.locate(&mut diags));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Error::Invalid(diags));
    }
    model.diagnostics = diags;
    Ok(model)
}

/// Drops repeated diagnostics (a schema reached twice reports its problem once), keeping order.
fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| seen.insert((d.severity, d.pointer.clone(), d.message.clone())));
}
