//! The admin JSON API: who may call it, strict validation (422 and nothing
//! written), directory locks (409), users, events.

use gatehouse::model::{ApiKeyScope, UserStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{browser, password_login, session_csrf, TestApp};

const PW: &str = "correct horse battery staple";

struct Api {
    base: String,
    client: reqwest::Client,
    token: String,
}

impl Api {
    async fn admin_key(app: &TestApp, org: &gatehouse::model::Organization) -> Api {
        let (_, token) = app
            .db
            .create_api_key(org.id, ApiKeyScope::Admin, "test", gatehouse::clock::now())
            .await
            .expect("key");
        Api {
            base: app.url(&format!("/api/v1/orgs/{}", org.slug)),
            client: reqwest::Client::new(),
            token,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

#[tokio::test]
async fn settings_reject_invalid_values_and_keep_the_stored_ones() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let api = Api::admin_key(&app, &org).await;
    let (status, before) = api.get("/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before["jit_creation"], false);
    assert_eq!(before["profile_sync"], "import");

    let bad: Vec<(Value, &str)> = vec![
        (
            json!({ "jit_creation": true, "default_sso_role": 15 }),
            "default_sso_role",
        ),
        (
            json!({ "jit_creation": true, "profile_sync": "always" }),
            "profile_sync",
        ),
        (json!({ "jit_creation": "yes" }), "jit_creation"),
        (json!({ "hide_password_login": true, "jit": true }), "jit"),
        (json!({ "default_sso_role": "40" }), "default_sso_role"),
        (json!(["jit_creation"]), "body"),
    ];
    for (body, field) in bad {
        let (status, err) = api.patch("/settings", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, after) = api.get("/settings").await;
    assert_eq!(before, after, "nothing was written");

    let (status, saved) = api
        .patch(
            "/settings",
            json!({ "jit_creation": true, "default_sso_role": 20, "profile_sync": "force" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let stored = app.db.org_by_id(org.id).await.expect("org").settings;
    assert!(stored.jit_creation);
    assert_eq!(stored.default_sso_role, 20);
    assert_eq!(stored.profile_sync.as_str(), "force");
    assert!(!stored.hide_password_login, "untouched");
}

#[tokio::test]
async fn who_may_call_the_admin_api() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let other = app.org("globex").await;
    app.user(&org, "staff", 10, Some(PW)).await;
    app.user(&org, "root", 40, Some(PW)).await;
    let url = app.url("/api/v1/orgs/acme/settings");

    // No credentials.
    assert_eq!(reqwest::get(&url).await.expect("r").status(), StatusCode::UNAUTHORIZED);
    // A staff member's session.
    let staff = browser();
    assert_eq!(
        password_login(&app, &staff, "acme", "staff", PW).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(staff.get(&url).send().await.expect("r").status(), StatusCode::FORBIDDEN);
    // An administrator's session reads, and writes with the CSRF header only.
    let root = browser();
    assert_eq!(
        password_login(&app, &root, "acme", "root", PW).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(root.get(&url).send().await.expect("r").status(), StatusCode::OK);
    let no_csrf = root
        .patch(&url)
        .json(&json!({ "jit_creation": true }))
        .send()
        .await
        .expect("r");
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let token = session_csrf(&app, &root, "acme").await;
    let with_csrf = root
        .patch(&url)
        .header("x-csrf-token", token)
        .json(&json!({ "jit_creation": true }))
        .send()
        .await
        .expect("r");
    assert_eq!(with_csrf.status(), StatusCode::OK);
    // The admin's session is for acme only.
    let cross = root
        .get(app.url("/api/v1/orgs/globex/settings"))
        .send()
        .await
        .expect("r");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // API keys: admin scope works; scim scope, another org's key, revoked
    // and garbage keys do not.
    let now = gatehouse::clock::now();
    let (_, admin_key) = app
        .db
        .create_api_key(org.id, ApiKeyScope::Admin, "a", now)
        .await
        .expect("key");
    let (_, scim_key) = app
        .db
        .create_api_key(org.id, ApiKeyScope::Scim, "s", now)
        .await
        .expect("key");
    let (_, foreign_key) = app
        .db
        .create_api_key(other.id, ApiKeyScope::Admin, "f", now)
        .await
        .expect("key");
    let (revoked, revoked_key) = app
        .db
        .create_api_key(org.id, ApiKeyScope::Admin, "r", now)
        .await
        .expect("key");
    app.db.revoke_api_key(org.id, revoked.id, now).await.expect("revoke");
    let c = reqwest::Client::new();
    let with = |k: &str| c.get(&url).bearer_auth(k.to_string());
    assert_eq!(with(&admin_key).send().await.expect("r").status(), StatusCode::OK);
    assert_eq!(with(&scim_key).send().await.expect("r").status(), StatusCode::FORBIDDEN);
    assert_eq!(
        with(&foreign_key).send().await.expect("r").status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        with(&revoked_key).send().await.expect("r").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with("gh_nonsense").send().await.expect("r").status(),
        StatusCode::UNAUTHORIZED
    );
    let tampered = format!("{}x", &admin_key[..admin_key.len() - 1]);
    assert_eq!(
        with(&tampered).send().await.expect("r").status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn users_create_list_get_update_archive() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let api = Api::admin_key(&app, &org).await;
    api.post("/locations", json!({ "external_id": "LOC-1", "name": "Paris" }))
        .await;
    api.post("/staff-groups", json!({ "external_id": "GRP-1", "name": "Nurses" }))
        .await;

    let (status, carol) = api
        .post(
            "/users",
            json!({ "username": "carol", "email": "Carol@Example.com", "first_name": "Carol", "role": 20,
                    "locations": ["LOC-1"], "staff_group": "GRP-1", "language": "fr-CA", "password": PW }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{carol}");
    assert_eq!(carol["source"], "local");
    assert_eq!(carol["status"], "pending");
    assert_eq!(carol["language"], "fr");
    assert_eq!(carol["locations"], json!(["LOC-1"]));
    assert_eq!(carol["staff_group"], "GRP-1");
    assert!(carol.get("password_hash").is_none(), "never serialized");

    // Refusals name the field; nothing is created.
    let bad: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({ "username": "CAROL", "email": "c2@example.com" }),
            StatusCode::CONFLICT,
            "username",
        ),
        (
            json!({ "username": "carol2", "email": "carol@EXAMPLE.com" }),
            StatusCode::CONFLICT,
            "email",
        ),
        (
            json!({ "username": "dave", "email": "not-an-email" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            json!({ "username": "da ve", "email": "d@example.com" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "username",
        ),
        (
            json!({ "username": "dave", "email": "d@example.com", "role": 99 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role",
        ),
        (
            json!({ "username": "dave", "email": "d@example.com", "locations": ["NOPE"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "locations",
        ),
        (
            json!({ "username": "dave", "email": "d@example.com", "language": "xx" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "language",
        ),
        (
            json!({ "username": "dave", "email": "d@example.com", "password": "short" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            json!({ "email": "d@example.com" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "body",
        ),
    ];
    for (body, want, field) in bad {
        let (status, err) = api.post("/users", body.clone()).await;
        assert_eq!(status, want, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    let (_, page) = api.get("/users").await;
    assert_eq!(page["total"], 1);

    // The created password works, and signing in activates the user.
    assert_eq!(
        password_login(&app, &browser(), "acme", "carol", PW).await.status,
        StatusCode::SEE_OTHER
    );
    let id = carol["id"].as_str().expect("id").to_string();
    let (_, got) = api.get(&format!("/users/{id}")).await;
    assert_eq!(got["status"], "active");

    // Search and paging.
    for i in 0..5 {
        api.post(
            "/users",
            json!({ "username": format!("user{i}"), "email": format!("user{i}@example.com") }),
        )
        .await;
    }
    let (_, page) = api.get("/users?search=USER&limit=2&offset=2").await;
    assert_eq!(page["total"], 5);
    let names: Vec<&str> = page["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, vec!["user2", "user3"]);
    let (_, page) = api.get("/users?search=car_l").await;
    assert_eq!(page["total"], 0, "LIKE wildcards are literal");
    let (status, _) = api.get("/users?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Update and archive.
    let (status, updated) = api
        .patch(
            &format!("/users/{id}"),
            json!({ "job_title": "Nurse", "first_name": null, "locations": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["job_title"], "Nurse");
    assert_eq!(updated["first_name"], Value::Null);
    assert_eq!(updated["locations"], json!([]));
    let (status, _) = api.patch(&format!("/users/{id}"), json!({ "role": 15 })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, archived) = api.post(&format!("/users/{id}/archive"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(archived["status"], "archived");
    let (status, _) = api.get("/users/not-a-uuid").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.get(&format!("/users/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn directory_locked_fields_are_refused_with_409() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let api = Api::admin_key(&app, &org).await;
    let synced = app
        .db
        .create_user(
            org.id,
            &crate::harness::directory_user("dana@acme.example", "dana@acme.example", "00000000-entra-object"),
            gatehouse::clock::now(),
        )
        .await
        .expect("user");
    let path = format!("/users/{}", synced.id);
    for (field, value) in [
        ("first_name", json!("D.")),
        ("last_name", json!(null)),
        ("email", json!("x@acme.example")),
        ("job_title", json!("Boss")),
    ] {
        let (status, err) = api.patch(&path, json!({ field: value })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{field}: {err}");
        assert_eq!(err["field"], field);
        assert!(err["message"].as_str().expect("message").contains("Entra ID"), "{err}");
    }
    // Sending back the same values is fine; the role is the app's to set.
    let (status, ok) = api.patch(&path, json!({ "first_name": "Dana", "role": 30 })).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["role"], 30);
    let (status, err) = api.post(&format!("{path}/archive"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["message"]
        .as_str()
        .expect("message")
        .contains("remove them from the synced group"));
    let stored = app.db.user(org.id, synced.id).await.expect("user");
    assert_eq!(stored.status, UserStatus::Active);
    assert_eq!(stored.first_name.as_deref(), Some("Dana"));
}

#[tokio::test]
async fn catalogs_and_role_mappings() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let api = Api::admin_key(&app, &org).await;
    let (_, roles) = api.get("/roles").await;
    let codes: Vec<i64> = roles
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["code"].as_i64())
        .collect();
    assert_eq!(codes, vec![10, 20, 30, 40]);

    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/role-mappings/Nurse.Admins",
            Some(json!({ "role_code": 40 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = api
        .send(
            reqwest::Method::PUT,
            "/role-mappings/Other",
            Some(json!({ "role_code": 41 })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "role_code");
    let (_, list) = api.get("/role-mappings").await;
    assert_eq!(list, json!([{ "external_role": "Nurse.Admins", "role_code": 40 }]));

    let (status, _) = api
        .post("/locations", json!({ "external_id": "LOC-1", "name": "Paris" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = api
        .post("/locations", json!({ "external_id": "LOC-1", "name": "Again" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (status, err) = api
        .post("/locations", json!({ "external_id": "A,B", "name": "Comma" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, _) = api.send(reqwest::Method::DELETE, "/locations/LOC-1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = api.get("/locations").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn login_events_are_listed_and_filtered() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let alice = app.user(&org, "alice", 10, Some(PW)).await;
    app.user(&org, "bob", 10, Some(PW)).await;
    let client = browser();
    password_login(&app, &client, "acme", "alice", "wrong password!").await;
    password_login(&app, &client, "acme", "alice", PW).await;
    password_login(&app, &browser(), "acme", "bob", PW).await;
    let api = Api::admin_key(&app, &org).await;

    let (_, all) = api.get("/login-events").await;
    assert_eq!(all.as_array().expect("list").len(), 3);
    let (_, alice_events) = api.get("/login-events?user=alice").await;
    assert_eq!(alice_events.as_array().expect("list").len(), 2);
    let (_, by_id) = api
        .get(&format!("/login-events?user={}&outcome=failure", alice.id))
        .await;
    let list = by_id.as_array().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["reason"], "invalid_credentials");
    let (_, by_reason) = api.get("/login-events?reason=password").await;
    assert_eq!(by_reason.as_array().expect("list").len(), 2);
    let (_, future) = api.get("/login-events?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future, json!([]));
    let (_, past) = api.get("/login-events?until=2000-01-01T00:00:00Z").await;
    assert_eq!(past, json!([]));
    let (status, err) = api.get("/login-events?since=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "since");
    let id = list[0]["id"].as_str().expect("id");
    let (status, one) = api.get(&format!("/login-events/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["attempted_login"], "alice");
}
