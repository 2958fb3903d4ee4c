//! Adding and changing OIDC connections (admin API and CLI share this), and
//! loading one for a request. A connection is stored only after discovery
//! answered from the configured issuer with something we can work with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreClientAuthMethod, CoreResponseType};
use openidconnect::ResponseTypes;
use openssl::pkey::{PKey, Private};
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

pub use crate::connection_setup::SetupError;

/// What an admin sends to add a connection (admin API body; the CLI fills it).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOidc {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Required with the secret methods; absent with `private_key_jwt`.
    pub client_secret: Option<String>,
    /// Space-separated; default `openid profile email`.
    pub scopes: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post`, or
    /// `private_key_jwt` (Gatehouse makes a key pair; the admin registers
    /// its certificate at the provider).
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
    /// `private_key_jwt`: the certificate to register at the provider.
    pub client_certificate: Option<String>,
    pub client_certificate_url: Option<String>,
    pub client_certificate_thumbprint: Option<String>,
    pub scopes: String,
    pub profile: &'static str,
    pub userinfo: bool,
    pub verified_domains: Vec<String>,
    pub trusted_audiences: Vec<String>,
    pub clock_skew_seconds: i64,
    pub attribute_overrides: BTreeMap<String, String>,
    pub redirect_uri: String,
    /// Where the provider returns the browser after sign-out; register it
    /// as a front-channel/post-logout redirect URI.
    pub post_logout_redirect_uri: String,
    pub login_url: String,
}

pub fn redirect_path(id: Uuid) -> String {
    format!("/oidc/{id}/callback")
}

pub fn certificate_path(id: Uuid) -> String {
    format!("/oidc/{id}/certificate")
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
        client_certificate: c.client_certificate.clone(),
        client_certificate_url: c
            .client_certificate
            .as_ref()
            .map(|_| cfg.url(&certificate_path(record_id))),
        client_certificate_thumbprint: c
            .client_certificate
            .as_deref()
            .and_then(|pem| super::client_assertion::thumbprint(pem).ok()),
        scopes: c.scopes.join(" "),
        profile: c.profile.as_str(),
        userinfo: c.userinfo,
        verified_domains: c.verified_domains.clone(),
        trusted_audiences: c.trusted_audiences.clone(),
        clock_skew_seconds: c.clock_skew_seconds,
        attribute_overrides: c.attribute_overrides.clone(),
        redirect_uri: cfg.url(&redirect_path(record_id)),
        post_logout_redirect_uri: cfg.url(&format!("/o/{}/login", org.slug)),
        login_url: cfg.url(&crate::saml::sp::login_path(&org.slug, record_id)),
    }
}

fn auth_method(a: ClientAuth) -> CoreClientAuthMethod {
    match a {
        ClientAuth::ClientSecretBasic => CoreClientAuthMethod::ClientSecretBasic,
        ClientAuth::ClientSecretPost => CoreClientAuthMethod::ClientSecretPost,
        ClientAuth::PrivateKeyJwt => CoreClientAuthMethod::PrivateKeyJwt,
    }
}

/// Fills in the credential `auth` needs: the given secret, sealed, or a new
/// key pair for `private_key_jwt` (kept if the connection already has one).
fn set_credentials(cfg: &Config, c: &mut OidcConfig, auth: ClientAuth, secret: Option<&str>) -> Result<(), SetupError> {
    let sealing = cfg.sealing_key().ok_or(crate::sealed::SealError::NoKey)?;
    c.client_auth = auth;
    if auth.uses_secret() {
        match secret {
            Some(s) => c.client_secret_sealed = Some(sealing.seal(config::check_client_secret(s)?.as_bytes())?),
            None if c.client_secret_sealed.is_some() => {}
            None => return Err(ConfigError::new("client_secret", format!("required with {}", auth.as_str())).into()),
        }
        return Ok(());
    }
    if secret.is_some() {
        return Err(ConfigError::new("client_secret", "private_key_jwt uses a key pair, not a secret").into());
    }
    if c.client_key_sealed.is_none() {
        let host = cfg.base_url.host_str().unwrap_or("gatehouse");
        let (key, cert) = crate::saml::sp::generate_key_pair(&format!("Gatehouse OIDC client {host}"))
            .map_err(|e| SetupError::Crypto(e.to_string()))?;
        let key_pem = key
            .private_key_to_pem_pkcs8()
            .map_err(|e| SetupError::Crypto(e.to_string()))?;
        let cert_pem = cert.to_pem().map_err(|e| SetupError::Crypto(e.to_string()))?;
        c.client_key_sealed = Some(sealing.seal(&key_pem)?);
        c.client_certificate = Some(String::from_utf8(cert_pem).map_err(|e| SetupError::Crypto(e.to_string()))?);
    }
    Ok(())
}

/// Whether the provider's discovery document supports this configuration.
pub fn check_metadata(m: &Metadata, c: &OidcConfig) -> Result<(), ConfigError> {
    config::check_endpoint("issuer", m.authorization_endpoint().as_str())
        .map_err(|e| ConfigError::new("issuer", format!("authorization_endpoint: {}", e.reason)))?;
    let token = m
        .token_endpoint()
        .ok_or_else(|| ConfigError::new("issuer", "the discovery document has no token_endpoint"))?;
    config::check_endpoint("issuer", token.as_str())
        .map_err(|e| ConfigError::new("issuer", format!("token_endpoint: {}", e.reason)))?;
    config::check_endpoint("issuer", m.jwks_uri().as_str())
        .map_err(|e| ConfigError::new("issuer", format!("jwks_uri: {}", e.reason)))?;
    let code = ResponseTypes::new(vec![CoreResponseType::Code]);
    if !m.response_types_supported().contains(&code) {
        return Err(ConfigError::new(
            "issuer",
            "the provider does not support the authorization code flow",
        ));
    }
    if token::allowed_algs(m.id_token_signing_alg_values_supported()).is_empty() {
        return Err(ConfigError::new(
            "issuer",
            "the provider signs ID tokens only with algorithms Gatehouse refuses (none or HMAC)",
        ));
    }
    if let Some(methods) = m.token_endpoint_auth_methods_supported() {
        if !methods.contains(&auth_method(c.client_auth)) {
            return Err(ConfigError::new(
                "client_auth",
                format!("the provider does not accept {}", c.client_auth.as_str()),
            ));
        }
    }
    if c.userinfo {
        let url = m
            .userinfo_endpoint()
            .ok_or_else(|| ConfigError::new("userinfo", "the provider has no userinfo endpoint"))?;
        config::check_endpoint("userinfo", url.as_str())?;
    }
    Ok(())
}

async fn discover_checked(c: &OidcConfig) -> Result<Metadata, ConfigError> {
    let metadata = provider::discover(&provider::http_client(), &c.issuer)
        .await
        .map_err(|reason| ConfigError::new("issuer", reason))?;
    check_metadata(&metadata, c)?;
    Ok(metadata)
}

fn client_auth(text: Option<&str>, current: ClientAuth) -> Result<ClientAuth, ConfigError> {
    match text {
        None => Ok(current),
        Some(t) => ClientAuth::parse(t)
            .ok_or_else(|| ConfigError::new("client_auth", "must be client_secret_basic or client_secret_post")),
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
    let auth = client_auth(new.client_auth.as_deref(), ClientAuth::ClientSecretBasic)?;
    let mut c = OidcConfig {
        trusted_audiences: config::check_audiences(&new.trusted_audiences, &client_id)?,
        issuer,
        client_id,
        client_secret_sealed: None,
        client_key_sealed: None,
        client_certificate: None,
        client_auth: auth,
        scopes: config::check_scopes(new.scopes.as_deref().unwrap_or(config::DEFAULT_SCOPES))?,
        profile,
        userinfo: new.userinfo.unwrap_or(false),
        verified_domains: config::check_domains(&new.verified_domains)?,
        clock_skew_seconds: config::check_skew(new.clock_skew_seconds.unwrap_or(config::DEFAULT_SKEW_SECONDS))?,
        attribute_overrides: new.attribute_overrides,
    };
    set_credentials(cfg, &mut c, auth, new.client_secret.as_deref())?;
    let metadata = discover_checked(&c).await?;
    if new.userinfo.is_none() && profile == Profile::Generic {
        // Default on for generic providers that have the endpoint.
        c.userinfo = metadata.userinfo_endpoint().is_some();
        check_metadata(&metadata, &c)?;
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
    let auth = client_auth(patch.client_auth.as_deref(), c.client_auth)?;
    if auth != c.client_auth || patch.client_secret.is_some() {
        set_credentials(cfg, &mut c, auth, patch.client_secret.as_deref())?;
    }
    if let Some(scopes) = &patch.scopes {
        c.scopes = config::check_scopes(scopes)?;
    }
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
    pub client_secret: Option<String>,
    pub client_key: Option<PKey<Private>>,
}

pub use crate::connection_setup::LoadError;

pub fn parse(record: &ConnectionRecord) -> Option<OidcConfig> {
    (record.kind == KIND)
        .then(|| serde_json::from_value(record.config.clone()).ok())
        .flatten()
}

pub fn load_record(cfg: &Config, record: ConnectionRecord) -> Result<LoadedOidc, LoadError> {
    if record.kind != KIND {
        return Err(LoadError::NotFound);
    }
    let broken = |reason: String| LoadError::Broken { id: record.id, reason };
    let config: OidcConfig =
        serde_json::from_value(record.config.clone()).map_err(|e| broken(format!("stored config: {e}")))?;
    let sealing = cfg
        .sealing_key()
        .ok_or_else(|| broken(crate::sealed::SealError::NoKey.to_string()))?;
    let open = |sealed: &Option<String>, what: &str| -> Result<Option<Vec<u8>>, LoadError> {
        sealed
            .as_deref()
            .map(|s| sealing.open(s).map_err(|e| broken(format!("{what}: {e}"))))
            .transpose()
    };
    let client_secret = open(&config.client_secret_sealed, "client secret")?
        .map(|b| String::from_utf8(b).map_err(|_| broken("client secret is not UTF-8".into())))
        .transpose()?;
    let client_key = open(&config.client_key_sealed, "client key")?
        .map(|pem| PKey::private_key_from_pem(&pem).map_err(|e| broken(format!("client key: {e}"))))
        .transpose()?;
    let ready = match config.client_auth {
        ClientAuth::PrivateKeyJwt => client_key.is_some() && config.client_certificate.is_some(),
        _ => client_secret.is_some(),
    };
    if !ready {
        return Err(broken(format!("no credential for {}", config.client_auth.as_str())));
    }
    Ok(LoadedOidc {
        record,
        config,
        client_secret,
        client_key,
    })
}

pub async fn load(db: &Db, cfg: &Config, id: Uuid) -> Result<LoadedOidc, LoadError> {
    load_record(cfg, crate::connection_setup::record_of_kind(db, id, KIND).await?)
}
