//! Password sign-in, sign-out, hide-password, recovery links, CSRF,
//! throttling, return paths — through the front door.

use gatehouse::model::{Outcome, SettingsPatch};
use gatehouse::store::events::EventQuery;
use reqwest::StatusCode;

use crate::harness::{browser, csrf_from, password_login, session_csrf, TestApp};

const PW: &str = "correct horse battery staple";

async fn events(app: &TestApp, org: uuid::Uuid) -> Vec<gatehouse::model::LoginEvent> {
    app.db
        .list_events(
            org,
            &EventQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("events")
}

fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse_session="))
        .map(str::to_string)
}

#[tokio::test]
async fn sign_in_and_out_with_a_password() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let alice = app.user(&org, "alice", 10, Some(PW)).await;
    let client = browser();

    // The anonymous session (holding the form's CSRF token) gets a cookie...
    let page = client.get(app.url("/o/acme/login")).send().await.expect("page");
    let before = session_cookie(&page).expect("login page sets a session cookie");
    assert!(before.contains("HttpOnly"), "{before}");
    assert!(before.contains("SameSite=Lax"), "{before}");
    assert!(
        !before.contains("Secure"),
        "plain-http base URL: no Secure flag: {before}"
    );
    let token = csrf_from(&page.text().await.expect("html"));

    // ...and signing in rotates the session id (no fixation).
    let resp = client
        .post(app.url("/o/acme/login"))
        .form(&[("csrf_token", token.as_str()), ("username", "ALICE"), ("password", PW)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/o/acme/");
    let after = session_cookie(&resp).expect("login sets a new cookie");
    let id = |c: &str| c.split(';').next().unwrap_or("").to_string();
    assert_ne!(id(&before), id(&after), "session id must change at login");

    let home = client
        .get(app.url("/o/acme/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    assert!(home.contains("Signed in as"), "{home}");
    assert!(home.contains("alice"));

    let evs = events(&app, org.id).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].outcome, "success");
    assert_eq!(evs[0].method, "password");
    assert_eq!(evs[0].user_id, Some(alice.id));
    assert_eq!(evs[0].client_ip.as_deref(), Some("127.0.0.1"));
    let stored = app.db.user(org.id, alice.id).await.expect("user");
    assert!(stored.last_login_at.is_some());

    // Sign out ends the session.
    let token = session_csrf(&app, &client, "acme").await;
    let out = client
        .post(app.url("/o/acme/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "/o/acme/login");
    let home = client.get(app.url("/o/acme/")).send().await.expect("home");
    assert_eq!(
        home.status(),
        StatusCode::SEE_OTHER,
        "signed out: home redirects to login"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 10, Some(PW)).await;
    let client = browser();
    let wrong = password_login(&app, &client, "acme", "alice", "not the password").await;
    let unknown = password_login(&app, &client, "acme", "mallory", PW).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("The username or password is incorrect."));
    assert!(unknown.body.contains("The username or password is incorrect."));
    let mut reasons: Vec<String> = events(&app, org.id).await.into_iter().map(|e| e.reason).collect();
    reasons.sort();
    assert_eq!(reasons, vec!["invalid_credentials", "unknown_user"]);
}

#[tokio::test]
async fn archived_user_cannot_sign_in() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let mut bob = app.user(&org, "bob", 10, Some(PW)).await;
    bob.status = gatehouse::model::UserStatus::Archived;
    app.db.save_user(&bob, gatehouse::clock::now()).await.expect("archive");
    let r = password_login(&app, &browser(), "acme", "bob", PW).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(events(&app, org.id).await[0].reason, "user_archived");
}

#[tokio::test]
async fn hidden_password_login_refuses_even_a_correct_password() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 40, Some(PW)).await;
    app.db
        .insert_connection(
            org.id,
            "saml",
            "Contoso Entra ID",
            &serde_json::json!({}),
            gatehouse::clock::now(),
        )
        .await
        .expect("connection");
    let patch = SettingsPatch {
        hide_password_login: Some(true),
        ..Default::default()
    };
    app.db
        .update_settings(org.id, &patch.apply(&org.settings), gatehouse::clock::now())
        .await
        .expect("settings");

    let client = browser();
    let page = client
        .get(app.url("/o/acme/login"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Sign in with Contoso Entra ID"), "SSO button shown");
    assert!(!page.contains("type=\"password\""), "no password field when hidden");

    // A hand-made POST with a valid CSRF token and the right password.
    let token = csrf_from(&page);
    let resp = client
        .post(app.url("/o/acme/login"))
        .form(&[("csrf_token", token.as_str()), ("username", "alice"), ("password", PW)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp
        .text()
        .await
        .expect("html")
        .contains("Password sign-in is turned off"));
    let home = client.get(app.url("/o/acme/")).send().await.expect("home");
    assert_eq!(home.status(), StatusCode::SEE_OTHER, "no session was created");
    let evs = events(&app, org.id).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].reason, "password_login_disabled");
    assert_eq!(evs[0].outcome, Outcome::Failure.as_str());
}

#[tokio::test]
async fn recovery_link_works_once_then_fails() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let admin = app.user(&org, "root", 40, None).await;
    let patch = SettingsPatch {
        hide_password_login: Some(true),
        ..Default::default()
    };
    app.db
        .update_settings(org.id, &patch.apply(&org.settings), gatehouse::clock::now())
        .await
        .expect("settings");

    let report = gatehouse::commands::recovery_link(&app.db, &app.config, "acme", "root")
        .await
        .expect("link");
    let url = report.text[0].clone();
    assert!(url.starts_with(&app.url("/o/acme/recover/")), "{url}");

    let client = browser();
    // GET only shows a button, so a link scanner cannot burn it.
    let page = client.get(&url).send().await.expect("page").text().await.expect("html");
    let page_again = client.get(&url).send().await.expect("page").text().await.expect("html");
    let token = csrf_from(&page_again);
    assert!(page.contains("Continue"));
    let resp = client
        .post(&url)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let home = client
        .get(app.url("/o/acme/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    assert!(home.contains("root"), "signed in by the link");

    // Second use, from another browser: refused and recorded.
    let other = browser();
    let page = other.get(&url).send().await.expect("page").text().await.expect("html");
    let token = csrf_from(&page);
    let resp = other
        .post(&url)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::GONE);
    let evs = events(&app, org.id).await;
    let reasons: Vec<&str> = evs.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, vec!["recovery_link_used", "recovery_link"], "newest first");
    assert_eq!(evs[1].user_id, Some(admin.id));
    assert_eq!(evs[1].method, "recovery_link");

    // A made-up token is refused with its own reason.
    let bogus = app.url("/o/acme/recover/not-a-real-token");
    let page = other
        .get(&bogus)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let resp = other
        .post(&bogus)
        .form(&[("csrf_token", csrf_from(&page).as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::GONE);
    assert_eq!(events(&app, org.id).await[0].reason, "recovery_link_invalid");
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 10, Some(PW)).await;
    let client = browser();
    // No session at all.
    let resp = client
        .post(app.url("/o/acme/login"))
        .form(&[("username", "alice"), ("password", PW)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A session, but a forged token.
    client.get(app.url("/o/acme/login")).send().await.expect("page");
    let resp = client
        .post(app.url("/o/acme/login"))
        .form(&[("csrf_token", "forged"), ("username", "alice"), ("password", PW)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        events(&app, org.id).await.is_empty(),
        "refused before any sign-in attempt"
    );
    // Logout too.
    let r = password_login(&app, &client, "acme", "alice", PW).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let resp = client
        .post(app.url("/o/acme/logout"))
        .form(&[("x", "y")])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let home = client.get(app.url("/o/acme/")).send().await.expect("home");
    assert_eq!(home.status(), StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn throttling_engages_per_login_name() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 10, Some(PW)).await;
    let client = browser();
    for _ in 0..5 {
        let r = password_login(&app, &client, "acme", "alice", "wrong password!").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused without being checked.
    let r = password_login(&app, &client, "acme", "Alice", PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("Too many failed sign-in attempts"));
    assert_eq!(events(&app, org.id).await[0].reason, "throttled_login");
    // Another user from the same address is not locked out by alice's lock.
    app.user(&org, "bob", 10, Some(PW)).await;
    let r = password_login(&app, &client, "acme", "bob", PW).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn throttling_engages_per_client_address() {
    let app = TestApp::start_with(&[("GATEHOUSE_THROTTLE_PER_ADDRESS", "3")]).await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 10, Some(PW)).await;
    let client = browser();
    for name in ["u1", "u2", "u3"] {
        assert_eq!(
            password_login(&app, &client, "acme", name, PW).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = password_login(&app, &client, "acme", "alice", PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(events(&app, org.id).await[0].reason, "throttled_address");
}

#[tokio::test]
async fn return_path_is_same_origin_only() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 10, Some(PW)).await;
    for (target, expected) in [
        ("/o/acme/admin", "/o/acme/admin"),
        ("//evil.example/x", "/o/acme/"),
        ("https://evil.example/", "/o/acme/"),
    ] {
        let client = browser();
        let page = client
            .get(app.url("/o/acme/login"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        let token = csrf_from(&page);
        let resp = client
            .post(app.url("/o/acme/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", "alice"),
                ("password", PW),
                ("return_to", target),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.headers()["location"], expected, "return_to {target}");
    }
}

#[tokio::test]
async fn unknown_organization_is_404() {
    let app = TestApp::start().await;
    let resp = browser().get(app.url("/o/nobody/login")).send().await.expect("page");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 10, Some(PW)).await;
    let client = browser();
    password_login(&app, &client, "acme", "alice", "wrong password!").await;
    assert_eq!(
        client.get(app.url("/healthz")).send().await.expect("h").status(),
        StatusCode::OK
    );
    assert_eq!(
        client.get(app.url("/readyz")).send().await.expect("r").status(),
        StatusCode::OK
    );
    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .contains("gatehouse_logins_total{method=\"password\",outcome=\"failure\",reason=\"invalid_credentials\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("gatehouse_http_requests_total"), "{metrics}");
    assert!(!metrics.contains("acme"), "slugs never become label values");
    // Database gone: not ready, but alive.
    app.db.close().await;
    assert_eq!(
        client.get(app.url("/readyz")).send().await.expect("r").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        client.get(app.url("/healthz")).send().await.expect("h").status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn admin_console_changes_settings_with_csrf() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "root", 40, Some(PW)).await;
    let client = browser();
    assert_eq!(
        password_login(&app, &client, "acme", "root", PW).await.status,
        StatusCode::SEE_OTHER
    );
    let page = client
        .get(app.url("/o/acme/admin"))
        .send()
        .await
        .expect("console")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Create users on their first SSO sign-in"));
    let token = csrf_from(&page);
    let resp = client
        .post(app.url("/o/acme/admin/settings"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("jit_creation", "on"),
            ("default_sso_role", "20"),
            ("profile_sync", "force"),
        ])
        .send()
        .await
        .expect("save");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let s = app.db.org_by_id(org.id).await.expect("org").settings;
    assert!(s.jit_creation && !s.hide_password_login);
    assert_eq!(s.default_sso_role, 20);
    // An invalid role leaves everything as it was.
    let resp = client
        .post(app.url("/o/acme/admin/settings"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("default_sso_role", "15"),
            ("profile_sync", "import"),
        ])
        .send()
        .await
        .expect("save");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.db.org_by_id(org.id).await.expect("org").settings, s);
}

#[tokio::test]
async fn graceful_shutdown_stops_listening() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "alice", 10, Some(PW)).await;
    let r = password_login(&app, &browser(), "acme", "alice", PW).await;
    assert_eq!(r.location.as_deref(), Some("/o/acme/"));
    let addr = app.addr;
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting connections"
    );
}
