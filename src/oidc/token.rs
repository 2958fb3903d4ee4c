//! ID token verification (OIDC Core §3.1.3.7). The `openidconnect` crate
//! verifies the signature, `iss`, `aud`, `exp` and the nonce; around it we
//! add what it leaves to the caller (`iat`/`nbf` in the future, `azp`) and
//! name each failure precisely for the login event.
//!
//! The header is read before the crate runs only to *classify*: an `alg` of
//! `none` or HMAC is refused here by name, and a `kid` missing from our JWKS
//! is reported as [`Verdict::UnknownKid`] so the caller can refetch keys once.
//! Nothing read before verification is trusted for anything else.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm};
use openidconnect::{
    Audience, ClaimsVerificationError, ClientId, IssuerUrl, JsonWebKey, Nonce, SignatureVerificationError,
};
use serde_json::{Map, Value};

use super::provider::Jwks;
use super::Refused;

/// Signature algorithms we accept: asymmetric only. HMAC would make the
/// client secret a signing key and invites the HS256-with-public-key attack.
pub const ASYMMETRIC: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The algorithms a provider advertises that we accept (RS256 when it
/// advertises none, as OIDC Discovery makes RS256 the default).
pub fn allowed_algs(advertised: &[CoreJwsSigningAlgorithm]) -> Vec<CoreJwsSigningAlgorithm> {
    if advertised.is_empty() {
        return vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
    }
    ASYMMETRIC.iter().filter(|a| advertised.contains(a)).cloned().collect()
}

fn alg_name(alg: &CoreJwsSigningAlgorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The key type (`kty`) an algorithm needs.
fn kty_for(alg: &str) -> Option<&'static str> {
    match alg.get(..2)? {
        "RS" | "PS" => Some("RSA"),
        "ES" => Some("EC"),
        "Ed" => Some("OKP"),
        _ => None,
    }
}

/// What the relying party expects of this token.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub trusted_audiences: &'a [String],
    pub allowed_algs: &'a [CoreJwsSigningAlgorithm],
    pub now: DateTime<Utc>,
    pub skew: Duration,
}

pub enum Verdict {
    /// The verified payload, every claim as the provider sent it.
    Valid(Map<String, Value>),
    /// The header names a key our JWKS does not have: refetch and retry once.
    UnknownKid(String),
    Refused(Refused),
}

fn refused(reason: &'static str, detail: impl Into<String>) -> Verdict {
    Verdict::Refused(Refused::new(reason, detail))
}

fn decode_segment(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn seconds(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims
        .get(name)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

pub fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

pub fn verify(token: &CoreIdToken, jwks: &Jwks, expected: &Expected) -> Verdict {
    let compact = token.to_string();
    let mut parts = compact.split('.');
    let (Some(header), Some(payload)) = (
        parts.next().and_then(decode_segment),
        parts.next().and_then(decode_segment),
    ) else {
        return refused("token_invalid", "the ID token is not a JWS compact serialization");
    };

    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg.eq_ignore_ascii_case("none") {
        return refused("alg_none", "the ID token is unsigned (alg none)");
    }
    if alg.starts_with("HS") {
        return refused(
            "alg_hmac",
            format!("the ID token is MAC-signed ({alg}); only public-key signatures are accepted"),
        );
    }
    let allowed: Vec<String> = expected.allowed_algs.iter().map(alg_name).collect();
    if !allowed.iter().any(|a| a == alg) {
        return refused(
            "alg_not_allowed",
            format!("alg {alg:?} is not one of {}", allowed.join(", ")),
        );
    }
    if let Some(kid) = header.get("kid").and_then(Value::as_str) {
        let same_kid: Vec<_> = jwks
            .keys()
            .iter()
            .filter(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
            .collect();
        if same_kid.is_empty() {
            return Verdict::UnknownKid(kid.to_string());
        }
        let wanted = kty_for(alg);
        let fits = same_kid.iter().any(|k| {
            serde_json::to_value(k.key_type())
                .ok()
                .is_some_and(|kty| kty.as_str() == wanted)
        });
        if !fits {
            return refused(
                "alg_key_mismatch",
                format!("alg {alg} does not fit the type of key {kid:?}"),
            );
        }
    }

    let Ok(issuer) = IssuerUrl::new(expected.issuer.to_string()) else {
        return refused("token_invalid", "the configured issuer is not a URL");
    };
    let trusted: Vec<String> = expected.trusted_audiences.to_vec();
    let not_before_now = expected.now - expected.skew;
    let verifier =
        CoreIdTokenVerifier::new_public_client(ClientId::new(expected.client_id.to_string()), issuer, jwks.clone())
            .set_allowed_algs(expected.allowed_algs.to_vec())
            // `exp` is compared with a clock set back by the skew: a token may be
            // that much past its expiry when our clock runs ahead of the IdP's.
            .set_time_fn(move || not_before_now)
            .set_other_audience_verifier_fn(move |aud: &Audience| trusted.iter().any(|t| t.as_str() == aud.as_str()));
    let nonce = Nonce::new(expected.nonce.to_string());
    if let Err(e) = token.claims(&verifier, &nonce) {
        return Verdict::Refused(classify(e, &payload, expected.client_id));
    }

    // The crate accepted the signature over exactly these payload bytes.
    let now = expected.now.timestamp();
    let skew = expected.skew.num_seconds();
    if let Some(iat) = seconds(&payload, "iat") {
        if iat > now + skew {
            return refused(
                "issued_in_future",
                format!("iat {iat} is after now {now} + skew {skew}s"),
            );
        }
    }
    if let Some(nbf) = seconds(&payload, "nbf") {
        if nbf > now + skew {
            return refused("not_yet_valid", format!("nbf {nbf} is after now {now} + skew {skew}s"));
        }
    }
    let azp = payload.get("azp").and_then(Value::as_str);
    match azp {
        Some(azp) if azp != expected.client_id => {
            return refused("azp_mismatch", format!("azp {azp:?} is not this client"));
        }
        None if audiences(&payload).len() > 1 => {
            return refused("azp_missing", "several audiences and no azp");
        }
        _ => {}
    }
    Verdict::Valid(payload)
}

fn classify(e: ClaimsVerificationError, payload: &Map<String, Value>, client_id: &str) -> Refused {
    let detail = e.to_string();
    let reason = match &e {
        ClaimsVerificationError::InvalidIssuer(_) => "issuer_mismatch",
        ClaimsVerificationError::InvalidAudience(_) => {
            if audiences(payload).iter().any(|a| a == client_id) {
                "audience_untrusted"
            } else {
                "audience_mismatch"
            }
        }
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidNonce(_) => "nonce_mismatch",
        ClaimsVerificationError::SignatureVerification(s) => match s {
            SignatureVerificationError::CryptoError(_) => "signature_invalid",
            SignatureVerificationError::DisallowedAlg(_) | SignatureVerificationError::UnsupportedAlg(_) => {
                "alg_not_allowed"
            }
            SignatureVerificationError::NoMatchingKey | SignatureVerificationError::AmbiguousKeyId(_) => "unknown_kid",
            SignatureVerificationError::NoSignature => "alg_none",
            _ => "signature_invalid",
        },
        _ => "token_invalid",
    };
    Refused::new(reason, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_are_ever_allowed() {
        use CoreJwsSigningAlgorithm::*;
        assert_eq!(allowed_algs(&[]), [RsaSsaPkcs1V15Sha256]);
        assert_eq!(
            allowed_algs(&[HmacSha256, RsaSsaPkcs1V15Sha256, None, EcdsaP256Sha256]),
            [RsaSsaPkcs1V15Sha256, EcdsaP256Sha256]
        );
        assert!(allowed_algs(&[HmacSha256, None]).is_empty());
    }

    #[test]
    fn key_types_for_algorithms() {
        let cases = [
            ("RS256", Some("RSA")),
            ("PS512", Some("RSA")),
            ("ES256", Some("EC")),
            ("EdDSA", Some("OKP")),
            ("HS256", None),
            ("", None),
        ];
        for (alg, kty) in cases {
            assert_eq!(kty_for(alg), kty, "{alg}");
        }
    }

    #[test]
    fn audiences_from_string_or_array() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(audiences(&m(serde_json::json!({"aud": "a"}))), ["a"]);
        assert_eq!(audiences(&m(serde_json::json!({"aud": ["a", "b"]}))), ["a", "b"]);
        assert!(audiences(&m(serde_json::json!({}))).is_empty());
    }
}
