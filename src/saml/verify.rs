//! ACS verification (SPEC §6): from the posted XML to a verified assertion,
//! or a refusal with its reason code. No I/O: the caller checks
//! InResponseTo against the AuthnRequest store and the assertion id against
//! the replay cache, which need the database.
//!
//! How "only signed content is read" is guaranteed: every value we use
//! (issuer, subject, conditions, attributes, InResponseTo, Destination of a
//! signed Response) is parsed from the string that samael's
//! `reduce_xml_to_signed_with_allowed_algorithms` returns. That function
//! verifies every ds:Signature with only the connection's certificates and
//! then rebuilds the document from the bytes xmlsec verified
//! (`ReduceMode::ValidateAndMarkNoAncestors`), dropping everything unsigned.
//! The unverified document is read for one thing only: a non-Success status,
//! which can only refuse. Before any of it, `xml_guard` has refused DTDs,
//! external references, comments, duplicate IDs and extra assertions, so
//! wrapping and comment-injection variants never reach the verifier.

use chrono::{DateTime, Duration, Utc};
use openssl::pkey::{PKey, Private};
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};
use samael::schema::{Assertion, Response};

use super::decrypt;
use super::xml_guard::{self, GuardRefusal, SAML};
use crate::rules::claims::RawClaims;

pub type Refusal = GuardRefusal;

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// What this SP trusts about the IdP of one connection.
pub struct IdpTrust<'a> {
    pub entity_id: &'a str,
    pub certificates: &'a [CertificateDer],
    pub allow_sha1: bool,
}

/// This SP as the connection presents it.
pub struct SpEndpoint<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    pub decryption_key: Option<&'a PKey<Private>>,
}

#[derive(Clone, Debug)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    /// From signed content only (SubjectConfirmationData, or a signed Response).
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub attributes: RawClaims,
    /// Until when the replay cache must remember the assertion id.
    pub remember_until: DateTime<Utc>,
    pub response_signed: bool,
    pub assertion_signed: bool,
    pub encrypted: bool,
}

fn refuse<T>(reason: &'static str, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        reason,
        detail: detail.into(),
    })
}

/// What xmlsec may verify when the connection does not allow SHA-1.
const MODERN_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Verifies every signature of `xml` and returns only what they cover.
fn reduce(xml: &str, idp: &IdpTrust) -> Result<String, Refusal> {
    if idp.certificates.is_empty() {
        // samael verifies nothing without a certificate: never let it try.
        return refuse("no_idp_certificate", "the connection has no IdP signing certificate");
    }
    // samael's allow-list has no SHA-1 entry, so a connection that allows
    // SHA-1 (an explicit, per-connection opt-in) passes no list at all.
    let allowed = if idp.allow_sha1 { None } else { Some(MODERN_ALGORITHMS) };
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        idp.certificates,
        ReduceMode::ValidateAndMarkNoAncestors,
        allowed,
    )
    .or_else(|e| refuse("signature_invalid", format!("signature verification failed: {e}")))
}

/// Whether a reduced document is rooted at a (signed) Response.
fn root_is_response(reduced: &str) -> bool {
    xml_guard::root_is(reduced, xml_guard::SAMLP, "Response")
}

pub fn verify(
    xml: &str,
    idp: &IdpTrust,
    sp: &SpEndpoint,
    now: DateTime<Utc>,
    skew: Duration,
) -> Result<VerifiedAssertion, Refusal> {
    let shape = xml_guard::inspect(xml, "Response")?;
    // A non-Success status is read from the unsigned envelope: it can only refuse.
    if let Some(top) = shape.status_codes.first() {
        if top != SUCCESS {
            let name = |uri: &str| uri.rsplit(':').next().unwrap_or(uri).to_string();
            let detail: Vec<String> = shape.status_codes.iter().map(|c| name(c)).collect();
            return refuse("status_not_success", detail.join("/"));
        }
    }
    shape.check_single_assertion()?;
    if shape.uses_sha1() && !idp.allow_sha1 {
        return refuse(
            "sha1_not_allowed",
            "the response is signed with SHA-1, which this connection does not allow",
        );
    }

    let (signed_response, assertion, assertion_signed, encrypted) = if shape.encrypted_assertions == 1 {
        let key = match sp.decryption_key {
            Some(k) => k,
            None => {
                return refuse(
                    "decryption_failed",
                    "the response is encrypted but the connection has no SP key",
                )
            }
        };
        // Any signature visible outside the encrypted part is the Response's.
        let signed_response = if shape.signatures > 0 {
            let reduced = reduce(xml, idp)?;
            if !root_is_response(&reduced) {
                return refuse("signature_invalid", "the signature does not cover the Response");
            }
            // The envelope is read for Destination, Issuer and InResponseTo;
            // the encrypted assertion is handled below, so cut it out here.
            let envelope = match decrypt::element_text(&reduced, SAML, b"EncryptedAssertion")? {
                Some(part) => reduced.replacen(part, "", 1),
                None => {
                    return refuse(
                        "signature_invalid",
                        "the signature does not cover the EncryptedAssertion",
                    )
                }
            };
            Some(parse_response(&envelope)?)
        } else {
            None
        };
        let encrypted_xml = decrypt::element_text(xml, SAML, b"EncryptedAssertion")?.ok_or_else(|| Refusal {
            reason: "malformed_xml",
            detail: "EncryptedAssertion not found".into(),
        })?;
        let plain = decrypt::decrypt_assertion(encrypted_xml, key)?;
        // The decrypted assertion passes the same gate and is verified in full.
        let inner = xml_guard::inspect(&plain, "Assertion")?;
        if inner.uses_sha1() && !idp.allow_sha1 {
            return refuse(
                "sha1_not_allowed",
                "the assertion is signed with SHA-1, which this connection does not allow",
            );
        }
        let (assertion_xml, assertion_signed) = if inner.signatures > 0 {
            (reduce(&plain, idp)?, true)
        } else {
            (plain, false)
        };
        if signed_response.is_none() && !assertion_signed {
            return refuse("unsigned", "neither the Response nor the decrypted Assertion is signed");
        }
        (
            signed_response,
            parse_assertion(&assertion_xml)?,
            assertion_signed,
            true,
        )
    } else {
        if shape.signatures == 0 {
            return refuse("unsigned", "neither the Response nor the Assertion is signed");
        }
        let reduced = reduce(xml, idp)?;
        if root_is_response(&reduced) {
            let mut response = parse_response(&reduced)?;
            let assertion = response.assertion.take().ok_or_else(|| Refusal {
                reason: "signature_invalid",
                detail: "the signed Response holds no assertion".into(),
            })?;
            let assertion_signed = assertion.signature.is_some();
            (Some(response), assertion, assertion_signed, false)
        } else {
            (None, parse_assertion(&reduced)?, true, false)
        }
    };

    check(signed_response.as_ref(), &assertion, idp, sp, now, skew).map(|mut v| {
        v.assertion_signed = assertion_signed;
        v.encrypted = encrypted;
        v
    })
}

fn parse_response(xml: &str) -> Result<Response, Refusal> {
    xml.parse::<Response>()
        .or_else(|e| refuse("malformed_xml", format!("response: {e}")))
}

fn parse_assertion(xml: &str) -> Result<Assertion, Refusal> {
    xml.parse::<Assertion>()
        .or_else(|e| refuse("malformed_xml", format!("assertion: {e}")))
}

/// The §6 checks on signed content.
fn check(
    response: Option<&Response>,
    assertion: &Assertion,
    idp: &IdpTrust,
    sp: &SpEndpoint,
    now: DateTime<Utc>,
    skew: Duration,
) -> Result<VerifiedAssertion, Refusal> {
    let mut in_response_to = None;
    if let Some(r) = response {
        if r.destination.as_deref() != Some(sp.acs_url) {
            return refuse(
                "destination_mismatch",
                format!("Destination {:?} is not this ACS {:?}", r.destination, sp.acs_url),
            );
        }
        if let Some(issuer) = r.issuer.as_ref().and_then(|i| i.value.as_deref()) {
            if issuer != idp.entity_id {
                return refuse("issuer_mismatch", format!("Response Issuer {issuer:?}"));
            }
        }
        in_response_to = r.in_response_to.clone();
    }
    let issuer = assertion.issuer.value.as_deref().unwrap_or("");
    if issuer != idp.entity_id {
        return refuse(
            "issuer_mismatch",
            format!("Assertion Issuer {issuer:?} is not {:?}", idp.entity_id),
        );
    }
    if assertion.issue_instant > now + skew {
        return refuse(
            "not_yet_valid",
            format!("IssueInstant {} is in the future", assertion.issue_instant),
        );
    }
    let subject = assertion.subject.as_ref().ok_or_else(|| Refusal {
        reason: "subject_missing",
        detail: "no Subject".into(),
    })?;
    let name_id = subject.name_id.as_ref().ok_or_else(|| Refusal {
        reason: "subject_missing",
        detail: "no NameID".into(),
    })?;
    if name_id.value.trim().is_empty() {
        return refuse("subject_missing", "empty NameID");
    }

    // SubjectConfirmation: a bearer confirmation for this ACS, in its window.
    let confirmation = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .find_map(|c| c.subject_confirmation_data.as_ref())
        .ok_or_else(|| Refusal {
            reason: "subject_confirmation_missing",
            detail: "no bearer SubjectConfirmationData".into(),
        })?;
    if confirmation.recipient.as_deref() != Some(sp.acs_url) {
        return refuse(
            "recipient_mismatch",
            format!(
                "Recipient {:?} is not this ACS {:?}",
                confirmation.recipient, sp.acs_url
            ),
        );
    }
    let confirm_until = confirmation.not_on_or_after.ok_or_else(|| Refusal {
        reason: "subject_confirmation_missing",
        detail: "SubjectConfirmationData has no NotOnOrAfter".into(),
    })?;
    if now >= confirm_until + skew {
        return refuse(
            "expired",
            format!("SubjectConfirmationData NotOnOrAfter {confirm_until}"),
        );
    }
    if let Some(nb) = confirmation.not_before {
        if now + skew < nb {
            return refuse("not_yet_valid", format!("SubjectConfirmationData NotBefore {nb}"));
        }
    }
    match (&in_response_to, &confirmation.in_response_to) {
        (Some(a), Some(b)) if a != b => {
            return refuse(
                "in_response_to_mismatch",
                "Response and SubjectConfirmationData name different requests",
            )
        }
        (None, Some(b)) => in_response_to = Some(b.clone()),
        _ => {}
    }

    // Conditions: the window and the audience (required: an assertion for
    // anyone is an assertion for no one).
    let conditions = assertion.conditions.as_ref().ok_or_else(|| Refusal {
        reason: "audience_mismatch",
        detail: "no Conditions".into(),
    })?;
    if let Some(nb) = conditions.not_before {
        if now + skew < nb {
            return refuse("not_yet_valid", format!("Conditions NotBefore {nb}"));
        }
    }
    let mut remember_until = confirm_until;
    if let Some(na) = conditions.not_on_or_after {
        if now >= na + skew {
            return refuse("expired", format!("Conditions NotOnOrAfter {na}"));
        }
        remember_until = remember_until.max(na);
    }
    let audiences: Vec<&str> = conditions
        .audience_restrictions
        .iter()
        .flatten()
        .flat_map(|r| r.audience.iter())
        .map(String::as_str)
        .collect();
    let restrictions = conditions.audience_restrictions.as_ref().map_or(0, Vec::len);
    // Every AudienceRestriction must name us (SAML core 2.5.1.4).
    let all_name_us = conditions
        .audience_restrictions
        .iter()
        .flatten()
        .all(|r| r.audience.iter().any(|a| a == sp.entity_id));
    if restrictions == 0 || !all_name_us {
        return refuse(
            "audience_mismatch",
            format!("Audience {audiences:?} does not name {:?}", sp.entity_id),
        );
    }

    let mut attributes = RawClaims::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for a in &statement.attributes {
            let Some(name) = a.name.clone() else { continue };
            let values = a.values.iter().map(|v| v.value.clone().unwrap_or_default());
            attributes.entry(name).or_default().extend(values);
        }
    }
    Ok(VerifiedAssertion {
        assertion_id: assertion.id.clone(),
        in_response_to,
        name_id: name_id.value.clone(),
        name_id_format: name_id.format.clone(),
        attributes,
        remember_until: remember_until + skew,
        response_signed: response.is_some(),
        assertion_signed: false,
        encrypted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_idp::saml::{Signing, SpRegistration};

    /// What samael's reduction returns decides what we may read: a Response
    /// root only when the Response itself is signed.
    #[test]
    fn reduction_roots_follow_what_is_signed() {
        let idp = test_idp::SamlIdp::new("https://sts.windows.net/t/", "http://127.0.0.1:9", Vec::new());
        let sp = SpRegistration {
            entity_id: "https://sp.example/saml/1/metadata".into(),
            acs_url: "https://sp.example/saml/1/acs".into(),
            slo_url: None,
            encryption_cert_pem: None,
        };
        let certs = vec![super::super::config::certificate_der(&idp.signing_cert_pem()).expect("cert")];
        let trust = IdpTrust {
            entity_id: idp.entity_id(),
            certificates: &certs,
            allow_sha1: false,
        };
        for (signing, response_root) in [
            (Signing::Assertion, false),
            (Signing::Response, true),
            (Signing::Both, true),
        ] {
            let mut spec = idp.spec_for("alice", &sp);
            spec.signing = signing;
            spec.in_response_to = Some("_req".into());
            let reduced = reduce(&idp.response(&spec), &trust).expect("verifies");
            assert_eq!(root_is_response(&reduced), response_root, "{signing:?}: {reduced}");
            if !response_root {
                assert!(
                    !reduced.contains("Destination="),
                    "no unsigned envelope survives: {reduced}"
                );
            }
        }
        // No certificate: refused before samael is asked (it would verify nothing).
        let none = IdpTrust {
            entity_id: idp.entity_id(),
            certificates: &[],
            allow_sha1: false,
        };
        let spec = idp.spec_for("alice", &sp);
        assert_eq!(
            reduce(&idp.response(&spec), &none).expect_err("refused").reason,
            "no_idp_certificate"
        );
    }
}
