//! What adding or changing any SSO connection can fail with, shared by the
//! SAML and OIDC setup code so the admin API and CLI map it once.

use uuid::Uuid;

use crate::store::connections::ConnectionRecord;
use crate::store::{self, Db};

/// A setting that cannot be accepted: the field and why (a 422 naming it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            field,
            reason: reason.into(),
        }
    }
}

pub fn bad<T>(field: &'static str, reason: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::new(field, reason))
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] store::Error),
    #[error("{0}")]
    Sealing(#[from] crate::sealed::SealError),
    #[error("key generation failed: {0}")]
    Crypto(String),
}

/// Why a stored connection cannot serve a request.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no such connection")]
    NotFound,
    /// Stored but unusable (a config that no longer parses, a secret the
    /// key cannot open): an operator's problem, never the visitor's.
    #[error("connection {id}: {reason}")]
    Broken { id: Uuid, reason: String },
    #[error(transparent)]
    Store(store::Error),
}

/// A connection's row, when it exists and is of `kind`.
pub async fn record_of_kind(db: &Db, id: Uuid, kind: &str) -> Result<ConnectionRecord, LoadError> {
    match db.connection(id).await {
        Ok(r) if r.kind == kind => Ok(r),
        Ok(_) | Err(store::Error::NotFound) => Err(LoadError::NotFound),
        Err(e) => Err(LoadError::Store(e)),
    }
}

/// A connection's display name: 1 to 100 characters, trimmed.
pub fn check_name(name: &str) -> Result<String, ConfigError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return bad("name", "must be 1 to 100 characters");
    }
    Ok(name.to_string())
}
