//! Storage: one code path over SQLite (embedded default) and PostgreSQL
//! (production, multi-instance).
//!
//! Every query is written once with `$N` placeholders, which both sqlx
//! drivers accept, and run on whichever pool is configured through the
//! `on_db!`/`on_tx!` macros. Invariants (case-insensitive uniqueness,
//! identity links, single-use tokens) are database constraints so they hold
//! across instances; store methods translate constraint violations into
//! `Error::Conflict` naming what collided.
//!
//! Every method takes the organization id explicitly.

pub mod api_keys;
pub mod catalog;
pub mod connections;
pub mod events;
pub mod links;
pub mod orgs;
pub mod pool;
pub mod recovery;
pub mod saml_state;
pub mod users;

pub use pool::{Db, Tx};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// A uniqueness or reference constraint refused the write; the string
    /// names the constraint's meaning ("username", "email", ...).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Maps a unique-constraint violation to the field it protects, so callers
/// can tell the user "that username is taken" without parsing SQL errors.
/// The index names are the same on both dialects (see migrations/).
pub(crate) fn conflict_field(err: &sqlx::Error) -> Option<&'static str> {
    let db_err = err.as_database_error()?;
    if !matches!(
        db_err.kind(),
        sqlx::error::ErrorKind::UniqueViolation | sqlx::error::ErrorKind::ForeignKeyViolation
    ) {
        return None;
    }
    let message = db_err.message();
    let constraint = db_err.constraint().unwrap_or("");
    let haystack = format!("{constraint} {message}");
    const KNOWN: &[(&str, &str)] = &[
        ("users_username", "username"),
        ("users_email", "email"),
        ("users_external_id", "external_id"),
        ("users_directory_object", "directory_object_id"),
        ("organizations_slug", "slug"),
        ("identity_links", "identity_link"),
        ("locations", "location"),
        ("staff_groups", "staff_group"),
        ("role_mappings", "role_mapping"),
        ("roles", "role"),
        ("connections", "connection"),
    ];
    // SQLite reports expression indexes by their column expression
    // ("index 'users_username'") and table.column otherwise.
    for (needle, field) in KNOWN {
        if haystack.contains(needle) {
            return Some(field);
        }
    }
    if matches!(db_err.kind(), sqlx::error::ErrorKind::ForeignKeyViolation) {
        return Some("reference");
    }
    Some("unique")
}

/// Converts a sqlx error into a store error, recognising constraint conflicts.
pub(crate) fn map_err(err: sqlx::Error) -> Error {
    match err {
        sqlx::Error::RowNotFound => Error::NotFound,
        other => match conflict_field(&other) {
            Some(field) => Error::Conflict(field),
            None => Error::Database(other),
        },
    }
}
