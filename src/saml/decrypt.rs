//! EncryptedAssertion decryption (XML Encryption 1.0/1.1 as Entra ID sends
//! it): RSA-OAEP key transport, AES-128/256 in CBC or GCM for the data.
//! Only OpenSSL primitives do cryptography here; this module reads the
//! EncryptedData structure and removes XML-Enc's padding. The decrypted
//! assertion is then verified in full by the caller, like any other.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use quick_xml::events::Event;
use quick_xml::NsReader;

use super::xml_guard::GuardRefusal;

const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

fn fail<T>(reason: &'static str, detail: impl Into<String>) -> Result<T, GuardRefusal> {
    Err(GuardRefusal {
        reason,
        detail: detail.into(),
    })
}

/// The parts of an EncryptedAssertion we need.
#[derive(Debug, Default)]
struct Parts {
    data_algorithm: String,
    key_algorithm: String,
    oaep_digest: Option<String>,
    mgf_digest: Option<String>,
    key_cipher: String,
    data_cipher: String,
}

fn parse(xml: &str) -> Result<Parts, GuardRefusal> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<String> = Vec::new();
    let mut parts = Parts::default();
    let malformed = |e: &dyn std::fmt::Display| GuardRefusal {
        reason: "malformed_xml",
        detail: e.to_string(),
    };
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let algorithm = e
                    .try_get_attribute("Algorithm")
                    .map_err(|e| malformed(&e))?
                    .map(|a| a.unescape_value().map(|v| v.into_owned()))
                    .transpose()
                    .map_err(|e| malformed(&e))?;
                let parent = stack.last().map(String::as_str);
                let grandparent = stack
                    .len()
                    .checked_sub(2)
                    .and_then(|i| stack.get(i))
                    .map(String::as_str);
                match (local.as_str(), parent, grandparent) {
                    ("EncryptionMethod", Some("EncryptedData"), _) => {
                        parts.data_algorithm = algorithm.unwrap_or_default()
                    }
                    ("EncryptionMethod", Some("EncryptedKey"), _) => {
                        parts.key_algorithm = algorithm.unwrap_or_default()
                    }
                    ("DigestMethod", Some("EncryptionMethod"), Some("EncryptedKey")) => parts.oaep_digest = algorithm,
                    ("MGF", Some("EncryptionMethod"), Some("EncryptedKey")) => parts.mgf_digest = algorithm,
                    _ => {}
                }
                stack.push(local);
            }
            Event::Text(t) if stack.last().map(String::as_str) == Some("CipherValue") => {
                let owner = stack
                    .len()
                    .checked_sub(3)
                    .and_then(|i| stack.get(i))
                    .map(String::as_str);
                let text = t.decode().map_err(|e| malformed(&e))?.trim().to_string();
                match owner {
                    Some("EncryptedKey") => parts.key_cipher.push_str(&text),
                    Some("EncryptedData") => parts.data_cipher.push_str(&text),
                    _ => {}
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(parts)
}

fn digest_for(uri: Option<&str>) -> Result<&'static MdRef, GuardRefusal> {
    match uri {
        None | Some("http://www.w3.org/2000/09/xmldsig#sha1") | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => {
            Ok(Md::sha1())
        }
        Some("http://www.w3.org/2001/04/xmlenc#sha256") | Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => {
            Ok(Md::sha256())
        }
        Some(other) => fail("unsupported_encryption", format!("OAEP digest {other:?}")),
    }
}

fn b64(text: &str) -> Result<Vec<u8>, GuardRefusal> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact)
        .or_else(|e| fail("decryption_failed", format!("CipherValue is not base64: {e}")))
}

/// Decrypts the `saml:EncryptedAssertion` element (its XML, as a document)
/// with the SP's private key; returns the assertion's XML.
pub fn decrypt_assertion(encrypted_xml: &str, key: &PKey<Private>) -> Result<String, GuardRefusal> {
    let parts = parse(encrypted_xml)?;
    if parts.key_cipher.is_empty() || parts.data_cipher.is_empty() {
        return fail(
            "decryption_failed",
            "EncryptedKey or EncryptedData cipher value missing",
        );
    }
    // Key transport: RSA-OAEP only (RSA PKCS#1 v1.5 invites padding-oracle attacks).
    let (oaep_md, mgf_md) = match parts.key_algorithm.as_str() {
        a if a == format!("{XENC}rsa-oaep-mgf1p") => (digest_for(parts.oaep_digest.as_deref())?, Md::sha1()),
        a if a == format!("{XENC11}rsa-oaep") => (
            digest_for(parts.oaep_digest.as_deref())?,
            digest_for(parts.mgf_digest.as_deref())?,
        ),
        other => return fail("unsupported_encryption", format!("key transport {other:?}")),
    };
    let wrapped = b64(&parts.key_cipher)?;
    let aes_key = {
        let failed = |e: openssl::error::ErrorStack| GuardRefusal {
            reason: "decryption_failed",
            detail: format!("key unwrap: {e}"),
        };
        let mut ctx = PkeyCtx::new(key).map_err(failed)?;
        ctx.decrypt_init().map_err(failed)?;
        ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(failed)?;
        ctx.set_rsa_oaep_md(oaep_md).map_err(failed)?;
        ctx.set_rsa_mgf1_md(mgf_md).map_err(failed)?;
        let mut out = Vec::new();
        ctx.decrypt_to_vec(&wrapped, &mut out).map_err(failed)?;
        out
    };
    let data = b64(&parts.data_cipher)?;
    let (cipher, gcm) = match parts.data_algorithm.as_str() {
        a if a == format!("{XENC}aes128-cbc") => (Cipher::aes_128_cbc(), false),
        a if a == format!("{XENC}aes256-cbc") => (Cipher::aes_256_cbc(), false),
        a if a == format!("{XENC11}aes128-gcm") => (Cipher::aes_128_gcm(), true),
        a if a == format!("{XENC11}aes256-gcm") => (Cipher::aes_256_gcm(), true),
        other => return fail("unsupported_encryption", format!("data encryption {other:?}")),
    };
    if aes_key.len() != cipher.key_len() {
        return fail(
            "decryption_failed",
            "the transported key does not fit the data algorithm",
        );
    }
    let plain = if gcm {
        open_gcm(cipher, &aes_key, &data)?
    } else {
        open_cbc(cipher, &aes_key, &data)?
    };
    String::from_utf8(plain).or_else(|_| fail("decryption_failed", "the decrypted assertion is not UTF-8"))
}

/// XML-Enc GCM: 12-byte IV, ciphertext, 16-byte tag.
fn open_gcm(cipher: Cipher, key: &[u8], data: &[u8]) -> Result<Vec<u8>, GuardRefusal> {
    if data.len() < 12 + 16 {
        return fail("decryption_failed", "GCM cipher value too short");
    }
    let (iv, rest) = data.split_at(12);
    let (body, tag) = rest.split_at(rest.len() - 16);
    let failed = |e: openssl::error::ErrorStack| GuardRefusal {
        reason: "decryption_failed",
        detail: format!("AES-GCM: {e}"),
    };
    let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(failed)?;
    c.set_tag(tag).map_err(failed)?;
    let mut out = vec![0u8; body.len() + cipher.block_size()];
    let n = c.update(body, &mut out).map_err(failed)?;
    let m = c.finalize(&mut out[n..]).map_err(failed)?;
    out.truncate(n + m);
    Ok(out)
}

/// XML-Enc CBC: 16-byte IV, ciphertext; padding is ISO 10126 (only the last
/// byte, the pad length, is meaningful), so OpenSSL's PKCS#7 check is off.
fn open_cbc(cipher: Cipher, key: &[u8], data: &[u8]) -> Result<Vec<u8>, GuardRefusal> {
    if data.len() < 32 || data.len() % 16 != 0 {
        return fail("decryption_failed", "CBC cipher value has a wrong length");
    }
    let (iv, body) = data.split_at(16);
    let failed = |e: openssl::error::ErrorStack| GuardRefusal {
        reason: "decryption_failed",
        detail: format!("AES-CBC: {e}"),
    };
    let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(failed)?;
    c.pad(false);
    let mut out = vec![0u8; body.len() + cipher.block_size()];
    let n = c.update(body, &mut out).map_err(failed)?;
    let m = c.finalize(&mut out[n..]).map_err(failed)?;
    out.truncate(n + m);
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad == 0 || pad > 16 || pad > out.len() {
        return fail("decryption_failed", "bad padding");
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

/// The exact text of the first element `local` in namespace `ns` (used to
/// lift the EncryptedAssertion out of a Response without re-serializing).
pub fn element_text<'a>(xml: &'a str, ns: &[u8], local: &[u8]) -> Result<Option<&'a str>, GuardRefusal> {
    use quick_xml::name::ResolveResult;
    let mut reader = NsReader::from_str(xml);
    let malformed = |e: quick_xml::Error| GuardRefusal {
        reason: "malformed_xml",
        detail: e.to_string(),
    };
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (resolved, event) = reader.read_resolved_event().map_err(malformed)?;
        let matches = matches!(resolved, ResolveResult::Bound(n) if n.as_ref() == ns);
        match event {
            Event::Start(e) if start.is_none() && matches && e.local_name().as_ref() == local => {
                start = Some(before);
                depth = 1;
            }
            Event::Start(_) if start.is_some() => depth += 1,
            Event::End(_) if start.is_some() => {
                depth -= 1;
                if depth == 0 {
                    let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    return Ok(start.and_then(|s| xml.get(s..end)));
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}
