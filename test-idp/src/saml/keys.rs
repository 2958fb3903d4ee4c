//! Key pairs: RSA-2048 and a self-signed certificate, made with OpenSSL.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

#[derive(Clone)]
pub struct KeyPair {
    pub key: PKey<Private>,
    pub cert: X509,
}

impl KeyPair {
    pub fn generate(cn: &str) -> KeyPair {
        Self::try_generate(cn).expect("OpenSSL can generate an RSA key and certificate")
    }

    fn try_generate(cn: &str) -> Result<KeyPair, openssl::error::ErrorStack> {
        let key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", cn)?;
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
        Ok(KeyPair { key, cert: b.build() })
    }

    pub fn cert_pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap_or_default()).unwrap_or_default()
    }

    /// Base64 DER, as XML signatures and metadata carry it.
    pub fn cert_body(&self) -> String {
        self.cert_pem().lines().filter(|l| !l.starts_with("-----")).collect()
    }

    pub fn key_der(&self) -> Vec<u8> {
        self.key.rsa().and_then(|r| r.private_key_to_der()).unwrap_or_default()
    }
}
