//! The claims engine's one entry point, `signin::sign_in`, against a real
//! database on both backends: JIT, field ownership, roles, refusals, the
//! first-login race, and the login event's contents field by field.

use std::collections::BTreeMap;

use gatehouse::model::{Organization, SettingsPatch, Source, User, UserStatus};
use gatehouse::rules::claims::{Protocol, RawClaims};
use gatehouse::signin::{sign_in, ConnectionPolicy, Outcome, VerifiedIdentity};
use gatehouse::store::catalog::Directory;
use gatehouse::store::users::NewUser;
use serde_json::json;
use uuid::Uuid;

use crate::harness::TestApp;

const GIVEN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

fn raw(pairs: &[(&str, &[&str])]) -> RawClaims {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

fn saml(connection: Uuid, name_id: &str, claims: RawClaims) -> VerifiedIdentity {
    VerifiedIdentity {
        connection_id: connection,
        protocol: Protocol::Saml,
        subject: format!("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress|{name_id}"),
        subject_value: name_id.to_string(),
        raw_claims: claims,
        relay_state: None,
        idp_initiated: false,
        warnings: Vec::new(),
    }
}

fn policy() -> ConnectionPolicy {
    ConnectionPolicy {
        relay_state_ceiling: 20,
        ..Default::default()
    }
}

struct Setup {
    app: TestApp,
    org: Organization,
    conn: Uuid,
}

async fn setup(settings: SettingsPatch) -> Setup {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let now = gatehouse::clock::now();
    app.db
        .update_settings(org.id, &settings.apply(&org.settings), now)
        .await
        .expect("settings");
    let org = app.db.org_by_id(org.id).await.expect("org");
    let conn = app
        .db
        .insert_connection(org.id, "saml", "Entra", &json!({}), now)
        .await
        .expect("connection");
    for (ext, name) in [("LOC-1", "Paris"), ("LOC-2", "Lyon")] {
        app.db
            .add_directory_entry(org.id, Directory::Locations, ext, name, now)
            .await
            .expect("loc");
    }
    app.db
        .add_directory_entry(org.id, Directory::StaffGroups, "GRP-1", "Nurses", now)
        .await
        .expect("grp");
    app.db.set_role_mapping(org.id, "Acme.Managers", 30).await.expect("map");
    app.db.set_role_mapping(org.id, "Acme.Advanced", 20).await.expect("map");
    app.db.set_role_mapping(org.id, "relay-admin", 40).await.expect("map");
    app.db
        .set_role_mapping(org.id, "relay-advanced", 20)
        .await
        .expect("map");
    Setup { app, org, conn }
}

fn jit_on() -> SettingsPatch {
    SettingsPatch {
        jit_creation: Some(true),
        ..Default::default()
    }
}

async fn run(s: &Setup, policy: &ConnectionPolicy, id: &VerifiedIdentity) -> Outcome {
    sign_in(
        &s.app.db,
        &s.org,
        policy,
        id,
        Some("127.0.0.1".into()),
        gatehouse::clock::now(),
    )
    .await
    .expect("sign_in")
}

fn signed_in(o: Outcome) -> (User, Uuid) {
    match o {
        Outcome::SignedIn { user, event_id } => (*user, event_id),
        Outcome::Refused { refusal, .. } => panic!("refused: {refusal:?}"),
    }
}

fn refused(o: Outcome) -> (&'static str, String, Uuid) {
    match o {
        Outcome::Refused { refusal, event_id } => (refusal.reason, refusal.message, event_id),
        Outcome::SignedIn { user, .. } => panic!("signed in as {}", user.username),
    }
}

async fn directory_user(s: &Setup) -> User {
    let u = NewUser {
        display_name: Some("Dana Scully".into()),
        language: gatehouse::model::Language::Fr,
        staff_group: Some("GRP-1".into()),
        locations: vec!["LOC-1".into()],
        ..crate::harness::directory_user("dana@acme.example", "dana@acme.example", "entra-object-1")
    };
    s.app
        .db
        .create_user(s.org.id, &u, gatehouse::clock::now())
        .await
        .expect("user")
}

#[tokio::test]
async fn jit_off_refuses_and_records_the_event() {
    let s = setup(SettingsPatch::default()).await;
    let id = saml(s.conn, "new@acme.example", raw(&[(GIVEN, &["New"])]));
    let (reason, message, event_id) = refused(run(&s, &policy(), &id).await);
    assert_eq!(reason, "jit_disabled");
    assert!(message.contains("no account for you here"), "{message}");
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert_eq!(e.outcome, "failure");
    assert_eq!(e.method, "saml");
    assert_eq!(e.reason, "jit_disabled");
    assert_eq!(e.user_id, None);
    assert_eq!(e.connection_id, Some(s.conn));
    assert_eq!(e.detail["claims"][GIVEN], json!(["New"]));
    let users = s.app.db.list_users(s.org.id, &Default::default()).await.expect("users");
    assert_eq!(users.total, 0, "nothing created");
}

#[tokio::test]
async fn jit_on_creates_an_sso_user_with_defaults() {
    let s = setup(jit_on()).await;
    let id = saml(
        s.conn,
        "new@acme.example",
        raw(&[(GIVEN, &["Nora"]), (SURNAME, &["New"])]),
    );
    let (user, event_id) = signed_in(run(&s, &policy(), &id).await);
    assert_eq!(user.source, Source::Sso);
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.username, "new@acme.example", "username defaults to the NameID");
    assert_eq!(
        user.email, "new@acme.example",
        "email defaults to an email-shaped NameID"
    );
    assert_eq!(user.language.code(), "en");
    assert_eq!(user.role, 10);
    assert_eq!(user.first_name.as_deref(), Some("Nora"));
    assert!(user.last_login_at.is_some());
    assert_eq!(s.app.db.count_links(s.org.id, user.id).await.expect("links"), 1);

    // Event contents, field by field.
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert_eq!(e.outcome, "success");
    assert_eq!(e.reason, "created");
    assert_eq!(e.user_id, Some(user.id));
    assert_eq!(e.subject.as_deref(), Some(id.subject.as_str()));
    assert_eq!(e.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.detail["protocol"], "saml");
    assert_eq!(e.detail["created"], true);
    assert_eq!(e.detail["match"], json!(null));
    assert_eq!(e.detail["role"]["role"], 10);
    assert_eq!(e.detail["role"]["step"], "default");
    assert_eq!(e.detail["claims"][SURNAME], json!(["New"]));
    assert!(
        e.detail["role"]["notes"].as_array().is_some_and(|n| !n.is_empty()),
        "explains the earlier steps"
    );

    // The second login finds the user by its identity link.
    let (again, event_id) = signed_in(run(&s, &policy(), &id).await);
    assert_eq!(again.id, user.id);
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert_eq!(e.reason, "signed_in");
    assert_eq!(e.detail["match"]["rule"], "identity_link");
    assert_eq!(e.detail["role"]["step"], "kept");
}

#[tokio::test]
async fn a_directory_user_only_gets_the_role_changed() {
    let s = setup(SettingsPatch {
        profile_sync: Some("force".into()),
        ..jit_on()
    })
    .await;
    let dana = directory_user(&s).await;
    let id = saml(
        s.conn,
        "dana@acme.example",
        raw(&[
            (GIVEN, &["Danielle"]),
            (SURNAME, &["Other"]),
            (EMAIL, &["dana@acme.example"]),
            ("job_title", &["Director"]),
            ("language", &["de-DE"]),
            ("locations", &["LOC-2"]),
            ("group", &[""]),
            ("externalRoleId", &["Acme.Advanced", "Acme.Managers", "Unknown.Role"]),
        ]),
    );
    let (user, event_id) = signed_in(run(&s, &policy(), &id).await);
    assert_eq!(user.id, dana.id);
    assert_eq!(user.role, 30, "highest mapped externalRoleId wins");
    assert_eq!(user.first_name.as_deref(), Some("Dana"));
    assert_eq!(user.last_name.as_deref(), Some("Scully"));
    assert_eq!(user.job_title.as_deref(), Some("Agent"));
    assert_eq!(user.language.code(), "fr");
    assert_eq!(user.locations, vec!["LOC-1"]);
    assert_eq!(user.staff_group.as_deref(), Some("GRP-1"));
    assert_eq!(user.source, Source::Directory);
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert_eq!(e.detail["match"]["rule"], "username");
    assert_eq!(e.detail["changes"], json!([{ "field": "role", "old": 10, "new": 30 }]));
    assert_eq!(e.detail["role"]["step"], "external_role_id");
    let codes: Vec<&str> = e.detail["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert!(codes.contains(&"unmapped_external_role"), "{codes:?}");
}

#[tokio::test]
async fn force_mode_refreshes_an_sso_user_but_never_takes_anothers_email() {
    let s = setup(SettingsPatch {
        profile_sync: Some("force".into()),
        ..jit_on()
    })
    .await;
    directory_user(&s).await;
    let first = saml(
        s.conn,
        "sam@acme.example",
        raw(&[
            (GIVEN, &["Sam"]),
            ("locations", &["LOC-1,LOC-2"]),
            ("group", &["GRP-1"]),
        ]),
    );
    let (sam, _) = signed_in(run(&s, &policy(), &first).await);
    assert_eq!(sam.locations, vec!["LOC-1", "LOC-2"]);

    let later = saml(
        s.conn,
        "sam@acme.example",
        raw(&[
            (GIVEN, &["Samuel"]),
            (EMAIL, &["dana@acme.example"]),
            ("locations", &[""]),
            ("group", &[""]),
            ("job_title", &["Nurse"]),
        ]),
    );
    let (sam2, event_id) = signed_in(run(&s, &policy(), &later).await);
    assert_eq!(sam2.id, sam.id);
    assert_eq!(sam2.first_name.as_deref(), Some("Samuel"));
    assert_eq!(sam2.job_title.as_deref(), Some("Nurse"));
    assert_eq!(sam2.email, "sam@acme.example", "dana's email is not taken");
    assert!(sam2.locations.is_empty(), "present-but-empty clears locations");
    assert_eq!(sam2.staff_group, None, "present-but-empty clears the group");
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    let codes: Vec<&str> = e.detail["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert!(codes.contains(&"email_taken"), "{codes:?}");
    let changed: Vec<&str> = e.detail["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(
        changed.contains(&"first_name") && changed.contains(&"locations") && !changed.contains(&"email"),
        "{changed:?}"
    );
}

#[tokio::test]
async fn import_mode_leaves_an_sso_users_profile_alone() {
    let s = setup(jit_on()).await;
    let id = saml(s.conn, "ivy@acme.example", raw(&[(GIVEN, &["Ivy"])]));
    signed_in(run(&s, &policy(), &id).await);
    let id = saml(
        s.conn,
        "ivy@acme.example",
        raw(&[(GIVEN, &["Ivana"]), ("role", &["20"])]),
    );
    let (ivy, event_id) = signed_in(run(&s, &policy(), &id).await);
    assert_eq!(ivy.first_name.as_deref(), Some("Ivy"));
    assert_eq!(ivy.role, 20, "the role claim still applies");
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert_eq!(e.detail["role"]["step"], "role_claim");
}

#[tokio::test]
async fn relay_state_roles_need_opt_in_and_respect_the_ceiling() {
    let s = setup(jit_on()).await;
    let mut id = saml(s.conn, "rita@acme.example", raw(&[]));
    id.idp_initiated = true;
    id.relay_state = Some("relay-advanced".into());
    // Not opted in: default role.
    let (rita, _) = signed_in(run(&s, &policy(), &id).await);
    assert_eq!(rita.role, 10);
    // Opted in: the relay state's role, up to the ceiling.
    let opted = ConnectionPolicy {
        relay_state_roles: true,
        relay_state_ceiling: 20,
        ..Default::default()
    };
    let (rita, _) = signed_in(run(&s, &opted, &id).await);
    assert_eq!(rita.role, 20);
    // Above the ceiling: refused and recorded, role kept.
    id.relay_state = Some("relay-admin".into());
    let (rita, event_id) = signed_in(run(&s, &opted, &id).await);
    assert_eq!(rita.role, 20);
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    let codes: Vec<&str> = e.detail["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert!(codes.contains(&"relay_state_above_ceiling"), "{codes:?}");
    assert_eq!(e.detail["relay_state"], "relay-admin");
    // SP-initiated: the RelayState is never a role.
    id.idp_initiated = false;
    id.relay_state = Some("relay-advanced".into());
    let (rita, _) = signed_in(run(&s, &opted, &id).await);
    assert_eq!(rita.role, 20, "kept, not from relay state");
}

#[tokio::test]
async fn refusals_archived_missing_claim_and_taken() {
    let s = setup(jit_on()).await;
    // Missing email (NameID not email-shaped, no email claim).
    let id = saml(s.conn, "opaque-id-123", raw(&[(GIVEN, &["X"])]));
    let (reason, message, _) = refused(run(&s, &policy(), &id).await);
    assert_eq!(reason, "missing_claim");
    assert!(message.contains("`email`"), "{message}");

    // Email taken by a user that cannot be matched: OIDC with an unverified email.
    directory_user(&s).await;
    let oidc = VerifiedIdentity {
        connection_id: s.conn,
        protocol: Protocol::Oidc,
        subject: "https://idp.example|sub-1".into(),
        subject_value: "sub-1".into(),
        raw_claims: raw(&[
            ("email", &["dana@acme.example"]),
            ("email_verified", &["false"]),
            ("preferred_username", &["dana2"]),
        ]),
        relay_state: None,
        idp_initiated: false,
        warnings: Vec::new(),
    };
    let (reason, _, event_id) = refused(run(&s, &policy(), &oidc).await);
    assert_eq!(reason, "email_taken");
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert_eq!(e.method, "oidc");

    // Archived users are refused; the directory reactivates them, not SSO.
    let id = saml(s.conn, "arch@acme.example", raw(&[]));
    let (mut user, _) = signed_in(run(&s, &policy(), &id).await);
    user.status = UserStatus::Archived;
    s.app
        .db
        .save_user(&user, gatehouse::clock::now())
        .await
        .expect("archive");
    let (reason, _, event_id) = refused(run(&s, &policy(), &id).await);
    assert_eq!(reason, "user_archived");
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert_eq!(e.user_id, Some(user.id));
    assert_eq!(
        s.app.db.user(s.org.id, user.id).await.expect("user").status,
        UserStatus::Archived
    );
}

#[tokio::test]
async fn simultaneous_first_logins_create_one_user_and_one_link() {
    let s = setup(jit_on()).await;
    let id = saml(s.conn, "race@acme.example", raw(&[(GIVEN, &["Race"])]));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = s.app.db.clone();
        let org = s.org.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            sign_in(&db, &org, &policy(), &id, None, gatehouse::clock::now()).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        match t.await.expect("task").expect("sign_in") {
            Outcome::SignedIn { user, .. } => ids.push(user.id),
            Outcome::Refused { refusal, .. } => panic!("refused: {refusal:?}"),
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "everyone got the same user");
    let users = s
        .app
        .db
        .list_users(
            s.org.id,
            &gatehouse::store::users::UserQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("users");
    assert_eq!(users.total, 1);
    assert_eq!(s.app.db.count_links(s.org.id, ids[0]).await.expect("links"), 1);
    let events = s
        .app
        .db
        .list_events(
            s.org.id,
            &gatehouse::store::events::EventQuery {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .expect("events");
    assert_eq!(events.len(), 8, "one event per sign-in");
    assert_eq!(events.iter().filter(|e| e.reason == "created").count(), 1);
}

#[tokio::test]
async fn claims_in_events_are_size_capped() {
    let s = setup(jit_on()).await;
    let mut claims: RawClaims = BTreeMap::new();
    for i in 0..200 {
        claims.insert(format!("attr{i:03}"), vec!["x".repeat(5000)]);
    }
    let id = saml(s.conn, "big@acme.example", claims);
    let (_, event_id) = signed_in(run(&s, &policy(), &id).await);
    let e = s.app.db.event(s.org.id, event_id).await.expect("event");
    assert!(e.detail.to_string().len() <= gatehouse::store::events::MAX_DETAIL_BYTES);
    assert_eq!(
        e.detail["role"]["step"], "default",
        "the decision is kept whatever the claims"
    );
    assert!(e.detail["claims"]["_attributes_left_out"]
        .as_u64()
        .is_some_and(|n| n > 0));
    assert_eq!(
        e.detail["claims"]["attr000"][0].as_str().map(str::len),
        Some(512),
        "values are cut"
    );
}
