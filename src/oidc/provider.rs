//! Provider metadata (discovery + JWKS), cached per issuer in this process.
//!
//! The `openidconnect` crate fetches JWKS once, with the discovery document,
//! and never again. A provider that rotates its signing key would then lock
//! everyone out until a restart, so a token whose `kid` we do not know
//! triggers one JWKS refetch, at most once per `refetch_interval` per issuer
//! (a stream of forged `kid`s must not turn us into a load generator against
//! the IdP).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, JsonWebKeySet, ProviderMetadata};
use serde::{Deserialize, Serialize};

/// Discovery fields the crate's core type does not carry.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RFC 9207: the provider promises an `iss` parameter on every
    /// authorization response, so its absence is an attack signal.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    pub end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub type Jwks = JsonWebKeySet<CoreJsonWebKey>;

/// How long discovery and keys are trusted before the next sign-in refetches.
const METADATA_TTL: Duration = Duration::from_secs(3600);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

struct Entry {
    metadata: Arc<Metadata>,
    fetched_at: Instant,
    last_jwks_refetch: Option<Instant>,
}

/// What a JWKS refetch did.
pub enum Refetch {
    Fetched(Arc<Metadata>),
    /// Another refetch for this issuer happened within the interval.
    RateLimited,
}

pub struct Providers {
    http: reqwest::Client,
    refetch_interval: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

/// An HTTP client for talking to providers: bounded in time, and never
/// following redirects (the token endpoint's answer must come from it, and a
/// redirect could send our client secret elsewhere).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

impl Providers {
    pub fn new(refetch_interval: Duration) -> Providers {
        Providers {
            http: http_client(),
            refetch_interval,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The issuer's metadata and keys, from cache when fresh.
    pub async fn get(&self, issuer: &str) -> Result<Arc<Metadata>, String> {
        if let Some(e) = self.lock().get(issuer) {
            if e.fetched_at.elapsed() < METADATA_TTL {
                return Ok(e.metadata.clone());
            }
        }
        let metadata = Arc::new(discover(&self.http, issuer).await?);
        let mut entries = self.lock();
        let last_jwks_refetch = entries.get(issuer).and_then(|e| e.last_jwks_refetch);
        entries.insert(
            issuer.to_string(),
            Entry {
                metadata: metadata.clone(),
                fetched_at: Instant::now(),
                last_jwks_refetch,
            },
        );
        Ok(metadata)
    }

    /// Fetches the issuer's JWKS again, unless that was done within the
    /// interval. The slot is claimed before fetching, so concurrent callers
    /// do not all fetch.
    pub async fn refetch_jwks(&self, issuer: &str) -> Result<Refetch, String> {
        let claimed = {
            let mut entries = self.lock();
            match entries.get_mut(issuer) {
                None => None,
                Some(entry) => {
                    if entry
                        .last_jwks_refetch
                        .is_some_and(|at| at.elapsed() < self.refetch_interval)
                    {
                        return Ok(Refetch::RateLimited);
                    }
                    entry.last_jwks_refetch = Some(Instant::now());
                    Some(entry.metadata.clone())
                }
            }
        };
        let Some(current) = claimed else {
            return self.get(issuer).await.map(Refetch::Fetched);
        };
        metrics::counter!("gatehouse_oidc_jwks_refetches_total").increment(1);
        let jwks = Jwks::fetch_async(current.jwks_uri(), &self.http)
            .await
            .map_err(|e| format!("fetching JWKS: {}", describe(&e)))?;
        let metadata = Arc::new((*current).clone().set_jwks(jwks));
        if let Some(entry) = self.lock().get_mut(issuer) {
            entry.metadata = metadata.clone();
        }
        Ok(Refetch::Fetched(metadata))
    }
}

/// Discovery with the crate's strict issuer check (the document's `issuer`
/// must equal the configured one exactly), then the JWKS.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata, String> {
    let issuer_url = IssuerUrl::new(issuer.to_string()).map_err(|e| format!("issuer: {e}"))?;
    Metadata::discover_async(issuer_url, http)
        .await
        .map_err(|e| format!("discovery at {issuer}: {}", describe(&e)))
}

/// The error and its causes on one line (the crate nests the useful part).
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
