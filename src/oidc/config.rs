//! An OIDC connection's configuration (stored as JSON in `connections.config`)
//! and the pure checks every admin-supplied value passes before it is stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

pub const DEFAULT_SCOPES: &str = "openid profile email";
pub const DEFAULT_SKEW_SECONDS: i64 = 120;
const MAX_SKEW_SECONDS: i64 = 600;

/// Which conventions the provider follows. Entra ID's `sub` is pairwise per
/// app registration, so its identity link is `tid` + `oid` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Entra,
    Generic,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Entra => "entra",
            Profile::Generic => "generic",
        }
    }
}

/// How we authenticate to the token endpoint: a shared secret (RFC 6749
/// §2.3.1), or a JWT signed with a key only we hold (RFC 7523; Entra ID's
/// certificate credentials), which leaves no secret to leak or expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl ClientAuth {
    pub fn parse(text: &str) -> Option<ClientAuth> {
        match text {
            "client_secret_basic" | "basic" => Some(ClientAuth::ClientSecretBasic),
            "client_secret_post" | "post" => Some(ClientAuth::ClientSecretPost),
            "private_key_jwt" => Some(ClientAuth::PrivateKeyJwt),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::ClientSecretBasic => "client_secret_basic",
            ClientAuth::ClientSecretPost => "client_secret_post",
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
        }
    }
    pub fn uses_secret(self) -> bool {
        self != ClientAuth::PrivateKeyJwt
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OidcConfig {
    /// Exactly as the provider's discovery document and tokens carry it.
    pub issuer: String,
    pub client_id: String,
    /// Sealed with AES-256-GCM (`sealed.rs`); never shown again. Absent
    /// with `private_key_jwt`.
    #[serde(default)]
    pub client_secret_sealed: Option<String>,
    /// `private_key_jwt`: our key for this connection (sealed) and its
    /// self-signed certificate, which the admin registers at the provider.
    #[serde(default)]
    pub client_key_sealed: Option<String>,
    #[serde(default)]
    pub client_certificate: Option<String>,
    pub client_auth: ClientAuth,
    pub scopes: Vec<String>,
    pub profile: Profile,
    /// Fetch the userinfo endpoint after the token exchange and merge it in.
    pub userinfo: bool,
    /// §3: email domains whose addresses this connection vouches for.
    #[serde(default)]
    pub verified_domains: Vec<String>,
    /// Audiences besides our client id that an ID token may also name
    /// (OIDC Core §3.1.3.7 step 3); `azp` must then be us.
    #[serde(default)]
    pub trusted_audiences: Vec<String>,
    pub clock_skew_seconds: i64,
    #[serde(default)]
    pub attribute_overrides: BTreeMap<String, String>,
}

use crate::connection_setup::bad;
pub use crate::connection_setup::{check_name, ConfigError};

/// Entra ID's sign-in hosts (public and national clouds).
const ENTRA_HOSTS: [&str; 4] = [
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
];

/// The profile an issuer implies when the admin does not choose one.
pub fn detect_profile(issuer: &Url) -> Profile {
    match issuer.host_str() {
        Some(host) if ENTRA_HOSTS.contains(&host) => Profile::Entra,
        _ => Profile::Generic,
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// https, or http on loopback only (test and demo IdPs): tokens and the
/// client secret travel over these URLs.
pub fn check_endpoint(field: &'static str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).or_else(|e| bad(field, format!("{text:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return bad(field, "must be https (http is accepted only on loopback, for testing)"),
        other => return bad(field, format!("scheme {other:?} is not https")),
    }
    if url.fragment().is_some() || url.query().is_some() {
        return bad(field, "must not have a query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad(field, "must not carry credentials");
    }
    Ok(url)
}

/// The issuer as typed (tokens must match it byte for byte), checked.
pub fn check_issuer(text: &str, profile: Option<Profile>) -> Result<(String, Profile), ConfigError> {
    let text = text.trim();
    let url = check_endpoint("issuer", text)?;
    let profile = profile.unwrap_or_else(|| detect_profile(&url));
    // Microsoft's own hosts: the tenant must be in the issuer. (A stand-in
    // such as test-idp may use the Entra profile under any URL.)
    if detect_profile(&url) == Profile::Entra {
        let tenant = url.path_segments().and_then(|mut s| s.next()).unwrap_or("");
        if matches!(tenant, "common" | "organizations" | "consumers" | "") {
            return bad(
                "issuer",
                "use the tenant issuer, https://login.microsoftonline.com/{tenant-id}/v2.0: multi-tenant endpoints do not name one issuer",
            );
        }
    }
    Ok((text.to_string(), profile))
}

pub fn check_client_id(text: &str) -> Result<String, ConfigError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 255 || text.chars().any(char::is_control) {
        return bad("client_id", "must be 1 to 255 characters");
    }
    Ok(text.to_string())
}

pub fn check_client_secret(text: &str) -> Result<String, ConfigError> {
    // Secrets are taken verbatim apart from a trailing newline from stdin.
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() || text.len() > 1024 {
        return bad("client_secret", "must be 1 to 1024 bytes");
    }
    Ok(text.to_string())
}

/// RFC 6749 §3.3 scope tokens, space-separated, `openid` required.
pub fn check_scopes(text: &str) -> Result<Vec<String>, ConfigError> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in text.split_whitespace() {
        let valid = scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return bad("scopes", format!("{scope:?} is not a valid scope"));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        return bad("scopes", "must include openid");
    }
    Ok(scopes)
}

/// Lower-cased bare domains (`example.org`), no duplicates.
pub fn check_domains(domains: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for d in domains {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        let valid = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && !d.starts_with(['.', '-'])
            && !d.ends_with(['.', '-'])
            && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            return bad("verified_domains", format!("{d:?} is not a domain name"));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

pub fn check_audiences(audiences: &[String], client_id: &str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for a in audiences {
        let a = a.trim();
        if a.is_empty() || a.len() > 255 {
            return bad("trusted_audiences", "each must be 1 to 255 characters");
        }
        if a != client_id && !out.iter().any(|o| o == a) {
            out.push(a.to_string());
        }
    }
    Ok(out)
}

pub fn check_skew(seconds: i64) -> Result<i64, ConfigError> {
    if !(0..=MAX_SKEW_SECONDS).contains(&seconds) {
        return bad("clock_skew_seconds", format!("must be 0 to {MAX_SKEW_SECONDS}"));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers() {
        let cases: &[(&str, Option<Profile>, Result<Profile, &str>)] = &[
            (
                "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
                None,
                Ok(Profile::Entra),
            ),
            (
                "https://login.microsoftonline.com/common/v2.0",
                None,
                Err("tenant issuer"),
            ),
            (
                "https://login.microsoftonline.com/organizations/v2.0",
                None,
                Err("tenant issuer"),
            ),
            ("https://accounts.example.org", None, Ok(Profile::Generic)),
            ("https://accounts.example.org", Some(Profile::Entra), Ok(Profile::Entra)),
            ("http://127.0.0.1:9000/t/v2.0", None, Ok(Profile::Generic)),
            ("http://localhost:9000", None, Ok(Profile::Generic)),
            ("http://[::1]:9000", None, Ok(Profile::Generic)),
            ("http://idp.example.org", None, Err("must be https")),
            ("ftp://idp.example.org", None, Err("not https")),
            ("https://idp.example.org/?x=1", None, Err("query")),
            ("https://user:pw@idp.example.org", None, Err("credentials")),
            ("not a url", None, Err("not a URL")),
        ];
        for (text, profile, expected) in cases {
            match (check_issuer(text, *profile), expected) {
                (Ok((issuer, p)), Ok(want)) => {
                    assert_eq!(issuer, *text);
                    assert_eq!(p, *want, "{text}");
                }
                (Err(e), Err(fragment)) => {
                    assert_eq!(e.field, "issuer");
                    assert!(e.reason.contains(fragment), "{text}: {}", e.reason);
                }
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn scopes() {
        assert_eq!(check_scopes(DEFAULT_SCOPES).unwrap(), ["openid", "profile", "email"]);
        assert_eq!(check_scopes(" openid  openid email ").unwrap(), ["openid", "email"]);
        assert!(check_scopes("profile email").unwrap_err().reason.contains("openid"));
        assert!(check_scopes("openid \"x\"")
            .unwrap_err()
            .reason
            .contains("not a valid scope"));
        assert!(check_scopes("").is_err());
    }

    #[test]
    fn domains() {
        let ok = check_domains(&["Example.ORG".into(), "@sub.example.org".into(), "example.org".into()]).unwrap();
        assert_eq!(ok, ["example.org", "sub.example.org"]);
        for bad in ["localhost", "a b.org", ".example.org", "", "ex@mple.org"] {
            assert!(check_domains(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_fields_skew_and_audiences() {
        assert!(check_client_id("").is_err());
        assert_eq!(check_client_id(" abc ").unwrap(), "abc");
        assert_eq!(check_client_secret("s3cret\n").unwrap(), "s3cret");
        assert!(check_client_secret("\n").is_err());
        assert!(check_skew(-1).is_err());
        assert!(check_skew(601).is_err());
        assert_eq!(check_skew(0).unwrap(), 0);
        assert_eq!(
            check_audiences(&["api".into(), "me".into(), "api".into()], "me").unwrap(),
            ["api"]
        );
        assert_eq!(ClientAuth::parse("post"), Some(ClientAuth::ClientSecretPost));
        assert_eq!(ClientAuth::parse("private_key_jwt"), Some(ClientAuth::PrivateKeyJwt));
        assert_eq!(ClientAuth::parse("client_secret_jwt"), None);
    }
}
