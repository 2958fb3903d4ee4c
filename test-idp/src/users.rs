//! Users of the stand-in directory, read from a JSON file shared by every
//! protocol: `[{ "username", "password", "name_id", "claims": { name: [values] } }]`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub username: String,
    pub password: String,
    /// The SAML NameID (Entra: the UPN or email).
    pub name_id: String,
    #[serde(default)]
    pub claims: BTreeMap<String, Vec<String>>,
    /// Claims the OIDC provider puts in ID tokens and userinfo (besides
    /// iss/aud/exp/iat/nonce/sub, which it sets itself).
    #[serde(default)]
    pub oidc: serde_json::Map<String, serde_json::Value>,
}

pub fn load_users(path: &Path) -> Result<Vec<User>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
