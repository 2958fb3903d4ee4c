//! Adding and changing OIDC connections (admin API and CLI share this), and
//! loading one for a request. A connection is stored only after discovery
//! answered from the configured issuer with something we can work with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreClientAuthMethod, CoreResponseType};
use openidconnect::ResponseTypes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::config::{self, ClientAuth, ConfigError, OidcConfig, Profile};
use super::provider::{self, Metadata};
use super::token;
use crate::config::Config;
use crate::model::Organization;
use crate::store::connections::ConnectionRecord;
use crate::store::{self, Db};

pub const KIND: &str = "oidc";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] store::Error),
    #[error("{0}")]
    Sealing(#[from] crate::sealed::SealError),
}

/// What an admin sends to add a connection (admin API body; the CLI fills it).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOidc {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated; default `openid profile email`.
    pub scopes: Option<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub client_auth: Option<String>,
    /// `entra` or `generic`; detected from the issuer when absent.
    pub profile: Option<Profile>,
    /// Default: on for generic providers that have a userinfo endpoint,
    /// off for Entra ID (its userinfo is Graph's and adds nothing).
    pub userinfo: Option<bool>,
    #[serde(default)]
    pub verified_domains: Vec<String>,
    #[serde(default)]
    pub trusted_audiences: Vec<String>,
    pub clock_skew_seconds: Option<i64>,
    #[serde(default)]
    pub attribute_overrides: BTreeMap<String, String>,
}

/// An admin's change; `None` leaves a value alone. The secret is write-only.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Option<String>,
    pub client_auth: Option<String>,
    pub userinfo: Option<bool>,
    pub verified_domains: Option<Vec<String>>,
    pub trusted_audiences: Option<Vec<String>>,
    pub clock_skew_seconds: Option<i64>,
    pub attribute_overrides: Option<BTreeMap<String, String>>,
}

/// What an admin needs to register Gatehouse at the provider; never the secret.
#[derive(Clone, Debug, Serialize)]
pub struct OidcSummary {
    pub id: Uuid,
    pub kind: &'static str,
    pub name: String,
    pub enabled: bool,
    pub issuer: String,
    pub client_id: String,
    pub client_auth: &'static str,
    pub scopes: String,
    pub profile: &'static str,
    pub userinfo: bool,
    pub verified_domains: Vec<String>,
    pub trusted_audiences: Vec<String>,
    pub clock_skew_seconds: i64,
    pub attribute_overrides: BTreeMap<String, String>,
    pub redirect_uri: String,
    pub login_url: String,
}

pub fn redirect_path(id: Uuid) -> String {
    format!("/oidc/{id}/callback")
}

pub fn summary(
    cfg: &Config,
    org: &Organization,
    record_id: Uuid,
    name: &str,
    enabled: bool,
    c: &OidcConfig,
) -> OidcSummary {
    OidcSummary {
        id: record_id,
        kind: KIND,
        name: name.to_string(),
        enabled,
        issuer: c.issuer.clone(),
        client_id: c.client_id.clone(),
        client_auth: c.client_auth.as_str(),
        scopes: c.scopes.join(" "),
        profile: c.profile.as_str(),
        userinfo: c.userinfo,
        verified_domains: c.verified_domains.clone(),
        trusted_audiences: c.trusted_audiences.clone(),
        clock_skew_seconds: c.clock_skew_seconds,
        attribute_overrides: c.attribute_overrides.clone(),
        redirect_uri: cfg.url(&redirect_path(record_id)),
        login_url: cfg.url(&crate::saml::sp::login_path(&org.slug, record_id)),
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        reason: reason.into(),
    }
}

fn auth_method(a: ClientAuth) -> CoreClientAuthMethod {
    match a {
        ClientAuth::ClientSecretBasic => CoreClientAuthMethod::ClientSecretBasic,
        ClientAuth::ClientSecretPost => CoreClientAuthMethod::ClientSecretPost,
    }
}

/// Whether the provider's discovery document supports this configuration.
pub fn check_metadata(m: &Metadata, c: &OidcConfig) -> Result<(), ConfigError> {
    config::check_endpoint("issuer", m.authorization_endpoint().as_str())
        .map_err(|e| bad("issuer", format!("authorization_endpoint: {}", e.reason)))?;
    let token = m
        .token_endpoint()
        .ok_or_else(|| bad("issuer", "the discovery document has no token_endpoint"))?;
    config::check_endpoint("issuer", token.as_str())
        .map_err(|e| bad("issuer", format!("token_endpoint: {}", e.reason)))?;
    config::check_endpoint("issuer", m.jwks_uri().as_str())
        .map_err(|e| bad("issuer", format!("jwks_uri: {}", e.reason)))?;
    let code = ResponseTypes::new(vec![CoreResponseType::Code]);
    if !m.response_types_supported().contains(&code) {
        return Err(bad(
            "issuer",
            "the provider does not support the authorization code flow",
        ));
    }
    if token::allowed_algs(m.id_token_signing_alg_values_supported()).is_empty() {
        return Err(bad(
            "issuer",
            "the provider signs ID tokens only with algorithms Gatehouse refuses (none or HMAC)",
        ));
    }
    if let Some(methods) = m.token_endpoint_auth_methods_supported() {
        if !methods.contains(&auth_method(c.client_auth)) {
            return Err(bad(
                "client_auth",
                format!("the provider does not accept {}", c.client_auth.as_str()),
            ));
        }
    }
    if c.userinfo {
        let url = m
            .userinfo_endpoint()
            .ok_or_else(|| bad("userinfo", "the provider has no userinfo endpoint"))?;
        config::check_endpoint("userinfo", url.as_str())?;
    }
    Ok(())
}

async fn discover_checked(c: &OidcConfig) -> Result<Metadata, ConfigError> {
    let metadata = provider::discover(&provider::http_client(), &c.issuer)
        .await
        .map_err(|reason| bad("issuer", reason))?;
    check_metadata(&metadata, c)?;
    Ok(metadata)
}

fn client_auth(text: Option<&str>, current: ClientAuth) -> Result<ClientAuth, ConfigError> {
    match text {
        None => Ok(current),
        Some(t) => {
            ClientAuth::parse(t).ok_or_else(|| bad("client_auth", "must be client_secret_basic or client_secret_post"))
        }
    }
}

pub async fn create(
    db: &Db,
    cfg: &Config,
    org: &Organization,
    new: NewOidc,
    now: DateTime<Utc>,
) -> Result<OidcSummary, SetupError> {
    let name = config::check_name(&new.name)?;
    let (issuer, profile) = config::check_issuer(&new.issuer, new.profile)?;
    let client_id = config::check_client_id(&new.client_id)?;
    let secret = config::check_client_secret(&new.client_secret)?;
    let sealing = cfg.sealing_key().ok_or(crate::sealed::SealError::NoKey)?;
    let mut c = OidcConfig {
        trusted_audiences: config::check_audiences(&new.trusted_audiences, &client_id)?,
        issuer,
        client_id,
        client_secret_sealed: sealing.seal(secret.as_bytes())?,
        client_auth: client_auth(new.client_auth.as_deref(), ClientAuth::ClientSecretBasic)?,
        scopes: config::check_scopes(new.scopes.as_deref().unwrap_or(config::DEFAULT_SCOPES))?,
        profile,
        userinfo: new.userinfo.unwrap_or(false),
        verified_domains: config::check_domains(&new.verified_domains)?,
        clock_skew_seconds: config::check_skew(new.clock_skew_seconds.unwrap_or(config::DEFAULT_SKEW_SECONDS))?,
        attribute_overrides: new.attribute_overrides,
    };
    if new.userinfo.is_none() && profile == Profile::Generic {
        // Default on when the provider has the endpoint; decided after discovery.
        let m = discover_checked(&c).await?;
        c.userinfo = m.userinfo_endpoint().is_some();
    } else {
        discover_checked(&c).await?;
    }
    let value = serde_json::to_value(&c).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    let id = db.insert_connection(org.id, KIND, &name, &value, now).await?;
    Ok(summary(cfg, org, id, &name, true, &c))
}

pub async fn update(
    db: &Db,
    cfg: &Config,
    org: &Organization,
    id: Uuid,
    patch: OidcPatch,
    now: DateTime<Utc>,
) -> Result<OidcSummary, SetupError> {
    let record = db.connection(id).await?;
    if record.org_id != org.id || record.kind != KIND {
        return Err(store::Error::NotFound.into());
    }
    let mut c: OidcConfig =
        serde_json::from_value(record.config.clone()).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    let name = config::check_name(patch.name.as_deref().unwrap_or(&record.name))?;
    if let Some(client_id) = &patch.client_id {
        c.client_id = config::check_client_id(client_id)?;
    }
    if let Some(secret) = &patch.client_secret {
        let secret = config::check_client_secret(secret)?;
        let sealing = cfg.sealing_key().ok_or(crate::sealed::SealError::NoKey)?;
        c.client_secret_sealed = sealing.seal(secret.as_bytes())?;
    }
    if let Some(scopes) = &patch.scopes {
        c.scopes = config::check_scopes(scopes)?;
    }
    c.client_auth = client_auth(patch.client_auth.as_deref(), c.client_auth)?;
    c.userinfo = patch.userinfo.unwrap_or(c.userinfo);
    if let Some(d) = &patch.verified_domains {
        c.verified_domains = config::check_domains(d)?;
    }
    if let Some(a) = &patch.trusted_audiences {
        c.trusted_audiences = config::check_audiences(a, &c.client_id)?;
    }
    if let Some(s) = patch.clock_skew_seconds {
        c.clock_skew_seconds = config::check_skew(s)?;
    }
    if let Some(o) = patch.attribute_overrides {
        c.attribute_overrides = o;
    }
    if patch.client_auth.is_some() || patch.userinfo == Some(true) {
        discover_checked(&c).await?;
    }
    let enabled = patch.enabled.unwrap_or(record.enabled);
    let value = serde_json::to_value(&c).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    db.update_connection(org.id, id, &name, enabled, &value, now).await?;
    Ok(summary(cfg, org, id, &name, enabled, &c))
}

/// A connection ready for a sign-in, with its secret opened.
pub struct LoadedOidc {
    pub record: ConnectionRecord,
    pub config: OidcConfig,
    pub client_secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no such OIDC connection")]
    NotFound,
    #[error("{0}")]
    Broken(String),
    #[error(transparent)]
    Store(store::Error),
}

pub fn parse(record: &ConnectionRecord) -> Option<OidcConfig> {
    (record.kind == KIND)
        .then(|| serde_json::from_value(record.config.clone()).ok())
        .flatten()
}

pub fn load_record(cfg: &Config, record: ConnectionRecord) -> Result<LoadedOidc, LoadError> {
    if record.kind != KIND {
        return Err(LoadError::NotFound);
    }
    let config: OidcConfig =
        serde_json::from_value(record.config.clone()).map_err(|e| LoadError::Broken(format!("stored config: {e}")))?;
    let sealing = cfg
        .sealing_key()
        .ok_or_else(|| LoadError::Broken(crate::sealed::SealError::NoKey.to_string()))?;
    let secret = sealing
        .open(&config.client_secret_sealed)
        .map_err(|e| LoadError::Broken(format!("client secret: {e}")))?;
    let client_secret =
        String::from_utf8(secret).map_err(|_| LoadError::Broken("client secret is not UTF-8".into()))?;
    Ok(LoadedOidc {
        record,
        config,
        client_secret,
    })
}

pub async fn load(db: &Db, cfg: &Config, id: Uuid) -> Result<LoadedOidc, LoadError> {
    match db.connection(id).await {
        Ok(r) => load_record(cfg, r),
        Err(store::Error::NotFound) => Err(LoadError::NotFound),
        Err(e) => Err(LoadError::Store(e)),
    }
}
