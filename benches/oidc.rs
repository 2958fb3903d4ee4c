//! OpenID Connect throughput. `cargo bench --bench oidc` prints:
//! (a) ID token verifications per second, one thread (`oidc::token::verify`:
//!     header policy, RS256 signature, iss/aud/exp/nonce/iat/azp);
//! (b) complete sign-ins per second at concurrency 16 over HTTP: our login
//!     redirect, test-idp's form, its redirect back, and our callback (code
//!     exchange with PKCE, ID token verification, the claims engine's
//!     transaction), with the callback's p50/p99 latency. On SQLite and,
//!     with DATABASE_URL=postgres://…, on PostgreSQL.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use gatehouse::model::SettingsPatch;
use gatehouse::oidc::config::Profile;
use gatehouse::oidc::setup::{self, NewOidc};
use gatehouse::oidc::token::{self, Expected, Verdict};
use gatehouse::{App, Config};
use openidconnect::core::CoreIdToken;
use serde_json::json;
use test_idp::oidc::Client;
use test_idp::{OidcProvider, User};

const CONCURRENCY: usize = 16;
const SIGN_INS: usize = 400;
const VERIFICATIONS: usize = 5_000;

fn users() -> Vec<User> {
    (0..CONCURRENCY)
        .map(|i| User {
            username: format!("user{i}"),
            password: "pw".into(),
            name_id: format!("user{i}@contoso.example"),
            claims: Default::default(),
            oidc: json!({
                "oid": format!("oid-{i}"), "preferred_username": format!("user{i}@contoso.example"),
                "email": format!("user{i}@contoso.example"), "email_verified": true,
                "given_name": "Bench", "family_name": format!("User {i}"),
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        })
        .collect()
}

struct Setup {
    base: String,
    provider: OidcProvider,
    conn: uuid::Uuid,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(database_url: &str, pg_schema: Option<String>) -> Setup {
    let idp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let idp_base = format!("http://{}", idp_listener.local_addr().expect("addr"));
    let provider = OidcProvider::new("bench", &idp_base, users());
    let router = provider.router();
    tokio::spawn(async move {
        let _ = axum::serve(idp_listener, router).await;
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let env: BTreeMap<String, String> = [
        ("GATEHOUSE_DATABASE_URL", database_url.to_string()),
        ("GATEHOUSE_BASE_URL", format!("http://{addr}")),
        (
            "GATEHOUSE_SESSION_SECRET",
            "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz".to_string(),
        ),
        ("GATEHOUSE_LOG_LEVEL", "error".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_parts(None, &env).expect("config");
    let opts = gatehouse::store::pool::PoolOptions {
        pg_schema,
        max_connections: Some(16),
    };
    let app = App::build_with(config.clone(), opts).await.expect("app");
    let db = app.db().clone();
    let now = gatehouse::clock::now();
    let org = db.create_org("bench", "Bench", now).await.expect("org");
    let jit = SettingsPatch {
        jit_creation: Some(true),
        ..Default::default()
    };
    db.update_settings(org.id, &jit.apply(&org.settings), now)
        .await
        .expect("settings");
    let new = NewOidc {
        name: "bench".into(),
        issuer: provider.issuer(),
        client_id: "bench-client".into(),
        client_secret: Some("bench-secret".into()),
        scopes: None,
        client_auth: None,
        profile: Some(Profile::Entra),
        userinfo: Some(false),
        verified_domains: Vec::new(),
        trusted_audiences: Vec::new(),
        clock_skew_seconds: None,
        attribute_overrides: Default::default(),
    };
    let summary = setup::create(&db, &config, &org, new, now).await.expect("connection");
    provider.register_client(Client {
        client_id: "bench-client".into(),
        client_secret: "bench-secret".into(),
        redirect_uris: vec![summary.redirect_uri.clone()],
        certificate_pem: None,
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await;
    });
    Setup {
        base: format!("http://{addr}"),
        provider,
        conn: summary.id,
        _stop: stop,
    }
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).expect("field");
    html[start..start + html[start..].find('"').expect("end")].replace("&amp;", "&")
}

/// One whole sign-in in a fresh browser; returns the callback's latency.
async fn sign_in(s: &Setup, username: &str) -> Duration {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = client
        .get(format!("{}/o/bench/sso/{}/login", s.base, s.conn))
        .send()
        .await
        .expect("login");
    let authorize = login.headers()["location"].to_str().expect("location").to_string();
    let html = client
        .get(&authorize)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("html");
    let back = client
        .post(s.provider.authorize_url())
        .form(&[
            ("client_id", field(&html, "client_id")),
            ("redirect_uri", field(&html, "redirect_uri")),
            ("state", field(&html, "state")),
            ("nonce", field(&html, "nonce")),
            ("code_challenge", field(&html, "code_challenge")),
            ("username", username.to_string()),
            ("password", "pw".to_string()),
        ])
        .send()
        .await
        .expect("provider login");
    let callback = back.headers()["location"].to_str().expect("location").to_string();
    let t = Instant::now();
    let done = client.get(&callback).send().await.expect("callback");
    let elapsed = t.elapsed();
    assert_eq!(done.status(), 303, "every sign-in succeeds");
    elapsed
}

async fn sign_ins(s: &std::sync::Arc<Setup>) -> (f64, Duration, Duration) {
    for i in 0..CONCURRENCY {
        sign_in(s, &format!("user{i}")).await; // warm-up: creates the users
    }
    let remaining = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(SIGN_INS));
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..CONCURRENCY {
        let s = s.clone();
        let remaining = remaining.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while remaining
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok()
            {
                latencies.push(sign_in(&s, &format!("user{i}")).await);
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    all.sort();
    let p50 = all[all.len() / 2];
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    (all.len() as f64 / elapsed.as_secs_f64(), p50, p99)
}

/// An ID token straight from test-idp's endpoints (no Gatehouse), verified
/// over and over: the cost of our checks, crypto included.
async fn verifications_per_second(s: &Setup) -> f64 {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect_uri = format!("{}/oidc/{}/callback", s.base, s.conn);
    let back = http
        .post(s.provider.authorize_url())
        .form(&[
            ("client_id", "bench-client"),
            ("redirect_uri", redirect_uri.as_str()),
            ("state", "s"),
            ("nonce", "bench-nonce"),
            ("code_challenge", ""),
            ("username", "user0"),
            ("password", "pw"),
        ])
        .send()
        .await
        .expect("provider login");
    let location = url::Url::parse(back.headers()["location"].to_str().expect("location")).expect("url");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let tokens: serde_json::Value = http
        .post(s.provider.token_url())
        .basic_auth("bench-client", Some("bench-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let id_token = CoreIdToken::from_str(tokens["id_token"].as_str().expect("id_token")).expect("parse");
    let metadata = gatehouse::oidc::provider::discover(&http, &s.provider.issuer())
        .await
        .expect("discovery");
    let allowed = token::allowed_algs(metadata.id_token_signing_alg_values_supported());
    let issuer = s.provider.issuer();
    let started = Instant::now();
    for _ in 0..VERIFICATIONS {
        let expected = Expected {
            issuer: &issuer,
            client_id: "bench-client",
            nonce: "bench-nonce",
            trusted_audiences: &[],
            allowed_algs: &allowed,
            now: gatehouse::clock::now(),
            skew: chrono::Duration::seconds(120),
        };
        assert!(matches!(
            token::verify(&id_token, metadata.jwks(), &expected),
            Verdict::Valid(_)
        ));
    }
    VERIFICATIONS as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("gh-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite = format!("sqlite://{}", dir.join("bench.db").display());
    let s = std::sync::Arc::new(start(&sqlite, None).await);
    println!("(a) ID token verification, one thread, RS256, Entra-shaped claims");
    println!("    {:>8.0} tokens/s", verifications_per_second(&s).await);
    println!("(b) Complete OIDC sign-ins, concurrency {CONCURRENCY}, {SIGN_INS} flows (callback latency)");
    let (rate, p50, p99) = sign_ins(&s).await;
    println!(
        "    sqlite:   {rate:>7.0} sign-ins/s   callback p50 {:>6.1} ms   p99 {:>6.1} ms",
        ms(p50),
        ms(p99)
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let schema = format!("gh_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&url).await.expect("postgres");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .expect("schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            let with_path = format!("{url}{sep}options=-c%20search_path%3D{schema}");
            let s = std::sync::Arc::new(start(&with_path, Some(schema.clone())).await);
            let (rate, p50, p99) = sign_ins(&s).await;
            println!(
                "    postgres: {rate:>7.0} sign-ins/s   callback p50 {:>6.1} ms   p99 {:>6.1} ms",
                ms(p50),
                ms(p99)
            );
            drop(s);
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&admin)
                .await;
        }
        _ => println!("    postgres: skipped (set DATABASE_URL=postgres://… to measure)"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
