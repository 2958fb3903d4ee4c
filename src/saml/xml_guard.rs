//! The gate every SAML document passes before samael/libxmlsec1 sees a byte
//! (DESIGN: samael fetches external `Reference URI`s before any signature is
//! trusted and accepts an internal DTD). A streaming quick-xml pass that
//! never resolves anything: it refuses DTDs, entity references, processing
//! instructions, references outside the document, unexpected transforms,
//! duplicate IDs and more than one assertion, and reports what it saw.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

pub const DSIG: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
pub const SAML: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
pub const SAMLP: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";

const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const SHA1_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
];
const MAX_DEPTH: usize = 64;

/// A refusal: the login event's reason code and a detail for the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardRefusal {
    pub reason: &'static str,
    pub detail: String,
}

fn refuse<T>(reason: &'static str, detail: impl Into<String>) -> Result<T, GuardRefusal> {
    Err(GuardRefusal {
        reason,
        detail: detail.into(),
    })
}

/// What the pass saw, for the checks that follow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Local name of the root element in the SAML protocol namespace.
    pub root: String,
    pub signatures: usize,
    pub assertions: usize,
    pub encrypted_assertions: usize,
    /// SignatureMethod/DigestMethod algorithms seen.
    pub algorithms: Vec<String>,
    /// Every samlp:StatusCode Value, outermost first (second-level codes
    /// such as `…:AuthnFailed` follow the top-level one).
    pub status_codes: Vec<String>,
}

impl Shape {
    /// Exactly one Assertion or EncryptedAssertion (checked after the status,
    /// since an error response carries none).
    pub fn check_single_assertion(&self) -> Result<(), GuardRefusal> {
        let total = self.assertions + self.encrypted_assertions;
        if total != 1 {
            return refuse(
                "assertion_count",
                format!("the response has {total} assertions; exactly one is accepted"),
            );
        }
        Ok(())
    }

    pub fn uses_sha1(&self) -> bool {
        self.algorithms.iter().any(|a| SHA1_ALGORITHMS.contains(&a.as_str()))
    }
}

fn attr(e: &BytesStart, name: &[u8]) -> Result<Option<String>, GuardRefusal> {
    for a in e.attributes() {
        let a = a.map_err(|err| GuardRefusal {
            reason: "malformed_xml",
            detail: err.to_string(),
        })?;
        if a.key.as_ref() == name {
            let v = a.unescape_value().map_err(|err| GuardRefusal {
                reason: "malformed_xml",
                detail: err.to_string(),
            })?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Checks a whole SAML document. `expect_root` is the protocol element the
/// endpoint accepts ("Response", or "Assertion" for a decrypted assertion,
/// which lives in the assertion namespace).
pub fn inspect(xml: &str, expect_root: &str) -> Result<Shape, GuardRefusal> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut shape = Shape::default();
    let mut ids: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut in_transforms = false;
    // Only SignedInfo's algorithms are signature algorithms; an
    // EncryptedKey's OAEP DigestMethod (SHA-1 by Entra's default) is not.
    let mut in_signed_info = false;
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok(v) => v,
            Err(e) => return refuse("malformed_xml", e.to_string()),
        };
        let ns: Option<Vec<u8>> = match ns {
            ResolveResult::Bound(n) => Some(n.as_ref().to_vec()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => {
                return refuse(
                    "malformed_xml",
                    format!("undeclared namespace prefix {}", String::from_utf8_lossy(&p)),
                )
            }
        };
        match event {
            Event::DocType(_) => return refuse("dtd_forbidden", "the document has a DOCTYPE"),
            Event::PI(_) => return refuse("processing_instruction", "processing instructions are not allowed"),
            // Exclusive C14N drops comments, so a comment added inside a
            // signed NameID (`alice@x.com<!---->.evil.com`) keeps the
            // signature valid while a naive reader sees another value. No
            // IdP needs comments or CDATA in a response: refuse both.
            Event::Comment(_) => return refuse("comment_injection", "comments are not accepted inside SAML messages"),
            Event::CData(_) => {
                return refuse(
                    "comment_injection",
                    "CDATA sections are not accepted inside SAML messages",
                )
            }
            Event::GeneralRef(r) => {
                // Predefined (&amp; …) and character references are fine;
                // anything else would need a DTD to mean something.
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                let predefined =
                    matches!(name.as_str(), "amp" | "lt" | "gt" | "quot" | "apos") || name.starts_with('#');
                if !predefined {
                    return refuse("dtd_forbidden", format!("entity reference &{name};"));
                }
            }
            Event::Start(e) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return refuse("malformed_xml", "elements nested too deeply");
                }
                let local = e.local_name().as_ref().to_vec();
                let ns = ns.as_deref();
                if depth == 1 {
                    let expected_ns = if expect_root == "Assertion" { SAML } else { SAMLP };
                    if ns != Some(expected_ns) || local != expect_root.as_bytes() {
                        return refuse(
                            "malformed_xml",
                            format!(
                                "root element is {}, expected {expect_root}",
                                String::from_utf8_lossy(&local)
                            ),
                        );
                    }
                    shape.root = expect_root.to_string();
                }
                for name in [&b"ID"[..], b"Id"] {
                    if let Some(id) = attr(&e, name)? {
                        if ids.contains(&id) {
                            return refuse("duplicate_id", format!("ID {id:?} appears twice"));
                        }
                        ids.push(id);
                    }
                }
                match (ns, local.as_slice()) {
                    (Some(SAML), b"Assertion") => shape.assertions += 1,
                    (Some(SAMLP), b"StatusCode") => shape.status_codes.push(attr(&e, b"Value")?.unwrap_or_default()),
                    (Some(SAML), b"EncryptedAssertion") => shape.encrypted_assertions += 1,
                    (Some(DSIG), b"Signature") => shape.signatures += 1,
                    (Some(DSIG), b"Reference") => {
                        let uri = attr(&e, b"URI")?.unwrap_or_default();
                        let internal = uri.strip_prefix('#').is_some_and(|id| {
                            !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
                        });
                        if !internal {
                            return refuse(
                                "external_reference",
                                format!("signature reference {uri:?} does not point inside the document"),
                            );
                        }
                    }
                    (Some(DSIG), b"Transforms") => in_transforms = true,
                    (Some(DSIG), b"SignedInfo") => in_signed_info = true,
                    (Some(DSIG), b"Transform") if in_transforms => {
                        let alg = attr(&e, b"Algorithm")?.unwrap_or_default();
                        if alg != ENVELOPED && alg != EXC_C14N {
                            return refuse("disallowed_transform", format!("transform {alg:?}"));
                        }
                    }
                    (Some(DSIG), b"CanonicalizationMethod") => {
                        let alg = attr(&e, b"Algorithm")?.unwrap_or_default();
                        if alg != EXC_C14N {
                            return refuse("disallowed_transform", format!("canonicalization {alg:?}"));
                        }
                    }
                    (Some(DSIG), b"SignatureMethod") | (Some(DSIG), b"DigestMethod") if in_signed_info => {
                        shape.algorithms.push(attr(&e, b"Algorithm")?.unwrap_or_default());
                    }
                    (Some(DSIG), b"RetrievalMethod") => {
                        return refuse("external_reference", "KeyInfo RetrievalMethod is not allowed");
                    }
                    _ => {}
                }
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                if ns.as_deref() == Some(DSIG) {
                    match e.local_name().as_ref() {
                        b"Transforms" => in_transforms = false,
                        b"SignedInfo" => in_signed_info = false,
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if shape.root.is_empty() {
        return refuse("malformed_xml", "empty document");
    }
    Ok(shape)
}

/// Whether the document's root element is `local` in namespace `ns`,
/// resolved through the namespace declarations (not by prefix).
pub fn root_is(xml: &str, ns: &[u8], local: &str) -> bool {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event() {
            Ok((resolved, Event::Start(e) | Event::Empty(e))) => {
                return matches!(resolved, ResolveResult::Bound(n) if n.as_ref() == ns)
                    && e.local_name().as_ref() == local.as_bytes();
            }
            Ok((_, Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// For documents that are not SAML protocol messages (IdP metadata): only
/// refuses what could make the parser reach outside the document.
pub fn inspect_plain(xml: &str) -> Result<(), GuardRefusal> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Err(e) => return refuse("malformed_xml", e.to_string()),
            Ok(Event::DocType(_)) => return refuse("dtd_forbidden", "the document has a DOCTYPE"),
            Ok(Event::GeneralRef(r)) => {
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                if !(matches!(name.as_str(), "amp" | "lt" | "gt" | "quot" | "apos") || name.starts_with('#')) {
                    return refuse("dtd_forbidden", format!("entity reference &{name};"));
                }
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(inner: &str) -> String {
        format!(
            r##"<?xml version="1.0" encoding="UTF-8"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_r1">{inner}</samlp:Response>"##
        )
    }

    fn signed_assertion(reference: &str, transform: &str, method: &str) -> String {
        format!(
            r##"<saml:Assertion ID="_a1"><saml:Issuer>x</saml:Issuer><ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI="{reference}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="{transform}"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>x</ds:DigestValue></ds:Reference></ds:SignedInfo></ds:Signature></saml:Assertion>"##
        )
    }

    const RSA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

    #[test]
    fn accepts_a_well_formed_signed_response() {
        let shape = inspect(&response(&signed_assertion("#_a1", EXC_C14N, RSA256)), "Response").expect("ok");
        assert_eq!(shape.signatures, 1);
        assert_eq!(shape.assertions, 1);
        assert!(!shape.uses_sha1());
        let sha1 = inspect(
            &response(&signed_assertion(
                "#_a1",
                EXC_C14N,
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            )),
            "Response",
        )
        .expect("ok");
        assert!(sha1.uses_sha1());
    }

    #[test]
    fn refusals() {
        let good = signed_assertion("#_a1", EXC_C14N, RSA256);
        let cases: Vec<(String, &str)> = vec![
            (
                format!("<!DOCTYPE r [<!ENTITY x \"y\">]>{}", response(&good)),
                "dtd_forbidden",
            ),
            (
                response(&format!("{good}<saml:Attribute>&xxe;</saml:Attribute>")),
                "dtd_forbidden",
            ),
            (response(&format!("<?evil x?>{good}")), "processing_instruction"),
            (
                response(&signed_assertion("http://127.0.0.1:9/x", EXC_C14N, RSA256)),
                "external_reference",
            ),
            (
                response(&signed_assertion("file:///etc/passwd", EXC_C14N, RSA256)),
                "external_reference",
            ),
            (response(&signed_assertion("", EXC_C14N, RSA256)), "external_reference"),
            (
                response(&signed_assertion(
                    "#_a1",
                    "http://www.w3.org/TR/1999/REC-xslt-19991116",
                    RSA256,
                )),
                "disallowed_transform",
            ),
            (
                response(&signed_assertion(
                    "#_a1",
                    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
                    RSA256,
                )),
                "disallowed_transform",
            ),
            (response(&format!("{good}{good}")), "duplicate_id"),
            (
                response(&format!("{good}<saml:Assertion ID=\"_a2\"/>")),
                "assertion_count",
            ),
            (response(""), "assertion_count"),
            (
                response(&good).replace("<saml:Issuer>x", "<saml:Issuer ID=\"_r1\">x"),
                "duplicate_id",
            ),
            ("<notxml".to_string(), "malformed_xml"),
            (
                response(&good.replace("<saml:Issuer>x", "<saml:Issuer>x<!---->")),
                "comment_injection",
            ),
            (
                response(&good.replace("<saml:Issuer>x", "<saml:Issuer><![CDATA[x]]>")),
                "comment_injection",
            ),
            ("".to_string(), "malformed_xml"),
            (
                good.replace(
                    "<saml:Assertion",
                    "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
                ),
                "malformed_xml",
            ),
            (
                response(&good).replace("</samlp:Response>", "</samlp:Respons>"),
                "malformed_xml",
            ),
            (
                response(&good.replace(
                    "ds:Signature>",
                    "ds:Signature><ds:KeyInfo><ds:RetrievalMethod URI=\"http://x\"/></ds:KeyInfo>",
                )),
                "external_reference",
            ),
        ];
        for (xml, reason) in cases {
            let got = inspect(&xml, "Response")
                .and_then(|s| s.check_single_assertion())
                .expect_err(&xml);
            assert_eq!(got.reason, reason, "{xml}: {got:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "<saml:X>".repeat(100), "</saml:X>".repeat(100));
        assert_eq!(
            inspect(&response(&deep), "Response").expect_err("deep").reason,
            "malformed_xml"
        );
    }

    #[test]
    fn a_decrypted_assertion_is_its_own_root() {
        let a = signed_assertion("#_a1", EXC_C14N, RSA256)
            .replace("<saml:Assertion ", "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ");
        let shape = inspect(&a, "Assertion").expect("ok");
        assert_eq!(shape.assertions, 1);
    }
}
