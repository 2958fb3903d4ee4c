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
    let idp = start_idp(&app, &config).await?;
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
    println!(
        "  SSO (test-idp standing in for Entra ID): on the sign-in page, click \"test-idp (SAML)\" or \"test-idp (OpenID Connect)\""
    );
    for u in idp.idp.users() {
        println!("      test-idp user: {} / {}", u.username, u.password);
    }
    println!("  IdP-initiated with a RelayState role (Staff Advanced):");
    println!("      {}", idp.idp_initiated_url);
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

struct DemoIdp {
    idp: test_idp::SamlIdp,
    idp_initiated_url: String,
}

/// test-idp on its own loopback port, and a SAML connection to it with
/// IdP-initiated sign-in and RelayState roles (ceiling 20) turned on.
async fn start_idp(app: &App, config: &Config) -> Result<DemoIdp, CommandError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(err)?;
    let base = format!("http://{}", listener.local_addr().map_err(err)?);
    let users: Vec<test_idp::User> = serde_json::from_str(include_str!("../test-idp/users.json")).map_err(err)?;
    let idp = test_idp::SamlIdp::new(
        &test_idp::SamlIdp::entra_entity_id(test_idp::DEMO_TENANT),
        &base,
        users.clone(),
    );
    let oidc = test_idp::OidcProvider::new(test_idp::DEMO_TENANT, &base, users);
    let router = idp.router().merge(oidc.router());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let db = app.db();
    let org = db.org_by_slug(DEMO_SLUG).await.map_err(err)?;
    db.set_role_mapping(org.id, "Gatehouse.Advanced", 20)
        .await
        .map_err(err)?;
    let source = crate::saml::setup::IdpSource::Fields {
        entity_id: idp.entity_id().to_string(),
        sso_url: idp.sso_url(),
        slo_url: Some(idp.slo_url()),
        certificates: vec![idp.signing_cert_pem()],
    };
    let options = crate::saml::config::Options {
        idp_initiated: true,
        relay_state_roles: true,
        ..Default::default()
    };
    let summary = crate::saml::setup::create(
        db,
        config,
        &org,
        "test-idp (SAML)",
        source,
        options,
        crate::clock::now(),
    )
    .await
    .map_err(err)?;
    let loaded = crate::saml::setup::load(db, config, summary.id).await.map_err(err)?;
    idp.register_sp(test_idp::saml::SpRegistration {
        entity_id: summary.sp_entity_id.clone(),
        acs_url: summary.acs_url.clone(),
        slo_url: None,
        encryption_cert_pem: Some(loaded.config.sp_certificate),
    });
    let idp_initiated_url = format!(
        "{}/saml/idp-initiated?sp={}&relay_state=Gatehouse.Advanced",
        idp.base_url(),
        url::form_urlencoded::byte_serialize(summary.sp_entity_id.as_bytes()).collect::<String>()
    );
    add_oidc_connection(app, config, &org, &oidc).await?;
    Ok(DemoIdp { idp, idp_initiated_url })
}

/// An OIDC connection to test-idp's provider, Entra-shaped (identity linked
/// by `tid` + `oid`), with a client registered for our redirect URI that
/// authenticates with the connection's certificate (`private_key_jwt`).
async fn add_oidc_connection(
    app: &App,
    config: &Config,
    org: &crate::model::Organization,
    oidc: &test_idp::OidcProvider,
) -> Result<(), CommandError> {
    let client_id = uuid::Uuid::new_v4().to_string();
    let new = crate::oidc::setup::NewOidc {
        name: "test-idp (OpenID Connect)".into(),
        issuer: oidc.issuer(),
        client_id: client_id.clone(),
        client_secret: None,
        scopes: None,
        // A certificate credential, as Microsoft recommends over secrets.
        client_auth: Some("private_key_jwt".into()),
        profile: Some(crate::oidc::config::Profile::Entra),
        userinfo: Some(false),
        verified_domains: Vec::new(),
        trusted_audiences: Vec::new(),
        clock_skew_seconds: None,
        attribute_overrides: [("roles".to_string(), "externalRoleId".to_string())].into(),
    };
    let summary = crate::oidc::setup::create(app.db(), config, org, new, crate::clock::now())
        .await
        .map_err(err)?;
    oidc.register_client(test_idp::oidc::Client {
        client_id,
        client_secret: String::new(),
        redirect_uris: vec![summary.redirect_uri],
        certificate_pem: summary.client_certificate,
    });
    Ok(())
}
