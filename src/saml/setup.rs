//! Adding and changing SAML connections (admin API and CLI share this), and
//! loading one for a request.

use std::time::Duration;

use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Private};
use samael::crypto::CertificateDer;
use serde::Serialize;
use uuid::Uuid;

use super::config::{self, CertificateInfo, ConfigError, IdpDescriptor, Options, SamlConfig};
use super::sp::{self, SpUrls};
use crate::config::Config;
use crate::model::Organization;
use crate::store::connections::ConnectionRecord;
use crate::store::{self, Db};

/// Where the IdP's description comes from.
#[derive(Clone, Debug)]
pub enum IdpSource {
    MetadataXml(String),
    MetadataUrl(String),
    Fields {
        entity_id: String,
        sso_url: String,
        slo_url: Option<String>,
        certificates: Vec<String>,
    },
}

pub use crate::connection_setup::SetupError;

/// What an admin needs to configure the IdP side.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionSummary {
    pub id: Uuid,
    pub name: String,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
    pub login_url: String,
    pub idp_entity_id: String,
    pub idp_certificates: Vec<CertificateInfo>,
    pub idp_metadata_url: Option<String>,
    pub idp_metadata_error: Option<String>,
    pub idp_initiated: bool,
    pub relay_state_roles: bool,
    pub relay_state_ceiling: i32,
    pub allow_sha1: bool,
    pub clock_skew_seconds: i64,
}

/// Fetches metadata over http(s): bounded in time and size; redirects are
/// followed only to http(s).
pub async fn fetch_metadata(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("metadata URL must be http or https".into());
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| format!("fetching metadata: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("fetching metadata: HTTP {}", resp.status()));
    }
    const MAX: usize = 1024 * 1024;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("fetching metadata: {e}"))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX {
            return Err("metadata is larger than 1 MiB".into());
        }
    }
    String::from_utf8(body).map_err(|_| "metadata is not UTF-8".to_string())
}

async fn resolve(source: &IdpSource) -> Result<(IdpDescriptor, Option<String>), ConfigError> {
    match source {
        IdpSource::MetadataXml(xml) => Ok((config::idp_from_metadata(xml)?, None)),
        IdpSource::MetadataUrl(url) => {
            let xml = fetch_metadata(url).await.map_err(|reason| ConfigError {
                field: "metadata_url",
                reason,
            })?;
            Ok((config::idp_from_metadata(&xml)?, Some(url.clone())))
        }
        IdpSource::Fields {
            entity_id,
            sso_url,
            slo_url,
            certificates,
        } => Ok((
            config::idp_from_fields(entity_id, sso_url, slo_url.as_deref(), certificates)?,
            None,
        )),
    }
}

pub async fn create(
    db: &Db,
    cfg: &Config,
    org: &Organization,
    name: &str,
    source: IdpSource,
    options: Options,
    now: DateTime<Utc>,
) -> Result<ConnectionSummary, SetupError> {
    let name = crate::connection_setup::check_name(name)?;
    let name = name.as_str();
    config::check_options(&options, &db.role_codes(org.id).await?)?;
    let sealing = cfg.sealing_key().ok_or(crate::sealed::SealError::NoKey)?;
    let (idp, metadata_url) = resolve(&source).await?;
    let host = cfg.base_url.host_str().unwrap_or("gatehouse").to_string();
    let (key, cert) =
        sp::generate_key_pair(&format!("Gatehouse SP {host}")).map_err(|e| SetupError::Crypto(e.to_string()))?;
    let key_pem = key
        .private_key_to_pem_pkcs8()
        .map_err(|e| SetupError::Crypto(e.to_string()))?;
    let cert_pem = String::from_utf8(cert.to_pem().map_err(|e| SetupError::Crypto(e.to_string()))?)
        .map_err(|e| SetupError::Crypto(e.to_string()))?;
    let saml = SamlConfig {
        idp,
        metadata_fetched_at: metadata_url.as_ref().map(|_| now),
        metadata_url,
        metadata_error: None,
        idp_initiated: options.idp_initiated,
        relay_state_roles: options.relay_state_roles,
        relay_state_ceiling: options.relay_state_ceiling,
        allow_sha1: options.allow_sha1,
        clock_skew_seconds: options.clock_skew_seconds,
        sign_authn_requests: options.sign_authn_requests,
        attribute_overrides: Default::default(),
        sp_certificate: cert_pem,
        sp_key_sealed: sealing.seal(&key_pem)?,
    };
    let value = serde_json::to_value(&saml).map_err(|e| SetupError::Crypto(e.to_string()))?;
    let id = db.insert_connection(org.id, "saml", name, &value, now).await?;
    Ok(summary(cfg, org, id, name, &saml))
}

pub fn summary(cfg: &Config, org: &Organization, id: Uuid, name: &str, saml: &SamlConfig) -> ConnectionSummary {
    let urls = SpUrls::new(cfg, id);
    ConnectionSummary {
        id,
        name: name.to_string(),
        sp_entity_id: urls.entity_id,
        acs_url: urls.acs,
        metadata_url: urls.metadata,
        login_url: cfg.url(&sp::login_path(&org.slug, id)),
        idp_entity_id: saml.idp.entity_id.clone(),
        idp_certificates: saml
            .idp
            .certificates
            .iter()
            .filter_map(|c| config::certificate_info(c).ok())
            .collect(),
        idp_metadata_url: saml.metadata_url.clone(),
        idp_metadata_error: saml.metadata_error.clone(),
        idp_initiated: saml.idp_initiated,
        relay_state_roles: saml.relay_state_roles,
        relay_state_ceiling: saml.relay_state_ceiling,
        allow_sha1: saml.allow_sha1,
        clock_skew_seconds: saml.clock_skew_seconds,
    }
}

/// An organization's connections, each with its SAML summary when it is a
/// SAML connection (admins' listings: CLI, console).
pub async fn summaries(
    db: &Db,
    cfg: &Config,
    org: &Organization,
) -> Result<Vec<(ConnectionRecord, Option<ConnectionSummary>)>, store::Error> {
    Ok(db
        .connection_records(org.id)
        .await?
        .into_iter()
        .map(|record| {
            let saml = (record.kind == "saml")
                .then(|| serde_json::from_value::<SamlConfig>(record.config.clone()).ok())
                .flatten()
                .map(|saml| summary(cfg, org, record.id, &record.name, &saml));
            (record, saml)
        })
        .collect())
}

/// A connection ready to verify responses.
pub struct LoadedSaml {
    pub record: ConnectionRecord,
    pub config: SamlConfig,
    pub certificates: Vec<CertificateDer>,
    pub sp_key: PKey<Private>,
    pub urls: SpUrls,
}

pub use crate::connection_setup::LoadError;

pub async fn load(db: &Db, cfg: &Config, id: Uuid) -> Result<LoadedSaml, LoadError> {
    load_record(cfg, crate::connection_setup::record_of_kind(db, id, "saml").await?)
}

/// Builds a SAML connection from its row (already read by the caller).
pub fn load_record(cfg: &Config, record: ConnectionRecord) -> Result<LoadedSaml, LoadError> {
    if record.kind != "saml" {
        return Err(LoadError::NotFound);
    }
    let broken = |reason: String| LoadError::Broken { id: record.id, reason };
    let config: SamlConfig =
        serde_json::from_value(record.config.clone()).map_err(|e| broken(format!("stored config: {e}")))?;
    let certificates = config.certificates_der().map_err(|e| broken(e.to_string()))?;
    let sealing = cfg
        .sealing_key()
        .ok_or_else(|| broken(crate::sealed::SealError::NoKey.to_string()))?;
    let pem = sealing.open(&config.sp_key_sealed).map_err(|e| broken(e.to_string()))?;
    let sp_key = PKey::private_key_from_pem(&pem).map_err(|e| broken(format!("SP key: {e}")))?;
    let urls = SpUrls::new(cfg, record.id);
    Ok(LoadedSaml {
        record,
        config,
        certificates,
        sp_key,
        urls,
    })
}

/// Re-fetches the metadata of every SAML connection configured by URL. A
/// failure keeps the last good copy and records the error for admins.
pub async fn refresh_all_metadata(db: &Db, now: DateTime<Utc>) -> Result<usize, store::Error> {
    let mut refreshed = 0;
    for record in db.connections_of_kind("saml").await? {
        let Ok(mut saml) = serde_json::from_value::<SamlConfig>(record.config.clone()) else {
            continue;
        };
        let Some(url) = saml.metadata_url.clone() else { continue };
        match fetch_metadata(&url)
            .await
            .and_then(|xml| config::idp_from_metadata(&xml).map_err(|e| e.to_string()))
        {
            Ok(idp) => {
                saml.idp = idp;
                saml.metadata_fetched_at = Some(now);
                saml.metadata_error = None;
                refreshed += 1;
            }
            Err(e) => {
                tracing::warn!(connection = %record.id, error = %e, "metadata refresh failed; keeping the last good copy");
                saml.metadata_error = Some(format!("{}: {e}", now.to_rfc3339()));
            }
        }
        for cert in &saml.idp.certificates {
            if let Ok(info) = config::certificate_info(cert) {
                if info.not_after < now + chrono::Duration::days(30) {
                    tracing::warn!(connection = %record.id, not_after = %info.not_after, "IdP signing certificate expires within 30 days");
                }
            }
        }
        if let Ok(value) = serde_json::to_value(&saml) {
            db.update_connection(record.org_id, record.id, &record.name, record.enabled, &value, now)
                .await?;
        }
    }
    Ok(refreshed)
}

/// An admin's change to a SAML connection; `None` leaves a value alone.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Replaces the IdP signing certificates (rollover: add the new one,
    /// later send the list without the old one).
    pub idp_certificates: Option<Vec<String>>,
    pub metadata_xml: Option<String>,
    pub idp_initiated: Option<bool>,
    pub relay_state_roles: Option<bool>,
    pub relay_state_ceiling: Option<i32>,
    pub allow_sha1: Option<bool>,
    pub clock_skew_seconds: Option<i64>,
    pub sign_authn_requests: Option<bool>,
    pub attribute_overrides: Option<std::collections::BTreeMap<String, String>>,
}

pub async fn update(
    db: &Db,
    cfg: &Config,
    org: &Organization,
    id: Uuid,
    patch: SamlPatch,
    now: DateTime<Utc>,
) -> Result<ConnectionSummary, SetupError> {
    let record = db.connection(id).await?;
    if record.org_id != org.id || record.kind != "saml" {
        return Err(store::Error::NotFound.into());
    }
    let mut saml: SamlConfig = serde_json::from_value(record.config.clone())
        .map_err(|e| SetupError::Store(store::Error::Corrupt(e.to_string())))?;
    if let Some(xml) = &patch.metadata_xml {
        saml.idp = config::idp_from_metadata(xml)?;
    }
    if let Some(certs) = &patch.idp_certificates {
        let idp = &saml.idp;
        saml.idp = config::idp_from_fields(&idp.entity_id, &idp.sso_url, idp.slo_url.as_deref(), certs)?;
    }
    let options = Options {
        idp_initiated: patch.idp_initiated.unwrap_or(saml.idp_initiated),
        relay_state_roles: patch.relay_state_roles.unwrap_or(saml.relay_state_roles),
        relay_state_ceiling: patch.relay_state_ceiling.unwrap_or(saml.relay_state_ceiling),
        allow_sha1: patch.allow_sha1.unwrap_or(saml.allow_sha1),
        clock_skew_seconds: patch.clock_skew_seconds.unwrap_or(saml.clock_skew_seconds),
        sign_authn_requests: patch.sign_authn_requests.unwrap_or(saml.sign_authn_requests),
    };
    config::check_options(&options, &db.role_codes(org.id).await?)?;
    saml.idp_initiated = options.idp_initiated;
    saml.relay_state_roles = options.relay_state_roles;
    saml.relay_state_ceiling = options.relay_state_ceiling;
    saml.allow_sha1 = options.allow_sha1;
    saml.clock_skew_seconds = options.clock_skew_seconds;
    saml.sign_authn_requests = options.sign_authn_requests;
    if let Some(o) = patch.attribute_overrides {
        saml.attribute_overrides = o;
    }
    let name = crate::connection_setup::check_name(&patch.name.unwrap_or(record.name))?;
    let value = serde_json::to_value(&saml).map_err(|e| SetupError::Crypto(e.to_string()))?;
    db.update_connection(org.id, id, &name, patch.enabled.unwrap_or(record.enabled), &value, now)
        .await?;
    Ok(summary(cfg, org, id, &name, &saml))
}
