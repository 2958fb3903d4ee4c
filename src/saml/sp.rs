//! This SP as one connection presents itself: URLs, its key pair, its
//! metadata, and the AuthnRequests it sends (HTTP-Redirect binding).

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::{X509NameBuilder, X509};
use uuid::Uuid;

use crate::config::Config;

/// The URLs of one connection. The metadata URL doubles as the SP entity
/// id, as is common, so an IdP admin can paste one value.
#[derive(Clone, Debug)]
pub struct SpUrls {
    pub entity_id: String,
    pub metadata: String,
    pub acs: String,
    pub slo: String,
}

impl SpUrls {
    pub fn new(config: &Config, connection_id: Uuid) -> SpUrls {
        let base = config.url(&format!("/saml/{connection_id}"));
        SpUrls {
            entity_id: format!("{base}/metadata"),
            metadata: format!("{base}/metadata"),
            acs: format!("{base}/acs"),
            slo: format!("{base}/slo"),
        }
    }
}

pub fn login_path(slug: &str, connection_id: Uuid) -> String {
    format!("/o/{slug}/sso/{connection_id}/login")
}

/// A fresh RSA-2048 key and a self-signed certificate valid for 10 years.
pub fn generate_key_pair(common_name: &str) -> Result<(PKey<Private>, X509), openssl::error::ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", &common_name.chars().take(64).collect::<String>())?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((key, b.build()))
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The certificate body as metadata carries it (base64 DER, no armor).
fn cert_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>()
}

/// SP metadata, built by hand so that it says exactly what we do: the
/// certificate is offered for signing and, separately, for encryption with
/// the ciphers `saml::decrypt` accepts; AuthnRequestsSigned tells the truth.
pub fn metadata_xml(urls: &SpUrls, sp_certificate_pem: &str, sign_requests: bool) -> String {
    let cert = cert_body(sp_certificate_pem);
    let key_info = format!(
        "<ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
    );
    let methods: String = [
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    ]
    .iter()
    .map(|m| format!("<md:EncryptionMethod Algorithm=\"{m}\"/>"))
    .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{entity}\">\
<md:SPSSODescriptor AuthnRequestsSigned=\"{signed}\" WantAssertionsSigned=\"true\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
<md:KeyDescriptor use=\"signing\">{key_info}</md:KeyDescriptor>\
<md:KeyDescriptor use=\"encryption\">{key_info}{methods}</md:KeyDescriptor>\
<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{slo}\"/>\
<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>\
<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>\
<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>\
<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{acs}\" index=\"0\" isDefault=\"true\"/>\
</md:SPSSODescriptor></md:EntityDescriptor>\n",
        entity = xml_escape(&urls.entity_id),
        signed = sign_requests,
        slo = xml_escape(&urls.slo),
        acs = xml_escape(&urls.acs),
    )
}

/// A 128-bit request id (samael's default has 32 random bits). XML IDs
/// must not start with a digit.
pub fn new_request_id() -> String {
    format!("_{}", Uuid::new_v4().simple())
}

pub fn authn_request_xml(id: &str, urls: &SpUrls, idp_sso_url: &str, now: DateTime<Utc>) -> String {
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{dest}\" AssertionConsumerServiceURL=\"{acs}\" \
ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\"><saml:Issuer>{issuer}</saml:Issuer>\
<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\" AllowCreate=\"true\"/></samlp:AuthnRequest>",
        id = xml_escape(id),
        instant = now.to_rfc3339_opts(SecondsFormat::Secs, true),
        dest = xml_escape(idp_sso_url),
        acs = xml_escape(&urls.acs),
        issuer = xml_escape(&urls.entity_id),
    )
}

pub fn logout_request_xml(
    id: &str,
    urls: &SpUrls,
    idp_slo_url: &str,
    name_id: &str,
    name_id_format: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    let format_attr = name_id_format
        .map(|f| format!(" Format=\"{}\"", xml_escape(f)))
        .unwrap_or_default();
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{dest}\"><saml:Issuer>{issuer}</saml:Issuer>\
<saml:NameID{format_attr}>{name_id}</saml:NameID></samlp:LogoutRequest>",
        id = xml_escape(id),
        instant = now.to_rfc3339_opts(SecondsFormat::Secs, true),
        dest = xml_escape(idp_slo_url),
        issuer = xml_escape(&urls.entity_id),
        name_id = xml_escape(name_id),
    )
}

/// The HTTP-Redirect binding: DEFLATE, base64, URL-encode; signed over the
/// query string (SAML bindings 3.4.4.1) when a key is given.
pub fn redirect_url(
    destination: &str,
    param: &str,
    message_xml: &str,
    relay_state: Option<&str>,
    signing_key: Option<&PKey<Private>>,
) -> Result<String, String> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(message_xml.as_bytes()).map_err(|e| e.to_string())?;
    let deflated = enc.finish().map_err(|e| e.to_string())?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair(param, &STANDARD.encode(deflated));
    if let Some(rs) = relay_state {
        query.append_pair("RelayState", rs);
    }
    let mut query = query.finish();
    if let Some(key) = signing_key {
        let sig_alg = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
        query.push_str("&SigAlg=");
        query.push_str(&url::form_urlencoded::byte_serialize(sig_alg.as_bytes()).collect::<String>());
        let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(|e| e.to_string())?;
        signer.update(query.as_bytes()).map_err(|e| e.to_string())?;
        let sig = signer.sign_to_vec().map_err(|e| e.to_string())?;
        query.push_str("&Signature=");
        query.push_str(&url::form_urlencoded::byte_serialize(STANDARD.encode(sig).as_bytes()).collect::<String>());
    }
    let sep = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{sep}{query}"))
}
