//! test-idp: a stand-in for Microsoft Entra ID, for Gatehouse's tests and
//! demo. The SAML IdP issues responses shaped like Entra's, signed and
//! encrypted by libxmlsec1/OpenSSL, and can produce the bad responses the
//! negative tests need (`saml::faults`). OIDC and Graph arrive with their
//! issues.

pub mod oidc;
pub mod saml;
pub mod users;

pub use oidc::OidcProvider;
pub use saml::SamlIdp;
pub use users::{load_users, User};

/// The tenant of the sample users file (users.json), used for the entity id.
pub const DEMO_TENANT: &str = "11111111-2222-3333-4444-555555555555";

/// The one place test-idp reads the wall clock: like Entra, it issues
/// tokens and assertions "now"; tests that need other times set them.
#[allow(clippy::disallowed_methods)]
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
