//! Test harness: a real Gatehouse on 127.0.0.1:0 with a fresh database per
//! test. The backend follows `DATABASE_URL`: unset (or sqlite:) = a temp
//! SQLite file; postgres:// = a new schema in that database, so tests run
//! in parallel without seeing each other.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use gatehouse::model::{Organization, Source, User, UserStatus};
use gatehouse::store::pool::PoolOptions;
use gatehouse::store::users::NewUser;
use gatehouse::store::Db;
use gatehouse::{App, Config};
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: Db,
    pub config: Config,
    /// The URL the CLI binary should use to reach this test's database.
    pub database_url: String,
    pg_schema: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<TempDir>,
}

/// A temp directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn backend() -> &'static str {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => "postgres",
        _ => "sqlite",
    }
}

/// A fresh database: (url for the app and CLI, pool options, temp dir).
pub async fn fresh_database() -> (String, PoolOptions, Option<TempDir>) {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let schema = format!("gh_t_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&url).await.expect("connect to DATABASE_URL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            let with_path = format!("{url}{sep}options=-c%20search_path%3D{schema}");
            (
                with_path,
                PoolOptions {
                    pg_schema: Some(schema),
                    max_connections: Some(8),
                },
                None,
            )
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("gh-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = format!("sqlite://{}", dir.join("test.db").display());
            (url, PoolOptions::default(), Some(TempDir(dir)))
        }
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(&[]).await
    }

    /// A second instance on this instance's database (same secrets), as a
    /// multi-instance deployment runs.
    pub async fn sibling(&self) -> TestApp {
        let opts = PoolOptions {
            pg_schema: self.pg_schema.clone(),
            max_connections: Some(8),
        };
        // Behind one load balancer, both answer to the same public URL.
        let base = format!("http://{}", self.addr);
        TestApp::start_on(
            self.database_url.clone(),
            opts,
            None,
            &[("GATEHOUSE_BASE_URL", base.as_str())],
        )
        .await
    }

    /// Starts with extra `GATEHOUSE_*` settings (e.g. a low throttle).
    pub async fn start_with(extra: &[(&str, &str)]) -> TestApp {
        let (database_url, opts, dir) = fresh_database().await;
        TestApp::start_on(database_url, opts, dir, extra).await
    }

    async fn start_on(
        database_url: String,
        opts: PoolOptions,
        dir: Option<TempDir>,
        extra: &[(&str, &str)],
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("GATEHOUSE_DATABASE_URL".into(), database_url.clone());
        env.insert("GATEHOUSE_LISTEN".into(), addr.to_string());
        env.insert("GATEHOUSE_BASE_URL".into(), format!("http://{addr}"));
        env.insert(
            "GATEHOUSE_SESSION_SECRET".into(),
            "test-secret-0123456789abcdefghijklmnopqrstuvwxyz".into(),
        );
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_parts(None, &env).expect("test config");
        let pg_schema = opts.pg_schema.clone();
        let app = App::build_with(config.clone(), opts).await.expect("app builds");
        let db = app.db().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await;
        });
        TestApp {
            addr,
            db,
            config,
            database_url,
            pg_schema,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Graceful stop, awaited (the server finishes in-flight requests).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub async fn org(&self, slug: &str) -> Organization {
        self.db
            .create_org(slug, &format!("{slug} Inc."), gatehouse::clock::now())
            .await
            .expect("create org")
    }

    /// A local, active user with a password (hashing at test cost).
    /// The organization's newest login event.
    pub async fn last_event(&self, org: &Organization) -> gatehouse::model::LoginEvent {
        self.db
            .list_events(
                org.id,
                &gatehouse::store::events::EventQuery {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("events")
            .remove(0)
    }

    /// How many users the organization has.
    pub async fn user_count(&self, org: &Organization) -> i64 {
        self.db
            .list_users(
                org.id,
                &gatehouse::store::users::UserQuery {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("users")
            .total
    }

    pub async fn user(&self, org: &Organization, username: &str, role: i32, password: Option<&str>) -> User {
        let new = NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            first_name: Some("Test".into()),
            last_name: Some(username.into()),
            display_name: None,
            external_id: None,
            job_title: None,
            language: Default::default(),
            role,
            staff_group: None,
            locations: vec![],
            status: UserStatus::Active,
            source: Source::Local,
            directory_object_id: None,
            password_hash: password.map(|p| gatehouse::password::hash(p).expect("hash")),
        };
        self.db
            .create_user(org.id, &new, gatehouse::clock::now())
            .await
            .expect("create user")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A browser: keeps cookies, never follows redirects (tests assert them).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The session's CSRF token, as every page carries it in a meta tag.
pub fn csrf_from(html: &str) -> String {
    let marker = "<meta name=\"csrf-token\" content=\"";
    let start = html
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page has a csrf token");
    let end = html[start..].find('"').expect("token ends") + start;
    html[start..end].to_string()
}

pub struct LoginResult {
    pub status: reqwest::StatusCode,
    pub location: Option<String>,
    pub body: String,
}

/// Loads the login page (for its CSRF token) and submits the form.
pub async fn password_login(
    app: &TestApp,
    client: &reqwest::Client,
    slug: &str,
    login: &str,
    password: &str,
) -> LoginResult {
    let page = client
        .get(app.url(&format!("/o/{slug}/login")))
        .send()
        .await
        .expect("login page");
    let html = page.text().await.expect("html");
    let token = csrf_from(&html);
    let resp = client
        .post(app.url(&format!("/o/{slug}/login")))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", login),
            ("password", password),
        ])
        .send()
        .await
        .expect("login post");
    let status = resp.status();
    let location = location(&resp);
    LoginResult {
        status,
        location,
        body: resp.text().await.unwrap_or_default(),
    }
}

/// The CSRF token of a signed-in session (from the home page).
pub async fn session_csrf(app: &TestApp, client: &reqwest::Client, slug: &str) -> String {
    let html = client
        .get(app.url(&format!("/o/{slug}/")))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    csrf_from(&html)
}

/// Runs the real `gatehouse` binary against this test's database.
pub fn cli(app: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env_remove("GATEHOUSE_CONFIG")
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .env("GATEHOUSE_BASE_URL", format!("http://{}", app.addr))
        .env("GATEHOUSE_LOG_LEVEL", "warn")
        // The CLI shares the server's configuration, secrets included.
        .env(
            "GATEHOUSE_SESSION_SECRET",
            app.config.session_secret.clone().unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatehouse");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("gatehouse finished")
}

/// A hidden form field's value from a rendered page (HTML entities undone).
pub fn form_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#x2f;", "/"),
    )
}

/// A user row with only what a test names: local, active, role 10.
pub fn new_user(username: &str, email: &str) -> NewUser {
    NewUser {
        username: username.into(),
        email: email.into(),
        first_name: None,
        last_name: None,
        display_name: None,
        external_id: None,
        job_title: None,
        language: Default::default(),
        role: 10,
        staff_group: None,
        locations: vec![],
        status: UserStatus::Active,
        source: Source::Local,
        directory_object_id: None,
        password_hash: None,
    }
}

/// Dana Scully, agent, as directory sync would have created her: the
/// directory owns her name, email and job title (SPEC §3).
pub fn directory_user(username: &str, email: &str, object_id: &str) -> NewUser {
    NewUser {
        first_name: Some("Dana".into()),
        last_name: Some("Scully".into()),
        job_title: Some("Agent".into()),
        source: Source::Directory,
        directory_object_id: Some(object_id.into()),
        ..new_user(username, email)
    }
}

/// A response's Location header, if any.
pub fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// GETs a page and returns its body, whatever the status.
pub async fn page_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.expect("page").text().await.expect("html")
}

/// Signs the browser's session out (the page's form, with its CSRF token);
/// returns where the server sends the browser next.
pub async fn sign_out(app: &TestApp, client: &reqwest::Client, slug: &str) -> String {
    let token = session_csrf(app, client, slug).await;
    let out = client
        .post(app.url(&format!("/o/{slug}/logout")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), reqwest::StatusCode::SEE_OTHER);
    location(&out).expect("location")
}
