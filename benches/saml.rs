//! SAML throughput. `cargo bench --bench saml` prints:
//! (a) Response validation per second, one thread, Entra-shaped responses,
//!     assertion-signed and both-signed (`saml::verify::verify`, pure);
//! (b) end-to-end ACS sign-ins per second and p99 latency at concurrency 16
//!     over HTTP against a real server, on SQLite and (with DATABASE_URL set
//!     to postgres://…) on PostgreSQL. Every response is fresh, so the
//!     replay cache is exercised, never bypassed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gatehouse::model::SettingsPatch;
use gatehouse::saml::config::Options;
use gatehouse::saml::setup::{self, IdpSource};
use gatehouse::saml::verify::{self, IdpTrust, SpEndpoint};
use gatehouse::{App, Config};
use test_idp::saml::{Signing, SpRegistration};
use test_idp::{SamlIdp, User};

const CONCURRENCY: usize = 16;
const SIGN_INS: usize = 800;

fn user() -> User {
    let claims: BTreeMap<String, Vec<String>> = [
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            "Alice",
        ),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
            "Martin",
        ),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "alice@contoso.example",
        ),
        (
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            "aaaaaaaa-0000-0000-0000-000000000001",
        ),
        (
            "http://schemas.microsoft.com/identity/claims/tenantid",
            "11111111-2222-3333-4444-555555555555",
        ),
        (
            "http://schemas.microsoft.com/identity/claims/displayname",
            "Alice Martin",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
    .collect();
    User {
        username: "alice".into(),
        password: "x".into(),
        name_id: "alice@contoso.example".into(),
        claims,
        oidc: Default::default(),
    }
}

struct Setup {
    idp: SamlIdp,
    sp: SpRegistration,
    loaded: setup::LoadedSaml,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(database_url: &str, pg_schema: Option<String>) -> Setup {
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
    let idp = SamlIdp::new(&SamlIdp::entra_entity_id("bench"), "http://127.0.0.1:9", vec![user()]);
    let source = IdpSource::Fields {
        entity_id: idp.entity_id().into(),
        sso_url: idp.sso_url(),
        slo_url: None,
        certificates: vec![idp.signing_cert_pem()],
    };
    let options = Options {
        idp_initiated: true,
        ..Options::default()
    };
    let summary = setup::create(&db, &config, &org, "bench", source, options, now)
        .await
        .expect("connection");
    let loaded = setup::load(&db, &config, summary.id).await.expect("load");
    let sp = SpRegistration {
        entity_id: summary.sp_entity_id,
        acs_url: summary.acs_url,
        slo_url: None,
        encryption_cert_pem: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await;
    });
    Setup {
        idp,
        sp,
        loaded,
        _stop: stop,
    }
}

fn validations_per_second(s: &Setup, signing: Signing) -> f64 {
    let mut spec = s.idp.spec_for("alice", &s.sp);
    spec.signing = signing;
    let xml = s.idp.response(&spec);
    let trust = IdpTrust {
        entity_id: &s.loaded.config.idp.entity_id,
        certificates: &s.loaded.certificates,
        allow_sha1: false,
    };
    let sp = SpEndpoint {
        entity_id: &s.loaded.urls.entity_id,
        acs_url: &s.loaded.urls.acs,
        decryption_key: Some(&s.loaded.sp_key),
    };
    let skew = chrono::Duration::seconds(180);
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        verify::verify(&xml, &trust, &sp, gatehouse::clock::now(), skew).expect("valid response");
        n += 1;
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

async fn sign_ins(s: &Setup) -> (f64, Duration, Duration) {
    // Fresh responses made before the clock starts: signing is the IdP's cost.
    let bodies: Vec<String> = (0..SIGN_INS)
        .map(|_| STANDARD.encode(s.idp.response(&s.idp.spec_for("alice", &s.sp))))
        .collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // Warm-up: the first sign-in creates the user.
    let first = client
        .post(&s.sp.acs_url)
        .form(&[("SAMLResponse", bodies[0].clone())])
        .send()
        .await
        .expect("warm-up");
    assert_eq!(first.status(), 303);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies.into_iter().skip(1).collect::<Vec<_>>()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let queue = queue.clone();
        let client = client.clone();
        let acs = s.sp.acs_url.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                let Some(body) = next else { break };
                let t = Instant::now();
                let resp = client
                    .post(&acs)
                    .form(&[("SAMLResponse", body)])
                    .send()
                    .await
                    .expect("acs");
                assert_eq!(resp.status(), 303, "every fresh response signs in");
                latencies.push(t.elapsed());
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

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("gh-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite = format!("sqlite://{}", dir.join("bench.db").display());
    let s = start(&sqlite, None).await;
    println!("(a) Response validation, one thread, Entra-shaped responses");
    println!(
        "    assertion-signed: {:>8.0} responses/s",
        validations_per_second(&s, Signing::Assertion)
    );
    println!(
        "    both-signed:      {:>8.0} responses/s",
        validations_per_second(&s, Signing::Both)
    );
    println!("(b) End-to-end ACS sign-ins, concurrency {CONCURRENCY}, {SIGN_INS} fresh responses");
    let (rate, p50, p99) = sign_ins(&s).await;
    println!(
        "    sqlite:   {rate:>7.0} sign-ins/s   p50 {:>6.1} ms   p99 {:>6.1} ms",
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
            let s = start(&with_path, Some(schema.clone())).await;
            let (rate, p50, p99) = sign_ins(&s).await;
            println!(
                "    postgres: {rate:>7.0} sign-ins/s   p50 {:>6.1} ms   p99 {:>6.1} ms",
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
