//! OpenID Connect end to end over HTTP: Gatehouse with a real database,
//! test-idp's Entra-shaped provider on another port, a cookie-keeping
//! browser between them. Every refusal is asserted by its reason code and
//! leaves the user table untouched.

use gatehouse::model::{Organization, SettingsPatch};
use gatehouse::oidc::config::Profile;
use gatehouse::oidc::setup::{self, NewOidc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_idp::oidc::{Client, Fault};
use test_idp::{OidcProvider, User};
use uuid::Uuid;

use crate::harness::{browser, form_field, TestApp};

const TENANT: &str = "tenant-1";

fn user(username: &str, oidc: Value) -> User {
    User {
        username: username.into(),
        password: format!("{username}-pw"),
        name_id: format!("{username}@contoso.example"),
        claims: Default::default(),
        oidc: oidc.as_object().cloned().unwrap_or_default(),
    }
}

fn users() -> Vec<User> {
    vec![
        user(
            "alice",
            json!({
                "oid": "oid-alice", "preferred_username": "alice@contoso.example",
                "email": "alice@contoso.example", "email_verified": true,
                "given_name": "Alice", "family_name": "Martin", "name": "Alice Martin",
                "language": "fr-CA", "jobtitle": "Nurse",
            }),
        ),
        user(
            "dana",
            json!({
                "oid": "oid-dana", "preferred_username": "dana@contoso.example",
                "email": "dana@contoso.example", "email_verified": true,
                "given_name": "Danielle", "family_name": "S", "roles": ["Acme.Managers"],
            }),
        ),
        user(
            "gus",
            json!({
                "oid": "oid-gus", "preferred_username": "gus@contoso.example",
                "email": "gus@contoso.example", "email_verified": true,
                "_claim_names": {"groups": "src1"},
                "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/oid-gus/getMemberObjects"}},
            }),
        ),
        user(
            "vera",
            json!({
                "oid": "oid-vera", "preferred_username": "vera@contoso.example",
                "email": "vera@contoso.example", "email_verified": false,
            }),
        ),
        // No `oid`: fine for a generic provider, refused by the Entra profile.
        user(
            "nooid",
            json!({ "preferred_username": "nooid@contoso.example", "email": "nooid@contoso.example" }),
        ),
    ]
}

struct Oidc {
    app: TestApp,
    org: Organization,
    provider: OidcProvider,
    conn: Uuid,
    redirect_uri: String,
    _server: tokio::task::JoinHandle<()>,
}

fn jit() -> SettingsPatch {
    SettingsPatch {
        jit_creation: Some(true),
        ..Default::default()
    }
}

fn new_oidc(provider: &OidcProvider, client_id: &str) -> NewOidc {
    NewOidc {
        name: "Contoso (OIDC)".into(),
        issuer: provider.issuer(),
        client_id: client_id.into(),
        client_secret: Some(format!("secret-of-{client_id}")),
        scopes: None,
        client_auth: None,
        profile: Some(Profile::Entra),
        userinfo: Some(false),
        verified_domains: Vec::new(),
        trusted_audiences: Vec::new(),
        clock_skew_seconds: None,
        attribute_overrides: [("roles".to_string(), "externalRoleId".to_string())].into(),
    }
}

fn register(provider: &OidcProvider, client_id: &str, redirect_uri: &str) {
    provider.register_client(Client {
        client_id: client_id.into(),
        client_secret: format!("secret-of-{client_id}"),
        redirect_uris: vec![redirect_uri.into()],
        certificate_pem: None,
    });
}

async fn start_provider() -> (OidcProvider, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind idp");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = OidcProvider::new(TENANT, &base, users());
    let router = provider.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (provider, server)
}

async fn oidc_setup_with(env: &[(&str, &str)], settings: SettingsPatch, tweak: impl FnOnce(&mut NewOidc)) -> Oidc {
    let app = TestApp::start_with(env).await;
    let org = app.org("acme").await;
    app.db
        .update_settings(org.id, &settings.apply(&org.settings), gatehouse::clock::now())
        .await
        .expect("settings");
    let org = app.db.org_by_id(org.id).await.expect("org");
    app.db.set_role_mapping(org.id, "Acme.Managers", 30).await.expect("map");
    let (provider, server) = start_provider().await;
    let mut new = new_oidc(&provider, "client-a");
    tweak(&mut new);
    let summary = setup::create(&app.db, &app.config, &org, new, gatehouse::clock::now())
        .await
        .expect("connection");
    register(&provider, "client-a", &summary.redirect_uri);
    Oidc {
        app,
        org,
        provider,
        conn: summary.id,
        redirect_uri: summary.redirect_uri,
        _server: server,
    }
}

async fn oidc_setup(settings: SettingsPatch) -> Oidc {
    oidc_setup_with(&[], settings, |_| {}).await
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

async fn answer(resp: reqwest::Response) -> Answer {
    Answer {
        status: resp.status(),
        location: crate::harness::location(&resp),
        body: resp.text().await.unwrap_or_default(),
    }
}

impl Oidc {
    /// An admin's change to the connection.
    async fn patch(&self, patch: setup::OidcPatch) {
        setup::update(
            &self.app.db,
            &self.app.config,
            &self.org,
            self.conn,
            patch,
            gatehouse::clock::now(),
        )
        .await
        .expect("patch");
    }

    /// Our login endpoint → the provider's authorize URL (checked for PKCE).
    async fn start(&self, client: &reqwest::Client) -> url::Url {
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
        assert!(location.starts_with(&self.provider.authorize_url()), "{location}");
        let url = url::Url::parse(&location).expect("url");
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string());
        assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(param("response_type").as_deref(), Some("code"));
        assert_eq!(param("redirect_uri").as_deref(), Some(self.redirect_uri.as_str()));
        assert!(param("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")));
        for p in ["state", "nonce", "code_challenge"] {
            assert!(param(p).is_some_and(|v| v.len() >= 16), "{p} in {location}");
        }
        url
    }

    /// The person signs in at the provider: returns the callback URL the
    /// provider redirects the browser to.
    async fn authorize(&self, client: &reqwest::Client, username: &str) -> String {
        let authorize = self.start(client).await;
        let page = client.get(authorize.as_str()).send().await.expect("authorize");
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("html");
        let field = |name: &str| form_field(&html, name).unwrap_or_default();
        let resp = client
            .post(self.provider.authorize_url())
            .form(&[
                ("client_id", field("client_id")),
                ("redirect_uri", field("redirect_uri")),
                ("state", field("state")),
                ("nonce", field("nonce")),
                ("code_challenge", field("code_challenge")),
                ("username", username.to_string()),
                ("password", format!("{username}-pw")),
            ])
            .send()
            .await
            .expect("provider login");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let location = resp.headers()["location"].to_str().expect("location").to_string();
        assert!(location.starts_with(&self.redirect_uri), "{location}");
        location
    }

    async fn callback(&self, client: &reqwest::Client, url: &str) -> Answer {
        answer(client.get(url).send().await.expect("callback")).await
    }

    async fn sign_in(&self, client: &reqwest::Client, username: &str) -> Answer {
        let url = self.authorize(client, username).await;
        self.callback(client, &url).await
    }

    async fn last_event(&self) -> gatehouse::model::LoginEvent {
        self.app.last_event(&self.org).await
    }

    async fn user_count(&self) -> i64 {
        self.app.user_count(&self.org).await
    }

    /// A refused callback: 403 page with a reference, the reason in the
    /// event, no user written.
    async fn assert_refused(&self, a: &Answer, reason: &str, users_before: i64) {
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{reason}: {}", a.body);
        let e = self.last_event().await;
        assert_eq!(e.reason, reason, "event detail: {}", e.detail);
        assert_eq!(e.method, "oidc");
        assert_eq!(e.outcome, "failure");
        assert!(
            a.body.contains(&e.id.to_string()),
            "the page gives the event as reference"
        );
        assert_eq!(self.user_count().await, users_before, "{reason}: user table untouched");
    }
}

fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut u = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    u.to_string()
}

#[tokio::test]
async fn sign_in_creates_the_user_then_signs_them_in_by_link() {
    let s = oidc_setup(jit()).await;
    let client = browser();
    let a = s.sign_in(&client, "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/o/acme/admin"), "back to return_to");

    let e = s.last_event().await;
    assert_eq!((e.reason.as_str(), e.method.as_str()), ("created", "oidc"));
    assert_eq!(e.subject.as_deref(), Some("tenant-1|oid-alice"), "Entra: tid|oid");
    assert_eq!(e.detail["claims"]["email_verified"], json!(["true"]));
    assert!(
        e.detail["claims"].get("nonce").is_none(),
        "token mechanics are not claims"
    );
    let alice = s
        .app
        .db
        .user_by_username(s.org.id, "alice@contoso.example")
        .await
        .expect("query")
        .expect("created from preferred_username");
    assert_eq!(alice.email, "alice@contoso.example");
    assert_eq!(alice.first_name.as_deref(), Some("Alice"));
    assert_eq!(alice.last_name.as_deref(), Some("Martin"));
    assert_eq!(alice.display_name.as_deref(), Some("Alice Martin"));
    assert_eq!(alice.job_title.as_deref(), Some("Nurse"));
    assert_eq!(alice.language.code(), "fr");
    assert_eq!(alice.source, gatehouse::model::Source::Sso);

    // The session is Alice's.
    let home = client.get(s.app.url("/o/acme/")).send().await.expect("home");
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.expect("html").contains("alice@contoso.example"));

    // Again, in another browser: found by the identity link, nobody new.
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let e = s.last_event().await;
    assert_eq!(e.reason, "signed_in");
    assert_eq!(e.detail["match"]["rule"], "identity_link");
    assert_eq!(e.user_id, Some(alice.id));
    assert_eq!(s.user_count().await, 1);
}

#[tokio::test]
async fn a_directory_user_only_gets_the_role_from_oidc() {
    let s = oidc_setup(SettingsPatch {
        profile_sync: Some("force".into()),
        ..jit()
    })
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
    let a = s.sign_in(&browser(), "dana").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let after = s.app.db.user(s.org.id, dana.id).await.expect("user");
    assert_eq!(after.role, 30, "roles → externalRoleId → mapped");
    assert_eq!(after.first_name.as_deref(), Some("Dana"), "the directory owns the name");
    assert_eq!(after.last_name.as_deref(), Some("Scully"));
    assert_eq!(after.job_title.as_deref(), Some("Agent"));
    let e = s.last_event().await;
    assert_eq!(e.detail["match"]["rule"], "username");
    assert_eq!(s.user_count().await, 1);
}

#[tokio::test]
async fn re_registering_the_entra_app_does_not_duplicate_users() {
    let s = oidc_setup(jit()).await;
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let first = s.last_event().await;
    let first_sub = first.detail["claims"]["sub"].clone();

    // A new app registration: new client id, so Entra's pairwise `sub` changes.
    register(&s.provider, "client-b", &s.redirect_uri);
    s.patch(setup::OidcPatch {
        client_id: Some("client-b".into()),
        client_secret: Some("secret-of-client-b".into()),
        ..Default::default()
    })
    .await;
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let second = s.last_event().await;
    assert_ne!(
        second.detail["claims"]["sub"], first_sub,
        "the provider's sub did change"
    );
    assert_eq!(second.reason, "signed_in");
    assert_eq!(second.detail["match"]["rule"], "identity_link", "tid|oid still links");
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(s.user_count().await, 1);
}

#[tokio::test]
async fn every_misbehaviour_is_refused_with_its_own_reason() {
    let s = oidc_setup_with(&[], jit(), |n| n.userinfo = Some(true)).await;
    let cases = [
        (Fault::WrongAudience, "audience_mismatch"),
        (Fault::Expired, "expired"),
        (Fault::IssuedInFuture, "issued_in_future"),
        (Fault::BadSignature, "signature_invalid"),
        (Fault::AlgNone, "alg_none"),
        (Fault::Hs256WithPublicKey, "alg_hmac"),
        (Fault::WrongNonce, "nonce_mismatch"),
        (Fault::WrongIssuer, "issuer_mismatch"),
        (Fault::ExtraAudienceNoAzp, "audience_untrusted"),
        (Fault::UserinfoOtherSub, "userinfo_sub_mismatch"),
        (Fault::AccessDenied, "provider_error"),
        (Fault::UnknownKid, "unknown_kid"),
    ];
    for (fault, reason) in cases {
        s.provider.set_fault(fault);
        let a = s.sign_in(&browser(), "alice").await;
        s.assert_refused(&a, reason, 0).await;
        if fault == Fault::AccessDenied {
            assert!(
                a.body.contains("access_denied"),
                "the provider's error is shown by name"
            );
        }
    }
    // The same provider, behaving: the user table was untouched until now.
    s.provider.set_fault(Fault::None);
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(s.user_count().await, 1);
}

#[tokio::test]
async fn several_audiences_need_a_trusted_audience_and_azp() {
    let s = oidc_setup_with(&[], jit(), |n| n.trusted_audiences = vec!["another-api".into()]).await;
    s.provider.set_fault(Fault::ExtraAudienceNoAzp);
    let a = s.sign_in(&browser(), "alice").await;
    s.assert_refused(&a, "azp_missing", 0).await;
}

#[tokio::test]
async fn key_rotation_is_survived_without_a_restart() {
    let s = oidc_setup_with(&[("GATEHOUSE_OIDC_JWKS_REFETCH_SECONDS", "1")], jit(), |_| {}).await;
    assert_eq!(s.sign_in(&browser(), "alice").await.status, StatusCode::SEE_OTHER);
    let fetched = s.provider.jwks_requests();

    // The provider rotates: tokens now carry a kid our cached JWKS lacks.
    s.provider.rotate_key();
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(s.provider.jwks_requests(), fetched + 1, "one refetch");
    assert_eq!(s.sign_in(&browser(), "alice").await.status, StatusCode::SEE_OTHER);
    assert_eq!(s.provider.jwks_requests(), fetched + 1, "the new keys are cached");

    // A kid the provider has not published: refused, and a burst of such
    // tokens refetches at most once per interval.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.provider.set_fault(Fault::UnknownKid);
    for _ in 0..3 {
        let a = s.sign_in(&browser(), "alice").await;
        s.assert_refused(&a, "unknown_kid", 1).await;
    }
    assert_eq!(s.provider.jwks_requests(), fetched + 2, "rate-limited to one refetch");

    // The provider publishes that key: after the interval, sign-in works.
    s.provider.publish_pending_key();
    s.provider.set_fault(Fault::None);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(s.provider.jwks_requests(), fetched + 3);
}

#[tokio::test]
async fn state_is_bound_to_the_browser_and_single_use_and_codes_are_single_use() {
    let s = oidc_setup(jit()).await;

    // A callback without the session that started it (another browser, or
    // no cookie at all): refused, and the code is never redeemed.
    let url = s.authorize(&browser(), "alice").await;
    let a = s.callback(&browser(), &url).await;
    s.assert_refused(&a, "state_unknown", 0).await;

    // A forged state in the right browser.
    let client = browser();
    let url = s.authorize(&client, "alice").await;
    let a = s
        .callback(&client, &with_param(&url, "state", Some("forged-state-value")))
        .await;
    s.assert_refused(&a, "state_unknown", 0).await;
    // No state at all.
    let a = s.callback(&client, &with_param(&url, "state", None)).await;
    s.assert_refused(&a, "state_unknown", 0).await;
    // A state is spent by its first use, even one that failed: after a
    // tampered callback, the genuine one no longer works.
    let url = s.authorize(&client, "alice").await;
    let a = s
        .callback(&client, &with_param(&url, "iss", Some("https://evil.example")))
        .await;
    s.assert_refused(&a, "iss_param_mismatch", 0).await;
    let a = s.callback(&client, &url).await;
    s.assert_refused(&a, "state_unknown", 0).await;

    // The genuine callback works once; replayed, it is refused.
    let client = browser();
    let url = s.authorize(&client, "alice").await;
    assert_eq!(s.callback(&client, &url).await.status, StatusCode::SEE_OTHER);
    let a = s.callback(&client, &url).await;
    s.assert_refused(&a, "state_unknown", 1).await;

    // A used code under a fresh, genuine state: the provider refuses it.
    let used_code = url::Url::parse(&url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let fresh = s.authorize(&client, "alice").await;
    let a = s.callback(&client, &with_param(&fresh, "code", Some(&used_code))).await;
    s.assert_refused(&a, "token_error", 1).await;
    assert!(s.last_event().await.detail["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("invalid_grant")));
}

#[tokio::test]
async fn the_iss_parameter_is_checked() {
    let s = oidc_setup(jit()).await;
    let client = browser();
    let url = s.authorize(&client, "alice").await;
    let a = s
        .callback(&client, &with_param(&url, "iss", Some("https://evil.example/v2.0")))
        .await;
    s.assert_refused(&a, "iss_param_mismatch", 0).await;
    // test-idp advertises RFC 9207 support, so a missing iss is a mix-up signal.
    let url = s.authorize(&client, "alice").await;
    let a = s.callback(&client, &with_param(&url, "iss", None)).await;
    s.assert_refused(&a, "iss_param_missing", 0).await;
}

#[tokio::test]
async fn entra_profile_needs_oid_and_group_overage_is_warned() {
    let s = oidc_setup(jit()).await;
    let a = s.sign_in(&browser(), "nooid").await;
    s.assert_refused(&a, "subject_missing", 0).await;

    let a = s.sign_in(&browser(), "gus").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let e = s.last_event().await;
    let warnings = e.detail["warnings"].as_array().cloned().unwrap_or_default();
    assert!(warnings.iter().any(|w| w["code"] == "groups_overage"), "{}", e.detail);
}

#[tokio::test]
async fn a_generic_provider_links_by_issuer_and_sub() {
    let s = oidc_setup_with(&[], jit(), |n| n.profile = Some(Profile::Generic)).await;
    let a = s.sign_in(&browser(), "nooid").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let e = s.last_event().await;
    let sub = e.detail["claims"]["sub"][0].as_str().expect("sub").to_string();
    assert_eq!(e.subject, Some(format!("{}|{sub}", s.provider.issuer())));
}

#[tokio::test]
async fn emails_match_only_when_verified_or_from_a_verified_domain() {
    let s = oidc_setup(jit()).await;
    let existing = s
        .app
        .db
        .create_user(
            s.org.id,
            &crate::harness::new_user("vera.local", "vera@contoso.example"),
            gatehouse::clock::now(),
        )
        .await
        .expect("user");
    // email_verified false: the address does not find Vera, and cannot be reused.
    let a = s.sign_in(&browser(), "vera").await;
    s.assert_refused(&a, "email_taken", 1).await;

    // The admin vouches for the domain: now it matches.
    s.patch(setup::OidcPatch {
        verified_domains: Some(vec!["contoso.example".into()]),
        ..Default::default()
    })
    .await;
    let a = s.sign_in(&browser(), "vera").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let e = s.last_event().await;
    assert_eq!(e.detail["match"]["rule"], "email");
    assert_eq!(e.user_id, Some(existing.id));
}

// Multi-threaded: the CLI child process is awaited synchronously while
// test-idp, on this runtime, must answer its discovery request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_added_by_api_and_cli_and_the_secret_is_sealed() {
    let s = oidc_setup(jit()).await;
    let out = crate::harness::cli(
        &s.app,
        &["api-key", "create", "--org", "acme", "--scope", "admin", "--json"],
        None,
    );
    assert!(out.status.success());
    let key: Value = serde_json::from_slice(&out.stdout).expect("json");
    let key = key["secret"].as_str().expect("secret").to_string();
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(s.app.url("/api/v1/orgs/acme/connections/oidc"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let body = json!({
        "name": "Second", "issuer": s.provider.issuer(), "client_id": "client-c",
        "client_secret": "very-secret-value", "client_auth": "client_secret_post",
        "verified_domains": ["Contoso.Example"],
    });
    let resp = post(body.clone()).await.expect("post");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.expect("json");
    assert_eq!(created["client_auth"], "client_secret_post");
    assert_eq!(created["verified_domains"], json!(["contoso.example"]));
    assert_eq!(created["profile"], "generic", "detected from a non-Entra issuer");
    assert_eq!(
        created["userinfo"], true,
        "on by default where the provider has userinfo"
    );
    let id: Uuid = created["id"].as_str().expect("id").parse().expect("uuid");
    assert_eq!(created["redirect_uri"], s.app.url(&format!("/oidc/{id}/callback")));
    assert!(!created.to_string().contains("very-secret-value"));
    let stored = s.app.db.connection(id).await.expect("row");
    assert!(
        !stored.config.to_string().contains("very-secret-value"),
        "sealed at rest"
    );

    // Bad settings: 422 naming the field, nothing stored.
    let before = s.app.db.connections(s.org.id).await.expect("list").len();
    let bad_cases = [
        (json!({"scopes": "profile email"}), "scopes"),
        (json!({"issuer": format!("{}/", s.provider.issuer())}), "issuer"),
        (json!({"issuer": "http://idp.example.org"}), "issuer"),
        (json!({"client_auth": "client_secret_jwt"}), "client_auth"),
        (json!({"client_auth": "private_key_jwt"}), "client_secret"),
        (json!({"client_secret": null}), "client_secret"),
        (json!({"verified_domains": ["not a domain"]}), "verified_domains"),
        (json!({"surprise": true}), "surprise"),
    ];
    for (change, field) in bad_cases {
        let mut b = body.clone();
        for (k, v) in change.as_object().expect("object") {
            b[k] = v.clone();
        }
        b["name"] = json!(format!("bad {field}"));
        let resp = post(b).await.expect("post");
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let e: Value = resp.json().await.expect("json");
        assert_eq!(e["field"], field, "{e}");
    }
    assert_eq!(s.app.db.connections(s.org.id).await.expect("list").len(), before);

    // PATCH rotates the secret (write-only) and GET shows the summary.
    let resp = http
        .patch(s.app.url(&format!("/api/v1/orgs/acme/connections/{id}")))
        .bearer_auth(&key)
        .json(&json!({"client_secret": "rotated-secret", "scopes": "openid email"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), StatusCode::OK);
    let got: Value = http
        .get(s.app.url(&format!("/api/v1/orgs/acme/connections/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["scopes"], "openid email");
    assert!(!got.to_string().contains("rotated-secret"));
    let loaded = setup::load(&s.app.db, &s.app.config, id).await.expect("load");
    assert_eq!(loaded.client_secret.as_deref(), Some("rotated-secret"));

    // The CLI: secret on stdin, prints the redirect URI and login URL.
    let out = crate::harness::cli(
        &s.app,
        &[
            "connection",
            "add-oidc",
            "--org",
            "acme",
            "--name",
            "From CLI",
            "--issuer",
            &s.provider.issuer(),
            "--client-id",
            "client-d",
            "--client-secret-stdin",
            "--profile",
            "entra",
        ],
        Some("cli-secret\n"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("redirect URI:") && stdout.contains("/oidc/"),
        "{stdout}"
    );
    let out = crate::harness::cli(&s.app, &["connection", "list", "--org", "acme"], None);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("oidc  From CLI  enabled"), "{listing}");
    let out = crate::harness::cli(
        &s.app,
        &[
            "connection",
            "add-oidc",
            "--org",
            "acme",
            "--name",
            "Bad",
            "--issuer",
            "https://127.0.0.1:1/none",
            "--client-id",
            "x",
            "--client-secret-stdin",
        ],
        Some("s\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("issuer"));
}

#[tokio::test]
async fn client_secret_post_authenticates_at_the_token_endpoint() {
    let s = oidc_setup_with(&[], jit(), |n| n.client_auth = Some("client_secret_post".into())).await;
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // A wrong secret is the provider's invalid_client, refused by name.
    s.patch(setup::OidcPatch {
        client_secret: Some("wrong".into()),
        ..Default::default()
    })
    .await;
    let a = s.sign_in(&browser(), "alice").await;
    s.assert_refused(&a, "token_error", 1).await;
}

#[tokio::test]
async fn private_key_jwt_authenticates_with_the_connections_certificate() {
    let s = oidc_setup_with(&[], jit(), |n| {
        n.client_auth = Some("private_key_jwt".into());
        n.client_secret = None;
    })
    .await;
    let conn = setup::load(&s.app.db, &s.app.config, s.conn).await.expect("load");
    let pem = conn.config.client_certificate.clone().expect("a certificate was made");
    assert!(conn.client_secret.is_none());
    assert!(
        !conn.record.config.to_string().contains("PRIVATE KEY"),
        "the key is sealed"
    );

    // The admin downloads the certificate and registers it at the provider.
    let resp = reqwest::get(s.app.url(&format!("/oidc/{}/certificate", s.conn)))
        .await
        .expect("certificate");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("pem"), pem);
    s.provider.register_client(Client {
        client_id: "client-a".into(),
        client_secret: String::new(),
        redirect_uris: vec![s.redirect_uri.clone()],
        certificate_pem: Some(pem),
    });
    let a = s.sign_in(&browser(), "alice").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(s.user_count().await, 1);

    // A certificate the provider does not know: its invalid_client, by name.
    let (_, other) = gatehouse::saml::sp::generate_key_pair("someone else").expect("key");
    s.provider.register_client(Client {
        client_id: "client-a".into(),
        client_secret: String::new(),
        redirect_uris: vec![s.redirect_uri.clone()],
        certificate_pem: Some(String::from_utf8(other.to_pem().expect("pem")).expect("utf8")),
    });
    let a = s.sign_in(&browser(), "alice").await;
    s.assert_refused(&a, "token_error", 1).await;
    assert!(s.last_event().await.detail["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("invalid_client")));
}

#[tokio::test]
async fn sign_out_ends_the_provider_session_too() {
    let s = oidc_setup(jit()).await;
    let client = browser();
    assert_eq!(s.sign_in(&client, "alice").await.status, StatusCode::SEE_OTHER);
    let location = crate::harness::sign_out(&s.app, &client, "acme").await;
    assert!(location.starts_with(&s.provider.end_session_url()), "{location}");
    let url = url::Url::parse(&location).expect("url");
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string());
    assert_eq!(param("client_id").as_deref(), Some("client-a"));
    assert_eq!(param("post_logout_redirect_uri"), Some(s.app.url("/o/acme/login")));
    assert_eq!(param("id_token_hint").map(|t| t.split('.').count()), Some(3));
    // The provider sends the browser back to our sign-in page.
    let back = client.get(&location).send().await.expect("end session");
    assert_eq!(crate::harness::location(&back), Some(s.app.url("/o/acme/login")));
    assert_eq!(
        client.get(s.app.url("/o/acme/")).send().await.expect("home").status(),
        StatusCode::SEE_OTHER,
        "signed out locally"
    );
}
