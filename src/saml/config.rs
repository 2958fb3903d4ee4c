//! A SAML connection's configuration (stored as JSON in `connections.config`)
//! and how it is built: from IdP metadata XML, a metadata URL, or fields.
//! A connection without an IdP signing certificate cannot be built: samael
//! would verify nothing (DESIGN).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use openssl::x509::X509;
use samael::crypto::CertificateDer;
use samael::metadata::EntityDescriptor;
use serde::{Deserialize, Serialize};

use super::xml_guard;

pub const DEFAULT_SKEW_SECONDS: i64 = 180;
pub const DEFAULT_RELAY_STATE_CEILING: i32 = 20;
const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// What an admin gave us about the IdP, normalized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpDescriptor {
    pub entity_id: String,
    pub sso_url: String,
    pub slo_url: Option<String>,
    /// PEM certificates; several at once during a rollover.
    pub certificates: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SamlConfig {
    pub idp: IdpDescriptor,
    /// Set when the IdP is configured by metadata URL: re-fetched on a schedule.
    pub metadata_url: Option<String>,
    pub metadata_fetched_at: Option<DateTime<Utc>>,
    /// The last refresh failure; the last good copy stays in use.
    pub metadata_error: Option<String>,
    pub idp_initiated: bool,
    pub relay_state_roles: bool,
    pub relay_state_ceiling: i32,
    pub allow_sha1: bool,
    pub clock_skew_seconds: i64,
    pub sign_authn_requests: bool,
    #[serde(default)]
    pub attribute_overrides: BTreeMap<String, String>,
    /// This SP's certificate for this connection (signing AuthnRequests,
    /// receiving encrypted assertions) and its key, sealed at rest.
    pub sp_certificate: String,
    pub sp_key_sealed: String,
}

/// Admin-chosen options, with the spec's defaults.
#[derive(Clone, Debug)]
pub struct Options {
    pub idp_initiated: bool,
    pub relay_state_roles: bool,
    pub relay_state_ceiling: i32,
    pub allow_sha1: bool,
    pub clock_skew_seconds: i64,
    pub sign_authn_requests: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            idp_initiated: false,
            relay_state_roles: false,
            relay_state_ceiling: DEFAULT_RELAY_STATE_CEILING,
            allow_sha1: false,
            clock_skew_seconds: DEFAULT_SKEW_SECONDS,
            sign_authn_requests: false,
        }
    }
}

use crate::connection_setup::bad;
pub use crate::connection_setup::ConfigError;

/// A certificate as admins see it.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub not_after: DateTime<Utc>,
    pub sha256_fingerprint: String,
}

/// Accepts PEM, or bare base64 DER as metadata carries it; returns PEM.
pub fn normalize_certificate(text: &str) -> Result<String, ConfigError> {
    let text = text.trim();
    let x509 = if text.starts_with("-----BEGIN") {
        X509::from_pem(text.as_bytes()).or_else(|e| bad("certificates", format!("not a PEM certificate: {e}")))?
    } else {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD
            .decode(compact)
            .or_else(|_| bad("certificates", "neither PEM nor base64 DER"))?;
        X509::from_der(&der).or_else(|e| bad("certificates", format!("not a DER certificate: {e}")))?
    };
    let pem = x509.to_pem().or_else(|e| bad("certificates", e.to_string()))?;
    String::from_utf8(pem).or_else(|e| bad("certificates", e.to_string()))
}

pub fn certificate_info(pem: &str) -> Result<CertificateInfo, ConfigError> {
    let x509 = X509::from_pem(pem.as_bytes()).or_else(|e| bad("certificates", e.to_string()))?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).or_else(|e| bad("certificates", e.to_string()))?;
    let diff = epoch
        .diff(x509.not_after())
        .or_else(|e| bad("certificates", e.to_string()))?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let not_after = Utc.timestamp_opt(secs, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC);
    let subject = x509
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let fp = x509
        .digest(openssl::hash::MessageDigest::sha256())
        .or_else(|e| bad("certificates", e.to_string()))?;
    let sha256_fingerprint = fp.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    Ok(CertificateInfo {
        subject,
        not_after,
        sha256_fingerprint,
    })
}

pub fn certificate_der(pem: &str) -> Result<CertificateDer, ConfigError> {
    let x509 = X509::from_pem(pem.as_bytes()).or_else(|e| bad("certificates", e.to_string()))?;
    let der = x509.to_der().or_else(|e| bad("certificates", e.to_string()))?;
    Ok(CertificateDer::from(der))
}

fn check_url(field: &'static str, url: &str) -> Result<String, ConfigError> {
    match url::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(u.to_string()),
        _ => bad(field, format!("{url:?} is not an http(s) URL")),
    }
}

/// Builds the IdP side from fields, refusing what cannot work.
pub fn idp_from_fields(
    entity_id: &str,
    sso_url: &str,
    slo_url: Option<&str>,
    certificates: &[String],
) -> Result<IdpDescriptor, ConfigError> {
    let entity_id = entity_id.trim();
    if entity_id.is_empty() || entity_id.len() > 1024 {
        return bad("entity_id", "must be 1 to 1024 characters");
    }
    if certificates.is_empty() {
        // Fail closed: without a certificate nothing could be verified.
        return bad("certificates", "at least one IdP signing certificate is required");
    }
    let mut pems = Vec::new();
    for c in certificates {
        let pem = normalize_certificate(c)?;
        if !pems.contains(&pem) {
            pems.push(pem);
        }
    }
    Ok(IdpDescriptor {
        entity_id: entity_id.to_string(),
        sso_url: check_url("sso_url", sso_url)?,
        slo_url: slo_url.map(|u| check_url("slo_url", u)).transpose()?,
        certificates: pems,
    })
}

/// Reads IdP metadata (an EntityDescriptor, or the first IdP in an
/// EntitiesDescriptor is not supported: Entra publishes one entity).
pub fn idp_from_metadata(xml: &str) -> Result<IdpDescriptor, ConfigError> {
    xml_guard::inspect_plain(xml).map_err(|r| ConfigError {
        field: "metadata",
        reason: r.detail,
    })?;
    let ed: EntityDescriptor = xml
        .parse()
        .or_else(|e| bad("metadata", format!("not SAML metadata: {e}")))?;
    let entity_id = ed.entity_id.clone().ok_or_else(|| ConfigError {
        field: "metadata",
        reason: "no entityID".into(),
    })?;
    let idp = ed
        .idp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or_else(|| ConfigError {
            field: "metadata",
            reason: "no IDPSSODescriptor".into(),
        })?;
    let sso = idp
        .single_sign_on_services
        .iter()
        .find(|e| e.binding == REDIRECT_BINDING)
        .ok_or_else(|| ConfigError {
            field: "metadata",
            reason: "no HTTP-Redirect SingleSignOnService".into(),
        })?;
    let slo = idp
        .single_logout_services
        .iter()
        .find(|e| e.binding == REDIRECT_BINDING)
        .map(|e| e.location.clone());
    let certs: Vec<String> = idp
        .key_descriptors
        .iter()
        .filter(|k| k.key_use.as_deref().is_none_or(|u| u == "signing"))
        .filter_map(|k| k.key_info.x509_data.as_ref())
        .flat_map(|x| x.certificates.iter().cloned())
        .collect();
    idp_from_fields(&entity_id, &sso.location, slo.as_deref(), &certs)
}

pub fn check_options(o: &Options, catalog: &std::collections::BTreeSet<i32>) -> Result<(), ConfigError> {
    if !(0..=600).contains(&o.clock_skew_seconds) {
        return bad("clock_skew_seconds", "must be between 0 and 600");
    }
    if !catalog.contains(&o.relay_state_ceiling) {
        return bad(
            "relay_state_ceiling",
            format!("{} is not in the role catalog", o.relay_state_ceiling),
        );
    }
    Ok(())
}

impl SamlConfig {
    pub fn certificates_der(&self) -> Result<Vec<CertificateDer>, ConfigError> {
        self.idp.certificates.iter().map(|c| certificate_der(c)).collect()
    }
}
