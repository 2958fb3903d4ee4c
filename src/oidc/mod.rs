//! OpenID Connect relying party (SPEC §7): per-connection configuration,
//! provider discovery and keys, the authorization code flow with PKCE, and
//! ID token verification. What it proves goes to `signin::sign_in`, the
//! same entry point SAML uses.

pub mod client_assertion;
pub mod config;
pub mod identity;
pub mod provider;
pub mod routes;
pub mod setup;
pub mod token;

/// A refused OIDC response: the login event's reason code and what an
/// admin reads in the event. Never shown to the person signing in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub reason: &'static str,
    pub detail: String,
}

impl Refused {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Refused {
        Refused {
            reason,
            detail: detail.into(),
        }
    }
}
