//! `gatehouse demo`: the README's first command. A fresh SQLite file, a
//! seeded organization with an administrator and a staff member, the URLs
//! and credentials printed, served until Ctrl-C.

use std::net::SocketAddr;

use crate::commands::CommandError;
use crate::config::Config;
use crate::model::{SettingsPatch, UserStatus};
use crate::store::catalog::Directory;
use crate::store::users::NewUser;
use crate::App;

pub const DEMO_SLUG: &str = "demo";

fn err(e: impl std::fmt::Display) -> CommandError {
    CommandError(e.to_string())
}

pub async fn run(mut config: Config, listen: Option<SocketAddr>) -> Result<(), CommandError> {
    let addr = listen.unwrap_or(config.listen);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CommandError(format!(
            "cannot listen on {addr}: {e} (try: gatehouse demo --listen 127.0.0.1:0)"
        ))
    })?;
    let bound = listener.local_addr().map_err(err)?;
    config.listen = bound;
    // The demo always runs on its own fresh file and on the address it got.
    config.base_url = url::Url::parse(&format!("http://{bound}")).map_err(err)?;
    let dir = std::env::temp_dir().join(format!("gatehouse-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(err)?;
    config.database_url = format!("sqlite://{}", dir.join("demo.db").display());
    if config.session_secret.is_none() {
        config.session_secret = Some(crate::secrets::random_token(48));
    }

    let app = App::build(config.clone()).await.map_err(err)?;
    let passwords = seed(&app).await?;
    let login = config.url(&format!("/o/{DEMO_SLUG}/login"));
    println!("Gatehouse demo is running.");
    println!();
    println!("  sign-in page:   {login}");
    println!("  admin console:  {}", config.url(&format!("/o/{DEMO_SLUG}/admin")));
    println!(
        "  admin API:      {}",
        config.url(&format!("/api/v1/orgs/{DEMO_SLUG}/settings"))
    );
    println!("  metrics:        {}", config.url("/metrics"));
    println!();
    println!("  administrator:  admin / {}", passwords.0);
    println!("  staff member:   alice / {}", passwords.1);
    println!();
    println!("  database:       {}", config.database_url);
    println!("Press Ctrl-C to stop.");
    app.serve(listener, crate::app::shutdown_signal()).await.map_err(err)
}

/// Seeds the demo organization; returns the two generated passwords.
pub async fn seed(app: &App) -> Result<(String, String), CommandError> {
    let db = app.db();
    let now = crate::clock::now();
    let org = db.create_org(DEMO_SLUG, "Demo Organization", now).await.map_err(err)?;
    db.update_settings(
        org.id,
        &SettingsPatch {
            jit_creation: Some(true),
            ..Default::default()
        }
        .apply(&org.settings),
        now,
    )
    .await
    .map_err(err)?;
    for (ext, name) in [("LOC-PARIS", "Paris"), ("LOC-MTL", "Montréal")] {
        db.add_directory_entry(org.id, Directory::Locations, ext, name, now)
            .await
            .map_err(err)?;
    }
    db.add_directory_entry(org.id, Directory::StaffGroups, "GRP-NURSES", "Nurses", now)
        .await
        .map_err(err)?;
    db.set_role_mapping(org.id, "Gatehouse.Admins", 40).await.map_err(err)?;
    db.set_role_mapping(org.id, "Gatehouse.Managers", 30)
        .await
        .map_err(err)?;
    let admin_pw = crate::secrets::random_token(12);
    let alice_pw = crate::secrets::random_token(12);
    for (username, email, first, last, role, pw) in [
        ("admin", "admin@demo.example", "Ada", "Admin", 40, &admin_pw),
        ("alice", "alice@demo.example", "Alice", "Martin", 10, &alice_pw),
    ] {
        let hash = crate::password::hash(pw).map_err(err)?;
        let user = NewUser {
            username: username.into(),
            email: email.into(),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            display_name: None,
            external_id: None,
            job_title: None,
            language: Default::default(),
            role,
            staff_group: None,
            locations: Vec::new(),
            status: UserStatus::Active,
            source: crate::model::Source::Local,
            directory_object_id: None,
            password_hash: Some(hash),
        };
        db.create_user(org.id, &user, now).await.map_err(err)?;
    }
    Ok((admin_pw, alice_pw))
}
