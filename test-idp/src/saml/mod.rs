//! The SAML IdP: metadata, SSO (Redirect and POST bindings) with a login
//! form, IdP-initiated sign-in with a RelayState, SLO, and programmatic
//! responses for tests.

pub mod faults;
pub mod keys;
pub mod response;
mod server;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub use response::{Algorithm, Encryption, ResponseSpec, Signing};

use crate::users::User;
use keys::KeyPair;

/// An SP this IdP will answer.
#[derive(Clone, Debug)]
pub struct SpRegistration {
    pub entity_id: String,
    pub acs_url: String,
    pub slo_url: Option<String>,
    pub encryption_cert_pem: Option<String>,
}

/// How browser flows sign (tests of misbehaviour use `response` directly).
#[derive(Clone, Copy, Debug)]
pub struct FlowOptions {
    pub signing: Signing,
    pub encrypt: bool,
}

struct Inner {
    key: KeyPair,
    previous: Option<KeyPair>,
    sps: BTreeMap<String, SpRegistration>,
    options: FlowOptions,
}

#[derive(Clone)]
pub struct SamlIdp {
    entity_id: String,
    base_url: String,
    users: Arc<Vec<User>>,
    inner: Arc<Mutex<Inner>>,
}

impl SamlIdp {
    /// `base_url` is where `router()` is served (e.g. `http://127.0.0.1:PORT`).
    pub fn new(entity_id: &str, base_url: &str, users: Vec<User>) -> SamlIdp {
        SamlIdp {
            entity_id: entity_id.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            users: Arc::new(users),
            inner: Arc::new(Mutex::new(Inner {
                key: KeyPair::generate("test-idp SAML signing"),
                previous: None,
                sps: BTreeMap::new(),
                options: FlowOptions {
                    signing: Signing::Assertion,
                    encrypt: false,
                },
            })),
        }
    }

    /// Entra's tenant issuer shape.
    pub fn entra_entity_id(tenant: &str) -> String {
        format!("https://sts.windows.net/{tenant}/")
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    pub fn sso_url(&self) -> String {
        format!("{}/saml/sso", self.base_url)
    }
    pub fn slo_url(&self) -> String {
        format!("{}/saml/slo", self.base_url)
    }
    pub fn metadata_url(&self) -> String {
        format!("{}/saml/metadata", self.base_url)
    }
    pub fn users(&self) -> &[User] {
        &self.users
    }
    pub fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    pub fn signing_cert_pem(&self) -> String {
        self.lock().key.cert_pem()
    }
    pub fn previous_signing_cert_pem(&self) -> Option<String> {
        self.lock().previous.as_ref().map(KeyPair::cert_pem)
    }

    /// A new signing key; the old certificate stays available for rollover tests.
    pub fn rotate_signing_key(&self) {
        let mut inner = self.lock();
        let next = KeyPair::generate("test-idp SAML signing (rotated)");
        let old = std::mem::replace(&mut inner.key, next);
        inner.previous = Some(old);
    }

    pub fn register_sp(&self, sp: SpRegistration) {
        self.lock().sps.insert(sp.entity_id.clone(), sp);
    }
    pub fn sp(&self, entity_id: &str) -> Option<SpRegistration> {
        self.lock().sps.get(entity_id).cloned()
    }
    pub fn sp_by_acs(&self, acs: &str) -> Option<SpRegistration> {
        self.lock().sps.values().find(|s| s.acs_url == acs).cloned()
    }

    pub fn set_flow_options(&self, options: FlowOptions) {
        self.lock().options = options;
    }
    pub fn flow_options(&self) -> FlowOptions {
        self.lock().options
    }

    /// A valid response for `username` to `sp`, to be changed by tests.
    pub fn spec_for(&self, username: &str, sp: &SpRegistration) -> ResponseSpec {
        let user = self.user(username);
        let name_id = user.map(|u| u.name_id.clone()).unwrap_or_else(|| username.to_string());
        let claims = user.map(|u| u.claims.clone()).unwrap_or_default();
        let mut spec = ResponseSpec::new(&name_id, claims, &sp.entity_id, &sp.acs_url);
        spec.encrypt_to = sp.encryption_cert_pem.clone();
        spec
    }

    /// The XML of a response, signed with the current key.
    pub fn response(&self, spec: &ResponseSpec) -> String {
        let key = self.lock().key.clone();
        response::build(spec, &self.entity_id, &key)
    }

    /// The same, signed with a key the SP does not know.
    pub fn response_signed_by_stranger(&self, spec: &ResponseSpec) -> String {
        response::build(spec, &self.entity_id, &KeyPair::generate("stranger"))
    }

    pub fn metadata_xml(&self) -> String {
        let cert = self.lock().key.cert_body();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{entity}\">\
<IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
<KeyDescriptor use=\"signing\"><KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>\
<SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{slo}\"/>\
<NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>\
<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>\
<SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{sso}\"/>\
<SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{sso}\"/>\
</IDPSSODescriptor></EntityDescriptor>\n",
            entity = response::escape(&self.entity_id),
            slo = response::escape(&self.slo_url()),
            sso = response::escape(&self.sso_url()),
        )
    }

    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};

    use super::*;

    fn der(pem: &str) -> CertificateDer {
        CertificateDer::from(
            openssl::x509::X509::from_pem(pem.as_bytes())
                .expect("pem")
                .to_der()
                .expect("der"),
        )
    }

    fn sp() -> SpRegistration {
        SpRegistration {
            entity_id: "https://sp.example/md".into(),
            acs_url: "https://sp.example/acs".into(),
            slo_url: None,
            encryption_cert_pem: None,
        }
    }

    #[test]
    fn every_signing_mode_verifies_with_the_idp_certificate_only() {
        let idp = SamlIdp::new("https://sts.windows.net/t/", "http://127.0.0.1:9", Vec::new());
        let ours = [der(&idp.signing_cert_pem())];
        let stranger = [der(&keys::KeyPair::generate("x").cert_pem())];
        for signing in [Signing::Assertion, Signing::Response, Signing::Both] {
            let mut spec = idp.spec_for("alice", &sp());
            spec.signing = signing;
            let xml = idp.response(&spec);
            assert!(
                Crypto::reduce_xml_to_signed(&xml, &ours, ReduceMode::ValidateAndMarkNoAncestors).is_ok(),
                "{signing:?}"
            );
            assert!(
                Crypto::reduce_xml_to_signed(&xml, &stranger, ReduceMode::ValidateAndMarkNoAncestors).is_err(),
                "{signing:?}"
            );
        }
        // Rotation: the new key signs, the old certificate is kept for rollover tests.
        let before = idp.signing_cert_pem();
        idp.rotate_signing_key();
        assert_eq!(idp.previous_signing_cert_pem(), Some(before));
        assert_ne!(
            idp.signing_cert_pem(),
            idp.previous_signing_cert_pem().unwrap_or_default()
        );
    }

    #[test]
    fn metadata_is_saml_metadata_with_the_signing_certificate() {
        let idp = SamlIdp::new("https://sts.windows.net/t/", "http://127.0.0.1:9", Vec::new());
        let md: samael::metadata::EntityDescriptor = idp.metadata_xml().parse().expect("metadata parses");
        assert_eq!(md.entity_id.as_deref(), Some("https://sts.windows.net/t/"));
        let descriptor = md
            .idp_sso_descriptors
            .as_ref()
            .and_then(|d| d.first().cloned())
            .expect("IdP descriptor");
        assert_eq!(descriptor.single_sign_on_services.len(), 2);
        assert!(idp.signing_cert_pem().contains("BEGIN CERTIFICATE"));
    }

    #[test]
    fn the_sample_users_file_loads() {
        let users = crate::load_users(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/users.json")))
            .expect("users.json");
        assert!(users.iter().any(|u| u.username == "alice"));
        let tenant = users[0]
            .claims
            .get("http://schemas.microsoft.com/identity/claims/tenantid")
            .and_then(|v| v.first())
            .cloned();
        assert_eq!(tenant.as_deref(), Some(crate::DEMO_TENANT));
    }
}
