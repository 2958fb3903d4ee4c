//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9):
//! a short-lived JWT, signed RS256 with the connection's own key, posted to
//! the token endpoint instead of a secret. The header names the certificate
//! by its SHA-1 thumbprint (`x5t`), which is how Entra ID finds it.
//! OpenSSL signs; only the JWS encoding is written here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use openssl::x509::X509;
use serde_json::json;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Long enough for clock skew, short enough that a leaked one is useless.
const LIFETIME_SECONDS: i64 = 300;

/// base64url(SHA-1(DER)): the certificate's `x5t`.
pub fn thumbprint(certificate_pem: &str) -> Result<String, String> {
    let cert = X509::from_pem(certificate_pem.as_bytes()).map_err(|e| format!("certificate: {e}"))?;
    let digest = cert.digest(MessageDigest::sha1()).map_err(|e| e.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(digest))
}

pub fn sign(
    key: &PKey<Private>,
    certificate_pem: &str,
    client_id: &str,
    token_endpoint: &str,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let x5t = thumbprint(certificate_pem)?;
    let header = json!({ "alg": "RS256", "typ": "JWT", "x5t": x5t, "kid": x5t });
    let iat = now.timestamp();
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": iat,
        "nbf": iat,
        "exp": iat + LIFETIME_SECONDS,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(|e| e.to_string())?;
    signer.update(input.as_bytes()).map_err(|e| e.to_string())?;
    let signature = signer.sign_to_vec().map_err(|e| e.to_string())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use openssl::sign::Verifier;
    use serde_json::Value;

    #[test]
    fn the_assertion_is_signed_by_the_key_and_names_the_certificate() {
        let (key, cert) = crate::saml::sp::generate_key_pair("test").expect("key");
        let pem = String::from_utf8(cert.to_pem().expect("pem")).expect("utf8");
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).single().expect("time");
        let jwt = sign(&key, &pem, "client-1", "https://idp.example/token", now).expect("sign");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode =
            |s: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).expect("b64")).expect("json") };
        let header = decode(parts[0]);
        let claims = decode(parts[1]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], thumbprint(&pem).expect("x5t"));
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "https://idp.example/token");
        assert_eq!(claims["exp"].as_i64(), Some(now.timestamp() + LIFETIME_SECONDS));

        let public = cert.public_key().expect("public");
        let mut v = Verifier::new(MessageDigest::sha256(), &public).expect("verifier");
        v.update(format!("{}.{}", parts[0], parts[1]).as_bytes())
            .expect("update");
        assert!(v
            .verify(&URL_SAFE_NO_PAD.decode(parts[2]).expect("sig"))
            .expect("verify"));

        // Two assertions never share a jti.
        let again = sign(&key, &pem, "client-1", "https://idp.example/token", now).expect("sign");
        assert_ne!(decode(again.split('.').nth(1).expect("payload"))["jti"], claims["jti"]);
    }
}
