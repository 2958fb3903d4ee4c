//! The OIDC provider, shaped like Entra ID's v2.0 endpoints for one tenant:
//! discovery, JWKS (with rotation), authorize (login form, PKCE S256,
//! RFC 9207 `iss`), token, userinfo. `Fault` switches make it misbehave the
//! ways a relying party must refuse.
//!
//! Tokens are JWS compact serializations signed with OpenSSL's RSA-SHA256
//! (or HMAC-SHA256 for the HS256-with-public-key attack); only the encoding
//! is written here, never the cryptography.

mod server;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::{json, Map, Value};

use crate::saml::keys::KeyPair;
use crate::users::User;

/// Ways the provider can misbehave (issue: OIDC relying party).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    WrongAudience,
    Expired,
    IssuedInFuture,
    BadSignature,
    AlgNone,
    /// HS256 with the RSA public key (as PEM) used as the HMAC secret.
    Hs256WithPublicKey,
    WrongNonce,
    WrongIssuer,
    /// Signed with a new key whose `kid` the JWKS does not list until
    /// `publish_pending_key` (the RP must refetch JWKS once).
    UnknownKid,
    UserinfoOtherSub,
    /// Several audiences without `azp`.
    ExtraAudienceNoAzp,
    AccessDenied,
}

#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// When set, the client must authenticate with `private_key_jwt`
    /// (RFC 7523) signed by this certificate's key, as Entra ID's
    /// certificate credentials work; the secret is then not accepted.
    pub certificate_pem: Option<String>,
}

struct SigningKey {
    kid: String,
    pair: KeyPair,
}

#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub client_id: String,
    pub redirect_uri: String,
    pub username: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
}

struct Inner {
    keys: Vec<SigningKey>,
    pending: Option<SigningKey>,
    clients: BTreeMap<String, Client>,
    codes: BTreeMap<String, Grant>,
    /// access token → (username, client id)
    tokens: BTreeMap<String, (String, String)>,
    /// `jti`s of client assertions already used.
    assertion_ids: std::collections::BTreeSet<String>,
    fault: Fault,
}

#[derive(Clone)]
pub struct OidcProvider {
    tenant: String,
    base_url: String,
    users: Arc<Vec<User>>,
    inner: Arc<Mutex<Inner>>,
    jwks_served: Arc<std::sync::atomic::AtomicU64>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn new_key() -> SigningKey {
    SigningKey {
        kid: uuid::Uuid::new_v4().simple().to_string(),
        pair: KeyPair::generate("test-idp OIDC signing"),
    }
}

impl OidcProvider {
    pub fn new(tenant: &str, base_url: &str, users: Vec<User>) -> OidcProvider {
        OidcProvider {
            tenant: tenant.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            users: Arc::new(users),
            inner: Arc::new(Mutex::new(Inner {
                keys: vec![new_key()],
                pending: None,
                clients: BTreeMap::new(),
                codes: BTreeMap::new(),
                tokens: BTreeMap::new(),
                assertion_ids: Default::default(),
                fault: Fault::None,
            })),
            jwks_served: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entra's tenant issuer shape: `{base}/{tenant}/v2.0`.
    pub fn issuer(&self) -> String {
        format!("{}/{}/v2.0", self.base_url, self.tenant)
    }
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/authorize", self.base_url, self.tenant)
    }
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base_url, self.tenant)
    }
    pub fn jwks_url(&self) -> String {
        format!("{}/{}/discovery/v2.0/keys", self.base_url, self.tenant)
    }
    pub fn end_session_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/logout", self.base_url, self.tenant)
    }
    pub fn userinfo_url(&self) -> String {
        format!("{}/oidc/userinfo", self.base_url)
    }
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn register_client(&self, client: Client) {
        self.lock().clients.insert(client.client_id.clone(), client);
    }
    pub(crate) fn client(&self, id: &str) -> Option<Client> {
        self.lock().clients.get(id).cloned()
    }
    pub fn set_fault(&self, fault: Fault) {
        self.lock().fault = fault;
    }
    pub fn fault(&self) -> Fault {
        self.lock().fault
    }
    pub(crate) fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    /// A new key signs from now on and is published at once (rotation the
    /// RP sees on its next JWKS fetch); the old key stays published.
    pub fn rotate_key(&self) {
        let mut inner = self.lock();
        let key = new_key();
        inner.keys.insert(0, key);
    }

    /// With `Fault::UnknownKid`, tokens are signed by a pending key; this
    /// publishes it.
    pub fn publish_pending_key(&self) {
        let mut inner = self.lock();
        if let Some(k) = inner.pending.take() {
            inner.keys.insert(0, k);
        }
    }

    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer(),
            "authorization_endpoint": self.authorize_url(),
            "token_endpoint": self.token_url(),
            "jwks_uri": self.jwks_url(),
            "userinfo_endpoint": self.userinfo_url(),
            "end_session_endpoint": self.end_session_url(),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "preferred_username", "email", "oid", "tid", "roles", "groups"],
            "authorization_response_iss_parameter_supported": true,
        })
    }

    /// How many times the JWKS endpoint answered (a relying party's key
    /// fetches, for rate-limit tests).
    pub fn jwks_requests(&self) -> u64 {
        self.jwks_served.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub(crate) fn count_jwks_request(&self) {
        self.jwks_served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn jwks(&self) -> Value {
        let inner = self.lock();
        let keys: Vec<Value> = inner
            .keys
            .iter()
            .filter_map(|k| {
                let rsa = k.pair.key.rsa().ok()?;
                Some(json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
                    "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec()),
                }))
            })
            .collect();
        json!({ "keys": keys })
    }

    /// The `sub` this provider gives a user for a client: pairwise like
    /// Entra (so re-registering the app changes it), unless the users file
    /// sets one.
    pub fn subject_for(&self, user: &User, client_id: &str) -> String {
        if let Some(sub) = user.oidc.get("sub").and_then(Value::as_str) {
            return sub.to_string();
        }
        let digest = openssl::sha::sha256(format!("{client_id}|{}", user.username).as_bytes());
        b64(&digest[..16])
    }

    /// The claims of an ID token for `grant`, faults applied.
    pub(crate) fn id_token_claims(&self, grant: &Grant, fault: Fault, now: i64) -> Map<String, Value> {
        let user = self.user(&grant.username);
        let mut claims = user.map(|u| u.oidc.clone()).unwrap_or_default();
        let sub = user.map(|u| self.subject_for(u, &grant.client_id)).unwrap_or_default();
        claims.insert("iss".into(), json!(self.issuer()));
        claims.insert("sub".into(), json!(sub));
        claims.insert("aud".into(), json!(grant.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + 3600));
        claims.insert("tid".into(), json!(self.tenant));
        if let Some(n) = &grant.nonce {
            claims.insert("nonce".into(), json!(n));
        }
        match fault {
            Fault::WrongAudience => {
                claims.insert("aud".into(), json!("someone-else"));
            }
            Fault::Expired => {
                claims.insert("iat".into(), json!(now - 7200));
                claims.insert("nbf".into(), json!(now - 7200));
                claims.insert("exp".into(), json!(now - 3600));
            }
            Fault::IssuedInFuture => {
                claims.insert("iat".into(), json!(now + 3600));
                claims.insert("nbf".into(), json!(now + 3600));
                claims.insert("exp".into(), json!(now + 7200));
            }
            Fault::WrongNonce => {
                claims.insert("nonce".into(), json!("not-the-nonce"));
            }
            Fault::WrongIssuer => {
                claims.insert("iss".into(), json!(format!("{}/other-tenant/v2.0", self.base_url)));
            }
            Fault::ExtraAudienceNoAzp => {
                claims.insert("aud".into(), json!([grant.client_id, "another-api"]));
                claims.remove("azp");
            }
            _ => {}
        }
        claims
    }

    /// Signs claims as the fault says; returns the compact JWS.
    pub(crate) fn sign(&self, claims: &Map<String, Value>, fault: Fault) -> String {
        let mut inner = self.lock();
        let payload = b64(Value::Object(claims.clone()).to_string().as_bytes());
        match fault {
            Fault::AlgNone => {
                let header = b64(json!({ "alg": "none", "typ": "JWT" }).to_string().as_bytes());
                format!("{header}.{payload}.")
            }
            Fault::Hs256WithPublicKey => {
                let key = &inner.keys[0];
                let public_pem = key.pair.key.public_key_to_pem().unwrap_or_default();
                let header = b64(json!({ "alg": "HS256", "typ": "JWT", "kid": key.kid })
                    .to_string()
                    .as_bytes());
                let input = format!("{header}.{payload}");
                let mac = PKey::hmac(&public_pem)
                    .and_then(|k| {
                        let mut s = Signer::new(MessageDigest::sha256(), &k)?;
                        s.update(input.as_bytes())?;
                        s.sign_to_vec()
                    })
                    .unwrap_or_default();
                format!("{input}.{}", b64(&mac))
            }
            _ => {
                let key = if fault == Fault::UnknownKid {
                    if inner.pending.is_none() {
                        inner.pending = Some(new_key());
                    }
                    inner.pending.as_ref().map(|k| (k.kid.clone(), k.pair.key.clone()))
                } else {
                    inner.keys.first().map(|k| (k.kid.clone(), k.pair.key.clone()))
                };
                let Some((kid, pkey)) = key else { return String::new() };
                let header = b64(json!({ "alg": "RS256", "typ": "JWT", "kid": kid })
                    .to_string()
                    .as_bytes());
                let input = format!("{header}.{payload}");
                let mut sig = Signer::new(MessageDigest::sha256(), &pkey)
                    .and_then(|mut s| {
                        s.update(input.as_bytes())?;
                        s.sign_to_vec()
                    })
                    .unwrap_or_default();
                if fault == Fault::BadSignature {
                    if let Some(b) = sig.last_mut() {
                        *b ^= 0x01;
                    }
                }
                format!("{input}.{}", b64(&sig))
            }
        }
    }

    pub(crate) fn store_code(&self, code: &str, grant: Grant) {
        self.lock().codes.insert(code.to_string(), grant);
    }
    /// Codes are single use.
    pub(crate) fn take_code(&self, code: &str) -> Option<Grant> {
        self.lock().codes.remove(code)
    }
    /// Records a client assertion's `jti`; false if it was used before.
    pub(crate) fn first_use_of_assertion(&self, jti: &str) -> bool {
        self.lock().assertion_ids.insert(jti.to_string())
    }
    pub(crate) fn store_token(&self, token: &str, username: &str, client_id: &str) {
        self.lock()
            .tokens
            .insert(token.to_string(), (username.to_string(), client_id.to_string()));
    }
    pub(crate) fn token_user(&self, token: &str) -> Option<(String, String)> {
        self.lock().tokens.get(token).cloned()
    }

    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }
}

#[cfg(test)]
mod tests;
