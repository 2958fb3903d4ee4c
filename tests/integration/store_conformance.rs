//! Storage behaviour that must be identical on SQLite and PostgreSQL: the
//! database (not code) keeps the invariants, times round-trip, single-use
//! tokens stay single-use under concurrency.

use gatehouse::on_db;
use gatehouse::store::Error;

use crate::harness::{new_user, TestApp};

#[tokio::test]
async fn duplicate_username_or_email_differing_in_case_is_refused_by_the_database() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let now = gatehouse::clock::now();
    app.db
        .create_user(org.id, &new_user("Alice", "alice@example.com"), now)
        .await
        .expect("first");
    let dup = app
        .db
        .create_user(org.id, &new_user("aLiCe", "other@example.com"), now)
        .await;
    assert!(matches!(dup, Err(Error::Conflict("username"))), "{dup:?}");
    let dup = app
        .db
        .create_user(org.id, &new_user("alice2", "ALICE@EXAMPLE.COM"), now)
        .await;
    assert!(matches!(dup, Err(Error::Conflict("email"))), "{dup:?}");

    // Raw SQL, bypassing every line of application code: still refused.
    let raw = on_db!(&app.db, |p| sqlx::query(
        "INSERT INTO users (id, org_id, username, email, role, status, source, created_at, updated_at) \
         VALUES ($1, $2, 'ALICE', 'raw@example.com', 10, 'active', 'local', $3, $3)"
    )
    .bind(uuid::Uuid::new_v4())
    .bind(org.id)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()));
    let err = raw.expect_err("the unique index refuses it");
    assert!(
        err.as_database_error().is_some_and(|e| e.is_unique_violation()),
        "{err}"
    );

    // Same username in another organization is fine.
    let other = app.org("globex").await;
    app.db
        .create_user(other.id, &new_user("alice", "alice@example.com"), now)
        .await
        .expect("other org");
}

#[tokio::test]
async fn users_round_trip_with_locations_group_and_times() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let now = gatehouse::clock::now();
    use gatehouse::store::catalog::Directory;
    app.db
        .add_directory_entry(org.id, Directory::Locations, "B", "Bordeaux", now)
        .await
        .expect("loc");
    app.db
        .add_directory_entry(org.id, Directory::Locations, "A", "Amiens", now)
        .await
        .expect("loc");
    app.db
        .add_directory_entry(org.id, Directory::StaffGroups, "G", "Group", now)
        .await
        .expect("grp");
    let mut u = new_user("bob", "bob@example.com");
    u.locations = vec!["B".into(), "A".into()];
    u.staff_group = Some("G".into());
    u.language = gatehouse::model::Language::Fr;
    let created = app.db.create_user(org.id, &u, now).await.expect("create");
    assert_eq!(created.locations, vec!["A", "B"]);
    assert_eq!(created.staff_group.as_deref(), Some("G"));
    assert_eq!(created.created_at, now, "times round-trip exactly");
    let found = app
        .db
        .user_by_email(org.id, "BOB@example.com")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(found.id, created.id);

    // Removing a location removes it from users (cascade), not the user.
    app.db
        .remove_directory_entry(org.id, Directory::Locations, "A")
        .await
        .expect("remove");
    assert_eq!(
        app.db.user(org.id, created.id).await.expect("user").locations,
        vec!["B"]
    );
}

#[tokio::test]
async fn a_recovery_token_is_consumed_exactly_once_under_concurrency() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let user = app
        .db
        .create_user(org.id, &new_user("root", "root@example.com"), gatehouse::clock::now())
        .await
        .expect("user");
    let token = app
        .db
        .create_recovery_token(org.id, user.id, gatehouse::clock::now())
        .await
        .expect("token");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = app.db.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            db.consume_recovery_token(org.id, &token, gatehouse::clock::now()).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("task").expect("query").is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn an_expired_recovery_token_is_refused_as_expired() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let user = app
        .db
        .create_user(org.id, &new_user("root", "root@example.com"), gatehouse::clock::now())
        .await
        .expect("user");
    let issued = gatehouse::clock::now() - chrono::Duration::minutes(16);
    let token = app
        .db
        .create_recovery_token(org.id, user.id, issued)
        .await
        .expect("token");
    let got = app
        .db
        .consume_recovery_token(org.id, &token, gatehouse::clock::now())
        .await
        .expect("query");
    assert_eq!(got, Err(gatehouse::store::recovery::RecoveryRefusal::Expired));
    // And a token is bound to its organization.
    let other = app.org("globex").await;
    let token = app
        .db
        .create_recovery_token(org.id, user.id, gatehouse::clock::now())
        .await
        .expect("token");
    let got = app
        .db
        .consume_recovery_token(other.id, &token, gatehouse::clock::now())
        .await
        .expect("query");
    assert_eq!(got, Err(gatehouse::store::recovery::RecoveryRefusal::Unknown));
}

#[tokio::test]
async fn organization_slugs_are_unique_ignoring_case() {
    let app = TestApp::start().await;
    app.org("acme").await;
    let dup = app.db.create_org("ACME", "Again", gatehouse::clock::now()).await;
    assert!(matches!(dup, Err(Error::Conflict("slug"))), "{dup:?}");
    let org = app.db.org_by_slug("Acme").await.expect("lookup ignores case");
    assert_eq!(org.slug, "acme");
    assert_eq!(app.db.roles(org.id).await.expect("roles").len(), 4, "catalog seeded");
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let app = TestApp::start().await;
    app.db.migrate().await.expect("second run is a no-op");
    assert!(["sqlite", "postgres"].contains(&app.db.backend()));
    assert_eq!(app.db.backend(), crate::harness::backend());
}

#[tokio::test]
async fn replay_cache_refuses_repeats_and_forgets_only_expired_ids() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let now = gatehouse::clock::now();
    let conn = app
        .db
        .insert_connection(org.id, "saml", "c", &serde_json::json!({}), now)
        .await
        .expect("conn");
    let other = app
        .db
        .insert_connection(org.id, "saml", "d", &serde_json::json!({}), now)
        .await
        .expect("conn");
    let soon = now + chrono::Duration::minutes(5);
    assert!(app.db.remember_assertion(conn, "_a1", soon).await.expect("first"));
    assert!(
        !app.db.remember_assertion(conn, "_a1", soon).await.expect("repeat"),
        "a replay"
    );
    assert!(
        app.db
            .remember_assertion(other, "_a1", soon)
            .await
            .expect("other connection"),
        "ids are per connection"
    );
    // Sweeping before expiry keeps it; after expiry forgets it.
    app.db.sweep_saml_state(now).await.expect("sweep");
    assert!(!app.db.remember_assertion(conn, "_a1", soon).await.expect("still known"));
    app.db
        .sweep_saml_state(soon + chrono::Duration::seconds(1))
        .await
        .expect("sweep");
    assert!(app
        .db
        .remember_assertion(conn, "_a1", soon)
        .await
        .expect("forgotten after expiry"));
}
