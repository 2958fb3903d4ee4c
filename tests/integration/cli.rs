//! The `gatehouse` binary as an admin scripts it (SPEC §11): output, JSON,
//! exit codes, and nothing written on bad input.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{browser, cli, password_login, TestApp};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test]
async fn an_admin_sets_up_an_organization_from_the_command_line() {
    let app = TestApp::start().await;
    let out = cli(
        &app,
        &["org", "create", "--slug", "acme", "--name", "Acme Health"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("organization id:"), "{text}");
    assert!(text.contains(&app.url("/o/acme/login")), "{text}");
    assert!(text.contains(&app.url("/o/acme/admin")), "{text}");

    let out = cli(
        &app,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--username",
            "root",
            "--email",
            "root@acme.example",
            "--role",
            "40",
            "--password-stdin",
            "--json",
        ],
        Some("correct horse battery staple\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let user: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(user["role"], 40);
    assert!(!stdout(&out).contains("argon2"), "hash never printed");
    assert_eq!(
        password_login(&app, &browser(), "acme", "root", "correct horse battery staple")
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    let out = cli(
        &app,
        &[
            "org",
            "settings",
            "--org",
            "acme",
            "--jit",
            "on",
            "--hide-password-login",
            "on",
            "--default-sso-role",
            "20",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let org = app.db.org_by_slug("acme").await.expect("org");
    assert!(org.settings.jit_creation && org.settings.hide_password_login);
    assert_eq!(org.settings.default_sso_role, 20);

    let out = cli(&app, &["role-map", "set", "--org", "acme", "Acme.Admins", "40"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(
        &app,
        &[
            "location",
            "add",
            "--org",
            "acme",
            "--external-id",
            "LOC-1",
            "--name",
            "Paris",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = cli(
        &app,
        &["api-key", "create", "--org", "acme", "--scope", "admin", "--json"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let key: Value = serde_json::from_str(&stdout(&out)).expect("json");
    let secret = key["secret"].as_str().expect("secret").to_string();
    let resp = reqwest::Client::new()
        .get(app.url("/api/v1/orgs/acme/role-mappings"))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("api");
    assert_eq!(resp.status(), StatusCode::OK);
    let id = key["id"].as_str().expect("id");
    let out = cli(&app, &["api-key", "revoke", "--org", "acme", "--id", id], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let resp = reqwest::Client::new()
        .get(app.url("/api/v1/orgs/acme/role-mappings"))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("api");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let out = cli(&app, &["recovery-link", "--org", "acme", "--user", "root"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with(&app.url("/o/acme/recover/")));

    let out = cli(&app, &["users", "--org", "acme", "--json"], None);
    let users: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(users.as_array().expect("list").len(), 1);
    let out = cli(&app, &["events", "--org", "acme", "--user", "root", "--json"], None);
    let events: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(events[0]["reason"], "password");
}

#[tokio::test]
async fn bad_input_exits_non_zero_with_one_line_and_writes_nothing() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let cases: Vec<Vec<&str>> = vec![
        vec!["org", "create", "--slug", "Not A Slug", "--name", "x"],
        vec!["org", "create", "--slug", "acme", "--name", "dup"],
        vec![
            "org",
            "settings",
            "--org",
            "acme",
            "--jit",
            "on",
            "--default-sso-role",
            "15",
        ],
        vec!["org", "settings", "--org", "nope", "--jit", "on"],
        vec![
            "user",
            "create",
            "--org",
            "acme",
            "--username",
            "bob",
            "--email",
            "not-an-email",
        ],
        vec![
            "user",
            "create",
            "--org",
            "acme",
            "--username",
            "bob",
            "--email",
            "b@x.example",
            "--role",
            "99",
        ],
        vec!["role-map", "set", "--org", "acme", "X", "41"],
        vec!["api-key", "create", "--org", "acme", "--scope", "root"],
        vec!["recovery-link", "--org", "acme", "--user", "ghost"],
    ];
    for args in cases {
        let out = cli(&app, &args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("gatehouse: "), "{err}");
    }
    let out = cli(
        &app,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--username",
            "bob",
            "--email",
            "b@x.example",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));

    let s = app.db.org_by_id(org.id).await.expect("org").settings;
    assert!(!s.jit_creation, "settings untouched by the refused command");
    assert_eq!(app.db.list_orgs().await.expect("orgs").len(), 1);
    assert_eq!(
        app.db
            .list_users(
                org.id,
                &gatehouse::store::users::UserQuery {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .expect("users")
            .total,
        0
    );
    assert!(app.db.role_mappings(org.id).await.expect("maps").is_empty());
}

#[tokio::test]
async fn a_bad_configuration_names_the_key() {
    let app = TestApp::start().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["users", "--org", "acme"])
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .env("GATEHOUSE_LISTEN", "not-an-address")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("GATEHOUSE_LISTEN"), "{}", stderr(&out));
}

#[tokio::test]
async fn saml_connections_from_the_command_line() {
    let app = TestApp::start().await;
    app.org("acme").await;
    let idp = crate::saml::start_idp().await;
    let dir = std::env::temp_dir().join(format!("gh-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let metadata = dir.join("idp.xml");
    std::fs::write(&metadata, idp.idp.metadata_xml()).expect("write");
    let cert = dir.join("idp.pem");
    std::fs::write(&cert, idp.idp.signing_cert_pem()).expect("write");

    let out = cli(
        &app,
        &[
            "connection",
            "add-saml",
            "--org",
            "acme",
            "--name",
            "Entra",
            "--metadata-file",
            metadata.to_str().expect("path"),
            "--idp-initiated",
            "on",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for label in [
        "connection id:",
        "SP entity id:",
        "ACS URL:",
        "SP metadata URL:",
        "SP-initiated login:",
    ] {
        assert!(text.contains(label), "{label} in {text}");
    }
    let out = cli(
        &app,
        &[
            "connection",
            "add-saml",
            "--org",
            "acme",
            "--name",
            "Fields",
            "--entity-id",
            idp.idp.entity_id(),
            "--sso-url",
            &idp.idp.sso_url(),
            "--cert-file",
            cert.to_str().expect("path"),
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(created["acs_url"].as_str().is_some_and(|u| u.ends_with("/acs")));

    // Refused: no certificate, a duplicate name, a ceiling outside the catalog.
    for args in [
        vec![
            "connection",
            "add-saml",
            "--org",
            "acme",
            "--name",
            "NoCert",
            "--entity-id",
            "x",
            "--sso-url",
            "https://idp.example/sso",
        ],
        vec![
            "connection",
            "add-saml",
            "--org",
            "acme",
            "--name",
            "Entra",
            "--metadata-file",
            metadata.to_str().expect("path"),
        ],
        vec![
            "connection",
            "add-saml",
            "--org",
            "acme",
            "--name",
            "Ceiling",
            "--metadata-file",
            metadata.to_str().expect("path"),
            "--relay-state-ceiling",
            "99",
        ],
    ] {
        let out = cli(&app, &args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    }
    let out = cli(&app, &["connection", "list", "--org", "acme"], None);
    let listing = stdout(&out);
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(listing.contains("certs expire"), "{listing}");
    let _ = std::fs::remove_dir_all(&dir);
}
