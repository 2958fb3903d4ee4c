//! Building Entra-shaped SAML Responses: the XML, its signatures (libxmlsec1
//! through samael) and, when asked, XML Encryption of the assertion.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use openssl::pkey::{PKey, Public};
use openssl::rsa::Padding;
use openssl::symm::{encrypt, encrypt_aead, Cipher};
use samael::crypto::{Crypto, CryptoProvider};

use super::keys::KeyPair;

pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// Entra's default: the assertion is signed.
    Assertion,
    Response,
    Both,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encryption {
    None,
    Aes128Cbc,
    Aes256Cbc,
    Aes128Gcm,
    Aes256Gcm,
}

/// Everything a response can vary in. `ResponseSpec::new` gives a valid,
/// Entra-like response for a user and an SP; tests change one thing.
#[derive(Clone, Debug)]
pub struct ResponseSpec {
    pub name_id: String,
    pub name_id_format: String,
    pub attributes: BTreeMap<String, Vec<String>>,
    pub acs_url: String,
    pub audience: String,
    pub destination: Option<String>,
    pub recipient: String,
    pub issuer: Option<String>,
    pub in_response_to: Option<String>,
    pub signing: Signing,
    pub algorithm: Algorithm,
    pub encryption: Encryption,
    /// PEM of the SP's encryption certificate (required with encryption).
    pub encrypt_to: Option<String>,
    pub now: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub status: String,
    pub second_status: Option<String>,
    pub assertion_id: String,
    pub response_id: String,
}

impl ResponseSpec {
    pub fn new(
        name_id: &str,
        attributes: BTreeMap<String, Vec<String>>,
        sp_entity_id: &str,
        acs_url: &str,
    ) -> ResponseSpec {
        let now = crate::now();
        ResponseSpec {
            name_id: name_id.to_string(),
            name_id_format: EMAIL_FORMAT.to_string(),
            attributes,
            acs_url: acs_url.to_string(),
            audience: sp_entity_id.to_string(),
            destination: Some(acs_url.to_string()),
            recipient: acs_url.to_string(),
            issuer: None,
            in_response_to: None,
            signing: Signing::Assertion,
            algorithm: Algorithm::Sha256,
            encryption: Encryption::None,
            encrypt_to: None,
            now,
            not_before: now - Duration::minutes(5),
            not_on_or_after: now + Duration::minutes(60),
            status: SUCCESS.to_string(),
            second_status: None,
            assertion_id: format!("_{}", uuid::Uuid::new_v4()),
            response_id: format!("_{}", uuid::Uuid::new_v4()),
        }
    }
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A signature template for xmlsec to fill, placed after the Issuer as
/// Entra does.
pub fn signature_template(reference_id: &str, algorithm: Algorithm, cert_body: &str) -> String {
    let (sig, dig) = match algorithm {
        Algorithm::Sha256 => (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
        Algorithm::Sha1 => (
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
    };
    format!(
        "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo>\
<CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/><SignatureMethod Algorithm=\"{sig}\"/>\
<Reference URI=\"#{reference_id}\"><Transforms><Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
<Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></Transforms><DigestMethod Algorithm=\"{dig}\"/>\
<DigestValue></DigestValue></Reference></SignedInfo><SignatureValue></SignatureValue>\
<KeyInfo><X509Data><X509Certificate>{cert_body}</X509Certificate></X509Data></KeyInfo></Signature>"
    )
}

/// Signs the first signature template of `xml` with `key`; returns the
/// document without its XML declaration (so it can be embedded).
pub fn sign(xml: &str, key: &KeyPair) -> String {
    let signed = Crypto::sign_xml(xml, &key.key_der()).expect("xmlsec signs a well-formed template");
    strip_declaration(&signed)
}

pub fn strip_declaration(xml: &str) -> String {
    let t = xml.trim_start();
    match t.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, r)| r.trim_start().to_string())
            .unwrap_or_default(),
        None => t.to_string(),
    }
    .trim_end()
    .to_string()
}

pub fn assertion_xml(spec: &ResponseSpec, issuer: &str, signature: &str) -> String {
    let irt = spec
        .in_response_to
        .as_ref()
        .map(|i| format!(" InResponseTo=\"{}\"", escape(i)))
        .unwrap_or_default();
    let mut attrs = String::new();
    for (name, values) in &spec.attributes {
        attrs.push_str(&format!("<Attribute Name=\"{}\">", escape(name)));
        for v in values {
            attrs.push_str(&format!("<AttributeValue>{}</AttributeValue>", escape(v)));
        }
        attrs.push_str("</Attribute>");
    }
    format!(
        "<Assertion xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" IssueInstant=\"{now}\" Version=\"2.0\">\
<Issuer>{issuer}</Issuer>{signature}<Subject><NameID Format=\"{fmt}\">{name_id}</NameID>\
<SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><SubjectConfirmationData{irt} NotOnOrAfter=\"{until}\" Recipient=\"{recipient}\"/></SubjectConfirmation></Subject>\
<Conditions NotBefore=\"{from}\" NotOnOrAfter=\"{until}\"><AudienceRestriction><Audience>{audience}</Audience></AudienceRestriction></Conditions>\
<AttributeStatement>{attrs}</AttributeStatement>\
<AuthnStatement AuthnInstant=\"{now}\" SessionIndex=\"{id}\"><AuthnContext><AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</AuthnContextClassRef></AuthnContext></AuthnStatement></Assertion>",
        id = escape(&spec.assertion_id),
        now = instant(spec.now),
        issuer = escape(issuer),
        fmt = escape(&spec.name_id_format),
        name_id = escape(&spec.name_id),
        until = instant(spec.not_on_or_after),
        from = instant(spec.not_before),
        recipient = escape(&spec.recipient),
        audience = escape(&spec.audience),
    )
}

fn response_xml(spec: &ResponseSpec, issuer: &str, signature: &str, inner: &str) -> String {
    let irt = spec
        .in_response_to
        .as_ref()
        .map(|i| format!(" InResponseTo=\"{}\"", escape(i)))
        .unwrap_or_default();
    let dest = spec
        .destination
        .as_ref()
        .map(|d| format!(" Destination=\"{}\"", escape(d)))
        .unwrap_or_default();
    let second = spec
        .second_status
        .as_ref()
        .map(|s| format!("<samlp:StatusCode Value=\"{}\"/>", escape(s)))
        .unwrap_or_default();
    let close = if second.is_empty() {
        "/>".to_string()
    } else {
        format!(">{second}</samlp:StatusCode>")
    };
    format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\"{dest}{irt}>\
<Issuer xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\">{issuer}</Issuer>{signature}<samlp:Status><samlp:StatusCode Value=\"{status}\"{close}</samlp:Status>{inner}</samlp:Response>",
        id = escape(&spec.response_id),
        now = instant(spec.now),
        issuer = escape(issuer),
        status = escape(&spec.status),
    )
}

/// Builds the whole response, signing with `key` as the spec says.
pub fn build(spec: &ResponseSpec, default_issuer: &str, key: &KeyPair) -> String {
    let issuer = spec.issuer.as_deref().unwrap_or(default_issuer);
    let body = key.cert_body();
    let sign_assertion = matches!(spec.signing, Signing::Assertion | Signing::Both);
    let sign_response = matches!(spec.signing, Signing::Response | Signing::Both);
    let mut assertion = if sign_assertion {
        sign(
            &assertion_xml(
                spec,
                issuer,
                &signature_template(&spec.assertion_id, spec.algorithm, &body),
            ),
            key,
        )
    } else {
        assertion_xml(spec, issuer, "")
    };
    if spec.status != SUCCESS {
        assertion.clear(); // Entra sends no assertion with an error status.
    } else if spec.encryption != Encryption::None {
        let pem = spec
            .encrypt_to
            .as_deref()
            .expect("encryption needs the SP's certificate");
        assertion = encrypt_assertion(&assertion, pem, spec.encryption);
    }
    if sign_response {
        let template = signature_template(&spec.response_id, spec.algorithm, &body);
        sign(&response_xml(spec, issuer, &template, &assertion), key)
    } else {
        response_xml(spec, issuer, "", &assertion)
    }
}

/// XML Encryption as Entra sends it: a fresh AES key wrapped with RSA-OAEP
/// (MGF1/SHA-1) to the SP's certificate; CBC with the IV prepended, GCM
/// with a 12-byte IV prepended and the tag appended.
pub fn encrypt_assertion(assertion: &str, sp_cert_pem: &str, how: Encryption) -> String {
    let cert = openssl::x509::X509::from_pem(sp_cert_pem.as_bytes()).expect("SP certificate PEM");
    let public: PKey<Public> = cert.public_key().expect("certificate key");
    let (cipher, uri, gcm) = match how {
        Encryption::Aes128Cbc => (
            Cipher::aes_128_cbc(),
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            false,
        ),
        Encryption::Aes256Cbc => (
            Cipher::aes_256_cbc(),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            false,
        ),
        Encryption::Aes128Gcm => (
            Cipher::aes_128_gcm(),
            "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            true,
        ),
        Encryption::Aes256Gcm | Encryption::None => (
            Cipher::aes_256_gcm(),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            true,
        ),
    };
    let mut key = vec![0u8; cipher.key_len()];
    openssl::rand::rand_bytes(&mut key).expect("random");
    let data = if gcm {
        let mut iv = [0u8; 12];
        openssl::rand::rand_bytes(&mut iv).expect("random");
        let mut tag = [0u8; 16];
        let ct = encrypt_aead(cipher, &key, Some(&iv), &[], assertion.as_bytes(), &mut tag).expect("AES-GCM");
        [iv.to_vec(), ct, tag.to_vec()].concat()
    } else {
        let mut iv = [0u8; 16];
        openssl::rand::rand_bytes(&mut iv).expect("random");
        let ct = encrypt(cipher, &key, Some(&iv), assertion.as_bytes()).expect("AES-CBC");
        [iv.to_vec(), ct].concat()
    };
    let rsa = public.rsa().expect("RSA key");
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(&key, &mut wrapped, Padding::PKCS1_OAEP)
        .expect("RSA-OAEP");
    wrapped.truncate(n);
    format!(
        "<EncryptedAssertion xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\">\
<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\">\
<xenc:EncryptionMethod Algorithm=\"{uri}\"/><KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><xenc:EncryptedKey>\
<xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"><DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/></xenc:EncryptionMethod>\
<xenc:CipherData><xenc:CipherValue>{key}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></KeyInfo>\
<xenc:CipherData><xenc:CipherValue>{data}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></EncryptedAssertion>",
        key = STANDARD.encode(wrapped),
        data = STANDARD.encode(data),
    )
}
