//! SAML end to end over HTTP: Gatehouse on 127.0.0.1 with a real database,
//! test-idp (Entra-shaped) on another port. Every refusal is asserted by its
//! reason code, and leaves the user table untouched.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Duration;
use gatehouse::model::{Organization, SettingsPatch};
use gatehouse::saml::config::Options;
use gatehouse::saml::setup::{self, IdpSource};
use reqwest::StatusCode;
use test_idp::saml::{faults, Algorithm, Encryption, ResponseSpec, Signing, SpRegistration};
use test_idp::{SamlIdp, User};
use uuid::Uuid;

use crate::harness::{browser, form_field, TestApp};

pub struct Idp {
    pub idp: SamlIdp,
    _server: tokio::task::JoinHandle<()>,
}

pub fn users() -> Vec<User> {
    let claims = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    };
    vec![
        User {
            username: "alice".into(),
            password: "alice-pw".into(),
            name_id: "alice@contoso.example".into(),
            claims: claims(&[
                (
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                    &["Alice"],
                ),
                (
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                    &["Martin"],
                ),
                (
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                    &["alice@contoso.example"],
                ),
                (
                    "http://schemas.microsoft.com/identity/claims/displayname",
                    &["Alice Martin"],
                ),
                ("language", &["fr-CA"]),
                ("job_title", &["Nurse"]),
            ]),
            oidc: Default::default(),
        },
        User {
            username: "dana".into(),
            password: "dana-pw".into(),
            name_id: "dana@contoso.example".into(),
            claims: claims(&[
                (
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                    &["Danielle"],
                ),
                (
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                    &["dana@contoso.example"],
                ),
                ("externalRoleId", &["Acme.Managers"]),
            ]),
            oidc: Default::default(),
        },
        User {
            username: "evil".into(),
            password: "evil-pw".into(),
            name_id: "alice@contoso.example.evil.com".into(),
            claims: BTreeMap::new(),
            oidc: Default::default(),
        },
    ]
}

pub async fn start_idp() -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind idp");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let idp = SamlIdp::new(&SamlIdp::entra_entity_id("tenant-1"), &base, users());
    let router = idp.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Idp { idp, _server: server }
}

pub struct Saml {
    pub app: TestApp,
    pub org: Organization,
    pub idp: Idp,
    pub conn: Uuid,
    pub sp: SpRegistration,
}

pub async fn saml_setup(options: Options, settings: SettingsPatch) -> Saml {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.db
        .update_settings(org.id, &settings.apply(&org.settings), gatehouse::clock::now())
        .await
        .expect("settings");
    let org = app.db.org_by_id(org.id).await.expect("org");
    app.db.set_role_mapping(org.id, "Acme.Managers", 30).await.expect("map");
    app.db
        .set_role_mapping(org.id, "relay-advanced", 20)
        .await
        .expect("map");
    app.db.set_role_mapping(org.id, "relay-admin", 40).await.expect("map");
    let idp = start_idp().await;
    let source = IdpSource::Fields {
        entity_id: idp.idp.entity_id().to_string(),
        sso_url: idp.idp.sso_url(),
        slo_url: Some(idp.idp.slo_url()),
        certificates: vec![idp.idp.signing_cert_pem()],
    };
    let summary = setup::create(
        &app.db,
        &app.config,
        &org,
        "Contoso Entra ID",
        source,
        options,
        gatehouse::clock::now(),
    )
    .await
    .expect("connection");
    let loaded = setup::load(&app.db, &app.config, summary.id).await.expect("load");
    let sp = SpRegistration {
        entity_id: summary.sp_entity_id.clone(),
        acs_url: summary.acs_url.clone(),
        slo_url: None,
        encryption_cert_pem: Some(loaded.config.sp_certificate.clone()),
    };
    idp.idp.register_sp(sp.clone());
    Saml {
        app,
        org,
        idp,
        conn: summary.id,
        sp,
    }
}

fn jit() -> SettingsPatch {
    SettingsPatch {
        jit_creation: Some(true),
        ..Default::default()
    }
}

fn idp_initiated() -> Options {
    Options {
        idp_initiated: true,
        ..Options::default()
    }
}

impl Saml {
    fn spec(&self, username: &str) -> ResponseSpec {
        self.idp.idp.spec_for(username, &self.sp)
    }

    /// Posts a SAMLResponse to the ACS; returns (status, location).
    async fn post(
        &self,
        client: &reqwest::Client,
        saml_response: &str,
        relay_state: Option<&str>,
    ) -> (StatusCode, Option<String>) {
        let mut form = vec![("SAMLResponse", saml_response.to_string())];
        if let Some(r) = relay_state {
            form.push(("RelayState", r.to_string()));
        }
        let resp = client.post(&self.sp.acs_url).form(&form).send().await.expect("acs");
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, location)
    }

    async fn post_xml(&self, xml: &str) -> (StatusCode, Option<String>) {
        self.post(&browser(), &STANDARD.encode(xml), None).await
    }

    async fn last_event(&self) -> gatehouse::model::LoginEvent {
        self.app.last_event(&self.org).await
    }

    async fn user_count(&self) -> i64 {
        self.app.user_count(&self.org).await
    }

    /// Starts SP-initiated sign-in; returns the AuthnRequest id.
    async fn start_login(&self, client: &reqwest::Client) -> String {
        let resp = client
            .get(
                self.app
                    .url(&format!("/o/acme/sso/{}/login?return_to=/o/acme/admin", self.conn)),
            )
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let location = resp.headers()["location"].to_str().expect("location").to_string();
        assert!(location.starts_with(&self.idp.idp.sso_url()), "{location}");
        let url = url::Url::parse(&location).expect("url");
        url.query_pairs()
            .find(|(k, _)| k == "RelayState")
            .map(|(_, v)| v.to_string())
            .expect("relay state = request id")
    }
}

#[tokio::test]
async fn sp_initiated_sign_in_through_the_browser_creates_the_user() {
    let s = saml_setup(Options::default(), jit()).await;
    let client = browser();
    let resp = client
        .get(
            s.app
                .url(&format!("/o/acme/sso/{}/login?return_to=/o/acme/admin", s.conn)),
        )
        .send()
        .await
        .expect("login");
    let to_idp = resp.headers()["location"].to_str().expect("location").to_string();
    // The browser follows to the IdP, signs in there, and is posted back.
    let idp_browser = browser();
    let form = idp_browser
        .get(&to_idp)
        .send()
        .await
        .expect("idp")
        .text()
        .await
        .expect("html");
    let request_id = form_field(&form, "request_id").expect("request id");
    let acs = form_field(&form, "acs").expect("acs");
    let relay = form_field(&form, "relay_state").expect("relay");
    let posted = idp_browser
        .post(format!("{}/saml/login", s.idp.idp.base_url()))
        .form(&[
            ("request_id", request_id.as_str()),
            ("acs", acs.as_str()),
            ("relay_state", relay.as_str()),
            ("username", "alice"),
            ("password", "alice-pw"),
        ])
        .send()
        .await
        .expect("idp login")
        .text()
        .await
        .expect("html");
    let saml_response = form_field(&posted, "SAMLResponse").expect("auto-post form");
    let relay_back = form_field(&posted, "RelayState");
    let (status, location) = s.post(&client, &saml_response, relay_back.as_deref()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/o/acme/admin"),
        "the return path stored with the request"
    );
    let home = client
        .get(s.app.url("/o/acme/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    assert!(home.contains("Alice Martin"), "{home}");
    let alice = s
        .app
        .db
        .user_by_email(s.org.id, "alice@contoso.example")
        .await
        .expect("q")
        .expect("created");
    assert_eq!(alice.source.as_str(), "sso");
    assert_eq!(alice.language.code(), "fr");
    assert_eq!(alice.job_title.as_deref(), Some("Nurse"));
    let e = s.last_event().await;
    assert_eq!(
        (e.method.as_str(), e.outcome.as_str(), e.reason.as_str()),
        ("saml", "success", "created")
    );

    // The same response again: a replay.
    let (status, _) = s.post(&browser(), &saml_response, relay_back.as_deref()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.last_event().await.reason, "replayed_assertion");
}

#[tokio::test]
async fn idp_initiated_sign_in_with_a_relay_state_role() {
    let opts = Options {
        idp_initiated: true,
        relay_state_roles: true,
        relay_state_ceiling: 20,
        ..Options::default()
    };
    let s = saml_setup(opts, jit()).await;
    let spec = s.spec("alice");
    let (status, location) = s
        .post(
            &browser(),
            &STANDARD.encode(s.idp.idp.response(&spec)),
            Some("relay-advanced"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/o/acme/"));
    let alice = s
        .app
        .db
        .user_by_email(s.org.id, "alice@contoso.example")
        .await
        .expect("q")
        .expect("user");
    assert_eq!(alice.role, 20);
    // Above the ceiling: refused by the rule, recorded, role kept.
    let spec = s.spec("alice");
    let (status, _) = s
        .post(
            &browser(),
            &STANDARD.encode(s.idp.idp.response(&spec)),
            Some("relay-admin"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let e = s.last_event().await;
    assert!(
        e.detail["warnings"].to_string().contains("relay_state_above_ceiling"),
        "{}",
        e.detail
    );
    assert_eq!(s.app.db.user(s.org.id, alice.id).await.expect("u").role, 20);
}

#[tokio::test]
async fn a_directory_user_only_gets_the_role_from_saml() {
    let s = saml_setup(
        idp_initiated(),
        SettingsPatch {
            profile_sync: Some("force".into()),
            ..jit()
        },
    )
    .await;
    let dana = s
        .app
        .db
        .create_user(
            s.org.id,
            &crate::harness::directory_user("dana@contoso.example", "dana@contoso.example", "obj-1"),
            gatehouse::clock::now(),
        )
        .await
        .expect("user");
    let (status, _) = s.post_xml(&s.idp.idp.response(&s.spec("dana"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let after = s.app.db.user(s.org.id, dana.id).await.expect("user");
    assert_eq!(after.role, 30, "externalRoleId mapped");
    assert_eq!(after.first_name.as_deref(), Some("Dana"), "the directory owns the name");
    assert_eq!(after.job_title.as_deref(), Some("Agent"));
}

#[tokio::test]
async fn every_signing_and_encryption_shape_entra_sends_is_accepted() {
    let s = saml_setup(idp_initiated(), jit()).await;
    let shapes = [
        (Signing::Assertion, Encryption::None),
        (Signing::Response, Encryption::None),
        (Signing::Both, Encryption::None),
        (Signing::Assertion, Encryption::Aes128Cbc),
        (Signing::Assertion, Encryption::Aes256Cbc),
        (Signing::Assertion, Encryption::Aes128Gcm),
        (Signing::Assertion, Encryption::Aes256Gcm),
        (Signing::Response, Encryption::Aes256Gcm),
        (Signing::Both, Encryption::Aes256Cbc),
    ];
    for (signing, encryption) in shapes {
        let mut spec = s.spec("alice");
        spec.signing = signing;
        spec.encryption = encryption;
        let (status, _) = s.post_xml(&s.idp.idp.response(&spec)).await;
        let e = s.last_event().await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{signing:?} {encryption:?}: {} {}",
            e.reason,
            e.detail
        );
    }
}

#[tokio::test]
async fn sp_initiated_request_ids_are_single_use_and_bound() {
    let s = saml_setup(Options::default(), jit()).await;
    let client = browser();
    let request_id = s.start_login(&client).await;
    let mut spec = s.spec("alice");
    spec.in_response_to = Some(request_id.clone());
    let (status, _) = s.post(&client, &STANDARD.encode(s.idp.idp.response(&spec)), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A fresh response naming the same request: reused.
    let mut again = s.spec("alice");
    again.in_response_to = Some(request_id);
    s.post_xml(&s.idp.idp.response(&again)).await;
    assert_eq!(s.last_event().await.reason, "in_response_to_reused");
    // An id we never issued.
    let mut unknown = s.spec("alice");
    unknown.in_response_to = Some("_never-issued".into());
    s.post_xml(&s.idp.idp.response(&unknown)).await;
    assert_eq!(s.last_event().await.reason, "in_response_to_unknown");
    // Expired: issued 11 minutes ago.
    let old = gatehouse::clock::now() - Duration::minutes(11);
    s.app
        .db
        .save_saml_request("_old", s.org.id, s.conn, None, old, old + Duration::minutes(10))
        .await
        .expect("request");
    let mut expired = s.spec("alice");
    expired.in_response_to = Some("_old".into());
    s.post_xml(&s.idp.idp.response(&expired)).await;
    assert_eq!(s.last_event().await.reason, "in_response_to_expired");
    // Unsolicited, on a connection without IdP-initiated sign-in.
    s.post_xml(&s.idp.idp.response(&s.spec("alice"))).await;
    assert_eq!(s.last_event().await.reason, "unsolicited_not_allowed");
    assert_eq!(s.user_count().await, 1, "only the first sign-in created a user");
}

/// Refused responses, each with its own reason, none changing the user table.
#[tokio::test]
async fn forged_and_malformed_responses_are_refused_with_their_reason() {
    let s = saml_setup(idp_initiated(), jit()).await;
    let idp = &s.idp.idp;
    let good = |f: &dyn Fn(&mut ResponseSpec)| {
        let mut spec = s.spec("alice");
        f(&mut spec);
        idp.response(&spec)
    };
    let plain = good(&|_| {});
    let both = good(&|sp| sp.signing = Signing::Both);
    let now = gatehouse::clock::now();
    let assertion_id = {
        let at = plain.find("<Assertion ").expect("a")
            + plain[plain.find("<Assertion ").expect("a")..]
                .find(" ID=\"")
                .expect("id")
            + 5;
        plain[at..at + plain[at..].find('"').expect("end")].to_string()
    };
    let response_id = {
        let at = plain.find(" ID=\"").expect("id") + 5;
        plain[at..at + plain[at..].find('"').expect("end")].to_string()
    };

    // A listener that must never be contacted by an external Reference.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").expect("trap");
    trap.set_nonblocking(true).expect("nonblocking");
    let trap_url = format!("http://{}/payload", trap.local_addr().expect("addr"));
    let evil_idp_response = idp.response_signed_by_stranger(&s.spec("alice"));
    let comment = {
        let mut spec = s.spec("evil");
        spec.signing = Signing::Assertion;
        faults::comment_in_name_id(&idp.response(&spec), "alice@contoso.example")
    };

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "tampered value",
            faults::tamper_attribute(&plain, "Nurse", "Chief"),
            "signature_invalid",
        ),
        ("foreign key", evil_idp_response, "signature_invalid"),
        ("unsigned", good(&|sp| sp.signing = Signing::None), "unsigned"),
        ("sha1", good(&|sp| sp.algorithm = Algorithm::Sha1), "sha1_not_allowed"),
        (
            "wrong issuer",
            good(&|sp| sp.issuer = Some("https://sts.windows.net/other/".into())),
            "issuer_mismatch",
        ),
        (
            "audience",
            good(&|sp| sp.audience = "https://someone-else.example".into()),
            "audience_mismatch",
        ),
        (
            "destination",
            good(&|sp| {
                sp.signing = Signing::Both;
                sp.destination = Some("https://elsewhere.example/acs".into())
            }),
            "destination_mismatch",
        ),
        (
            "recipient",
            good(&|sp| sp.recipient = "https://elsewhere.example/acs".into()),
            "recipient_mismatch",
        ),
        (
            "expired",
            good(&|sp| {
                sp.not_on_or_after = now - Duration::minutes(10);
            }),
            "expired",
        ),
        (
            "not yet valid",
            good(&|sp| {
                sp.not_before = now + Duration::minutes(10);
                sp.now = now + Duration::minutes(10)
            }),
            "not_yet_valid",
        ),
        (
            "expired beyond skew",
            good(&|sp| sp.not_on_or_after = now - Duration::seconds(200)),
            "expired",
        ),
        (
            "not yet valid beyond skew",
            good(&|sp| sp.not_before = now + Duration::seconds(200)),
            "not_yet_valid",
        ),
        (
            "wrapped assertion",
            faults::wrapped_assertion(&plain, "admin@contoso.example"),
            "assertion_count",
        ),
        (
            "wrapped response",
            faults::wrapped_response(&both, "admin@contoso.example"),
            "assertion_count",
        ),
        ("two assertions", faults::two_assertions(&plain), "duplicate_id"),
        (
            "reference to another id",
            faults::reference_to_other_id(&plain, &response_id),
            "signature_invalid",
        ),
        (
            "duplicate ids",
            faults::duplicate_id(&plain, &assertion_id),
            "duplicate_id",
        ),
        ("comment in NameID", comment, "comment_injection"),
        ("DTD entity", faults::with_dtd(&plain), "dtd_forbidden"),
        (
            "http reference",
            faults::external_reference(&plain, &trap_url),
            "external_reference",
        ),
        (
            "file reference",
            faults::external_reference(&plain, "file:///etc/passwd"),
            "external_reference",
        ),
        (
            "non-success status",
            good(&|sp| {
                sp.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into();
                sp.second_status = Some("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed".into())
            }),
            "status_not_success",
        ),
        (
            "malformed xml",
            "<samlp:Response><unclosed>".to_string(),
            "malformed_xml",
        ),
        (
            "not a response",
            "<html><body>hi</body></html>".to_string(),
            "malformed_xml",
        ),
        (
            "encrypted to another key",
            good(&|sp| {
                sp.encryption = Encryption::Aes256Gcm;
                sp.encrypt_to = Some(test_idp::saml::keys::KeyPair::generate("x").cert_pem())
            }),
            "decryption_failed",
        ),
    ];
    let count = cases.len();
    for (name, xml, reason) in cases {
        let (status, _) = s.post_xml(&xml).await;
        let e = s.last_event().await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(e.reason, reason, "{name}: {}", e.detail);
        assert_eq!(e.outcome, "failure");
        assert_eq!(s.user_count().await, 0, "{name} changed the user table");
    }
    assert!(
        trap.accept().is_err(),
        "nothing connected to the external reference's listener"
    );

    // Transport-level garbage.
    let transport: Vec<(String, &str)> = vec![
        (faults::NOT_BASE64.to_string(), "malformed_base64"),
        (faults::base64_of_garbage(), "malformed_xml"),
        (STANDARD.encode(deflated(&plain)), "malformed_xml"),
        (STANDARD.encode("x".repeat(200 * 1024)), "body_too_large"),
        (String::new(), "malformed_base64"),
    ];
    let transport_count = transport.len();
    for (body, reason) in transport {
        let (status, _) = s.post(&browser(), &body, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{reason}");
        assert_eq!(s.last_event().await.reason, reason);
    }
    assert!(count + transport_count >= 30);

    // Within the skew both ways: accepted (a fresh `now`: the cases above took time).
    let fresh = gatehouse::clock::now();
    let edge = good(&|sp| {
        sp.not_on_or_after = fresh - Duration::seconds(150);
        sp.not_before = fresh + Duration::seconds(150)
    });
    assert_eq!(
        s.post_xml(&edge).await.0,
        StatusCode::SEE_OTHER,
        "{}",
        s.last_event().await.detail
    );
}

fn deflated(xml: &str) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).expect("deflate");
    enc.finish().expect("deflate")
}

#[tokio::test]
async fn certificate_rollover_accepts_both_then_only_the_new_key() {
    let s = saml_setup(idp_initiated(), jit()).await;
    let old_cert = s.idp.idp.signing_cert_pem();
    // Responses signed with the old key, kept for later.
    let old_signed_1 = s.idp.idp.response(&s.spec("alice"));
    let old_signed_2 = s.idp.idp.response(&s.spec("alice"));
    s.idp.idp.rotate_signing_key();
    let new_cert = s.idp.idp.signing_cert_pem();
    // New key, connection still knows only the old one: refused.
    assert_eq!(
        s.post_xml(&s.idp.idp.response(&s.spec("alice"))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.last_event().await.reason, "signature_invalid");
    let patch = |certs: Vec<String>| setup::SamlPatch {
        idp_certificates: Some(certs),
        ..Default::default()
    };
    let now = gatehouse::clock::now();
    setup::update(
        &s.app.db,
        &s.app.config,
        &s.org,
        s.conn,
        patch(vec![old_cert.clone(), new_cert.clone()]),
        now,
    )
    .await
    .expect("both");
    assert_eq!(
        s.post_xml(&s.idp.idp.response(&s.spec("alice"))).await.0,
        StatusCode::SEE_OTHER,
        "new key accepted"
    );
    assert_eq!(
        s.post_xml(&old_signed_1).await.0,
        StatusCode::SEE_OTHER,
        "old key still accepted"
    );
    // The old certificate removed: its signatures are refused.
    setup::update(&s.app.db, &s.app.config, &s.org, s.conn, patch(vec![new_cert]), now)
        .await
        .expect("new only");
    assert_eq!(s.post_xml(&old_signed_2).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.last_event().await.reason, "signature_invalid");
    assert_eq!(
        s.post_xml(&s.idp.idp.response(&s.spec("alice"))).await.0,
        StatusCode::SEE_OTHER
    );
    // A connection can never be left without a certificate.
    let err = setup::update(&s.app.db, &s.app.config, &s.org, s.conn, patch(vec![]), now)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn connections_from_metadata_xml_url_and_fields() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let idp = start_idp().await;
    let xml = setup::create(
        &app.db,
        &app.config,
        &org,
        "By XML",
        IdpSource::MetadataXml(idp.idp.metadata_xml()),
        Options::default(),
        gatehouse::clock::now(),
    )
    .await
    .expect("xml");
    assert_eq!(xml.idp_entity_id, idp.idp.entity_id());
    assert_eq!(xml.idp_certificates.len(), 1);
    let by_url = setup::create(
        &app.db,
        &app.config,
        &org,
        "By URL",
        IdpSource::MetadataUrl(idp.idp.metadata_url()),
        Options::default(),
        gatehouse::clock::now(),
    )
    .await
    .expect("url");
    assert_eq!(
        by_url.idp_metadata_url.as_deref(),
        Some(idp.idp.metadata_url().as_str())
    );
    let loaded = setup::load(&app.db, &app.config, by_url.id).await.expect("load");
    assert_eq!(loaded.config.idp.sso_url, idp.idp.sso_url());
    assert_eq!(loaded.config.idp.slo_url.as_deref(), Some(idp.idp.slo_url().as_str()));

    // Refresh picks up a rotated key; a failing URL keeps the last good copy.
    idp.idp.rotate_signing_key();
    gatehouse::saml::setup::refresh_all_metadata(&app.db, gatehouse::clock::now())
        .await
        .expect("refresh");
    let refreshed = setup::load(&app.db, &app.config, by_url.id).await.expect("load");
    assert_eq!(refreshed.config.idp.certificates, vec![idp.idp.signing_cert_pem()]);
    drop(idp);

    // The metadata URL stops answering: the last good copy stays, the error shows.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let dead_url = format!("http://{}/saml/metadata", closed.local_addr().expect("addr"));
    drop(closed);
    let mut config = refreshed.record.config.clone();
    config["metadata_url"] = serde_json::json!(dead_url);
    app.db
        .update_connection(org.id, by_url.id, "By URL", true, &config, gatehouse::clock::now())
        .await
        .expect("point at a dead URL");
    gatehouse::saml::setup::refresh_all_metadata(&app.db, gatehouse::clock::now())
        .await
        .expect("refresh runs");
    let kept = setup::load(&app.db, &app.config, by_url.id).await.expect("load");
    assert_eq!(kept.config.idp, refreshed.config.idp, "last good copy kept");
    assert!(
        kept.config
            .metadata_error
            .as_deref()
            .is_some_and(|e| e.contains("fetching metadata")),
        "{:?}",
        kept.config.metadata_error
    );
    let shown = setup::summary(&app.config, &org, by_url.id, "By URL", &kept.config);
    assert!(shown.idp_metadata_error.is_some());
    // The admin console shows connections, certificate expiry and the error.
    app.user(&org, "root", 40, Some("correct horse battery staple")).await;
    let admin = browser();
    crate::harness::password_login(&app, &admin, "acme", "root", "correct horse battery staple").await;
    let console = admin
        .get(app.url("/o/acme/admin"))
        .send()
        .await
        .expect("console")
        .text()
        .await
        .expect("html");
    assert!(
        console.contains("By URL") && console.contains("By XML"),
        "connections listed"
    );
    assert!(console.contains("fetching metadata"), "refresh error shown");
    let expiry = kept
        .config
        .idp
        .certificates
        .iter()
        .filter_map(|c| gatehouse::saml::config::certificate_info(c).ok())
        .map(|i| i.not_after.date_naive().to_string())
        .next()
        .expect("expiry");
    assert!(console.contains(&expiry), "certificate expiry shown");

    // Fields, and what cannot be saved.
    let idp2 = start_idp().await;
    let fields = |certs: Vec<String>| IdpSource::Fields {
        entity_id: idp2.idp.entity_id().into(),
        sso_url: idp2.idp.sso_url(),
        slo_url: None,
        certificates: certs,
    };
    setup::create(
        &app.db,
        &app.config,
        &org,
        "By fields",
        fields(vec![idp2.idp.signing_cert_pem()]),
        Options::default(),
        gatehouse::clock::now(),
    )
    .await
    .expect("fields");
    let none = setup::create(
        &app.db,
        &app.config,
        &org,
        "No cert",
        fields(vec![]),
        Options::default(),
        gatehouse::clock::now(),
    )
    .await;
    assert!(none.expect_err("no certificate").to_string().contains("certificate"));
    let junk = setup::create(
        &app.db,
        &app.config,
        &org,
        "Junk cert",
        fields(vec!["not a cert".into()]),
        Options::default(),
        gatehouse::clock::now(),
    )
    .await;
    assert!(junk.is_err());
    let dtd = format!(
        "<!DOCTYPE x [<!ENTITY e \"e\">]>{}",
        idp2.idp
            .metadata_xml()
            .trim_start_matches(|c| c != '<')
            .split_once("?>")
            .map(|(_, r)| r)
            .unwrap_or("")
    );
    assert!(setup::create(
        &app.db,
        &app.config,
        &org,
        "DTD",
        IdpSource::MetadataXml(dtd),
        Options::default(),
        gatehouse::clock::now()
    )
    .await
    .is_err());
    assert_eq!(
        app.db.connections(org.id).await.expect("list").len(),
        3,
        "refused connections were not saved"
    );

    // The SP metadata is served and parses as SAML metadata.
    let md = reqwest::get(app.url(&format!("/saml/{}/metadata", xml.id)))
        .await
        .expect("metadata");
    assert_eq!(md.headers()["content-type"], "application/samlmetadata+xml");
    let text = md.text().await.expect("xml");
    let parsed: samael::metadata::EntityDescriptor = text.parse().expect("valid SAML metadata");
    assert_eq!(parsed.entity_id.as_deref(), Some(xml.sp_entity_id.as_str()));
    assert!(text.contains("use=\"encryption\"") && text.contains("AuthnRequestsSigned=\"false\""));
    assert_valid_metadata(&text);
}

/// Validates against the OASIS SAML 2.0 metadata schema, offline: Debian's
/// opensaml-schemas and xmltooling-schemas (.ci/run installs them), with a
/// catalog mapping the W3C schema URLs the XSDs import to the local copies.
fn assert_valid_metadata(xml: &str) {
    let xsd = "/usr/share/xml/opensaml/saml-schema-metadata-2.0.xsd";
    let dsig = "/usr/share/xml/xmltooling/xmldsig-core-schema.xsd";
    assert!(
        std::path::Path::new(xsd).exists() && std::path::Path::new(dsig).exists(),
        "install opensaml-schemas, xmltooling-schemas and libxml2-utils to validate SAML metadata"
    );
    let dir = std::env::temp_dir().join(format!("gh-md-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("sp.xml");
    std::fs::write(&file, xml).expect("write");
    let catalog = dir.join("catalog.xml");
    let entries: String = [
        (
            "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd",
            "xmldsig-core-schema.xsd",
        ),
        (
            "http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd",
            "xenc-schema.xsd",
        ),
        ("http://www.w3.org/2001/xml.xsd", "xml.xsd"),
    ]
    .iter()
    .map(|(url, file)| format!("<system systemId=\"{url}\" uri=\"file:///usr/share/xml/xmltooling/{file}\"/>"))
    .collect();
    std::fs::write(
        &catalog,
        format!("<catalog xmlns=\"urn:oasis:names:tc:entity:xmlns:xml:catalog\">{entries}</catalog>"),
    )
    .expect("catalog");
    let out = std::process::Command::new("xmllint")
        .env("XML_CATALOG_FILES", &catalog)
        .args(["--noout", "--nonet", "--schema", xsd])
        .arg(&file)
        .output()
        .expect("xmllint runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "SP metadata is not schema-valid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn sign_out_sends_a_logout_request_to_the_idp() {
    let s = saml_setup(idp_initiated(), jit()).await;
    let client = browser();
    let (status, _) = s
        .post(&client, &STANDARD.encode(s.idp.idp.response(&s.spec("alice"))), None)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = crate::harness::sign_out(&s.app, &client, "acme").await;
    assert!(
        location.starts_with(&s.idp.idp.slo_url()) && location.contains("SAMLRequest="),
        "{location}"
    );
    assert_eq!(
        client.get(s.app.url("/o/acme/")).send().await.expect("home").status(),
        StatusCode::SEE_OTHER,
        "signed out locally"
    );
}

/// Two instances on one database: protocol state is shared, not per process.
#[tokio::test]
async fn two_instances_share_requests_and_the_replay_cache() {
    let s = saml_setup(
        Options {
            idp_initiated: true,
            ..Options::default()
        },
        jit(),
    )
    .await;
    let other = s.app.sibling().await;
    // Instance A issues the AuthnRequest...
    let request_id = s.start_login(&browser()).await;
    let mut spec = s.spec("alice");
    spec.in_response_to = Some(request_id);
    let xml = s.idp.idp.response(&spec);
    // ...instance B consumes it (both serve the same ACS path).
    let acs_b = s.sp.acs_url.replace(&s.app.addr.to_string(), &other.addr.to_string());
    let post = |url: String, body: String| async move {
        browser()
            .post(url)
            .form(&[("SAMLResponse", body)])
            .send()
            .await
            .expect("acs")
            .status()
    };
    assert_eq!(post(acs_b.clone(), STANDARD.encode(&xml)).await, StatusCode::SEE_OTHER);
    // The same response at instance A: a replay.
    assert_eq!(
        post(s.sp.acs_url.clone(), STANDARD.encode(&xml)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.last_event().await.reason, "replayed_assertion");
    // An IdP-initiated response consumed by A is a replay at B.
    let unsolicited = s.idp.idp.response(&s.spec("alice"));
    assert_eq!(
        post(s.sp.acs_url.clone(), STANDARD.encode(&unsolicited)).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(post(acs_b, STANDARD.encode(&unsolicited)).await, StatusCode::FORBIDDEN);
    assert_eq!(s.last_event().await.reason, "replayed_assertion");
}
