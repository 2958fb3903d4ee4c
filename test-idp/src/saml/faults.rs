//! Bad responses for negative tests. Each takes a good response (as
//! `response::build` made it, or `SamlIdp::response`) and returns the
//! attack or the mistake named; the comments say what an SP must do.

/// Changes a signed value after signing: the digest no longer matches.
pub fn tamper_attribute(xml: &str, from: &str, to: &str) -> String {
    xml.replacen(&format!(">{from}<"), &format!(">{to}<"), 1)
}

/// A second, unsigned assertion for another person added beside the signed
/// one (XSW: a reader that takes "the first assertion" is fooled).
pub fn wrapped_assertion(xml: &str, evil_name_id: &str) -> String {
    let start = xml.find("<Assertion ").expect("response has an assertion");
    let end = xml
        .find("</Assertion>")
        .map(|i| i + "</Assertion>".len())
        .expect("assertion closes");
    let signed = &xml[start..end];
    let evil = strip_signature(signed)
        .replacen(" ID=\"", " ID=\"evil", 1)
        .replace(&name_id_of(signed), evil_name_id);
    format!("{}{}{}", &xml[..start], evil, &xml[start..])
}

/// The whole signed response hidden in an Extensions element of a new,
/// unsigned response carrying an evil assertion.
pub fn wrapped_response(xml: &str, evil_name_id: &str) -> String {
    let inner = xml.trim_start_matches(|c| c != '<');
    let start = inner.find("<Assertion ").expect("assertion");
    let end = inner
        .find("</Assertion>")
        .map(|i| i + "</Assertion>".len())
        .expect("assertion closes");
    let evil = strip_signature(&inner[start..end])
        .replace(&name_id_of(&inner[start..end]), evil_name_id)
        .replacen(" ID=\"", " ID=\"evil", 1);
    format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_outer\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\">\
<samlp:Extensions>{inner}</samlp:Extensions><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>{evil}</samlp:Response>"
    )
}

/// The signed assertion duplicated (same ID twice).
pub fn two_assertions(xml: &str) -> String {
    let start = xml.find("<Assertion ").expect("assertion");
    let end = xml
        .find("</Assertion>")
        .map(|i| i + "</Assertion>".len())
        .expect("assertion closes");
    format!("{}{}{}", &xml[..end], &xml[start..end], &xml[end..])
}

/// The assertion's signature pointed at another element's ID.
pub fn reference_to_other_id(xml: &str, other_id: &str) -> String {
    let at = xml.find("<Reference URI=\"#").expect("a reference") + "<Reference URI=\"#".len();
    let end = xml[at..].find('"').expect("uri ends") + at;
    format!("{}{}{}", &xml[..at], other_id, &xml[end..])
}

/// An evil element carrying the signed assertion's ID, placed first.
pub fn duplicate_id(xml: &str, assertion_id: &str) -> String {
    let at = xml.find("<samlp:Status>").expect("status");
    format!(
        "{}<samlp:Extensions><Evil xmlns=\"urn:x\" ID=\"{assertion_id}\"/></samlp:Extensions>{}",
        &xml[..at],
        &xml[at..]
    )
}

/// `alice@example.com<!---->.evil.com`: the comment is outside exclusive
/// C14N, so the signature over `alice@example.com.evil.com` still verifies
/// while a naive reader sees `alice@example.com`.
pub fn comment_in_name_id(xml: &str, split_after: &str) -> String {
    xml.replacen(split_after, &format!("{split_after}<!---->"), 1)
}

/// An internal DTD with an entity used in an attribute value.
pub fn with_dtd(xml: &str) -> String {
    let body = xml.trim_start_matches(|c| c != '<');
    let body = if body.starts_with("<?xml") {
        body.split_once("?>").map(|(_, r)| r).unwrap_or(body)
    } else {
        body
    };
    let with_entity = body.replacen("<AttributeValue>", "<AttributeValue>&boom;", 1);
    format!("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY boom \"boomboomboomboom\">]>{with_entity}")
}

/// The signature's Reference rewritten to an outside URI (http or file).
pub fn external_reference(xml: &str, uri: &str) -> String {
    let at = xml.find("<Reference URI=\"").expect("a reference") + "<Reference URI=\"".len();
    let end = xml[at..].find('"').expect("uri ends") + at;
    format!("{}{}{}", &xml[..at], uri, &xml[end..])
}

pub fn strip_signature(xml: &str) -> String {
    match (xml.find("<Signature"), xml.find("</Signature>")) {
        (Some(s), Some(e)) => format!("{}{}", &xml[..s], &xml[e + "</Signature>".len()..]),
        _ => xml.to_string(),
    }
}

fn name_id_of(assertion: &str) -> String {
    assertion
        .find("<NameID")
        .and_then(|s| assertion[s..].find('>').map(|e| s + e + 1))
        .and_then(|s| {
            assertion[s..]
                .find("</NameID>")
                .map(|e| assertion[s..s + e].to_string())
        })
        .unwrap_or_default()
}

/// Transport-level garbage.
pub const NOT_BASE64: &str = "***not base64***";
pub fn base64_of_garbage() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode("<samlp:Response><unclosed>")
}
