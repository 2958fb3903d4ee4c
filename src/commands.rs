//! The admin tasks behind the CLI (SPEC §11). Each returns a `Report`: what
//! it created, printed as text or JSON by `main.rs`. Bad input is refused
//! with a one-line reason before anything is written.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::Config;
use crate::model::{ApiKeyScope, Organization, Outcome, SettingsPatch, UserStatus};
use crate::store::catalog::Directory;
use crate::store::events::EventQuery;
use crate::store::users::UserQuery;
use crate::store::{self, Db};
use crate::user_input::{self, NewUserRequest};

/// A command's result: lines for a person, a value for `--json`.
pub struct Report {
    pub text: Vec<String>,
    pub json: Value,
}

/// A one-line reason, printed to stderr with a non-zero exit.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

impl From<store::Error> for CommandError {
    fn from(e: store::Error) -> Self {
        CommandError(match e {
            store::Error::NotFound => "not found".to_string(),
            store::Error::Conflict(field) => format!("{field} already in use"),
            other => other.to_string(),
        })
    }
}

impl From<user_input::FieldError> for CommandError {
    fn from(e: user_input::FieldError) -> Self {
        match e {
            user_input::FieldError::Invalid { field, reason } | user_input::FieldError::Locked { field, reason } => {
                CommandError(format!("{field}: {reason}"))
            }
        }
    }
}

type Result<T> = std::result::Result<T, CommandError>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(CommandError(msg.into()))
}

pub async fn find_org(db: &Db, slug: &str) -> Result<Organization> {
    match db.org_by_slug(slug).await {
        Ok(org) => Ok(org),
        Err(store::Error::NotFound) => fail(format!("no organization with slug {slug:?}")),
        Err(e) => Err(e.into()),
    }
}

pub fn org_urls(config: &Config, org: &Organization) -> (String, String) {
    (
        config.url(&format!("/o/{}/login", org.slug)),
        config.url(&format!("/o/{}/admin", org.slug)),
    )
}

pub async fn org_create(db: &Db, config: &Config, slug: &str, name: &str) -> Result<Report> {
    if !crate::store::orgs::valid_slug(slug) {
        return fail("slug: use 2-63 lowercase letters, digits and single hyphens (it appears in URLs)");
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return fail("name: must be 1 to 200 characters");
    }
    let org = match db.create_org(slug, name, crate::clock::now()).await {
        Err(store::Error::Conflict(_)) => return fail(format!("an organization with slug {slug:?} already exists")),
        other => other?,
    };
    let (login, console) = org_urls(config, &org);
    Ok(Report {
        text: vec![
            format!("organization id: {}", org.id),
            format!("sign-in page:    {login}"),
            format!("admin console:   {console}"),
        ],
        json: json!({ "id": org.id, "slug": org.slug, "name": org.name, "sign_in_url": login, "admin_console_url": console }),
    })
}

pub async fn org_settings(db: &Db, slug: &str, patch: SettingsPatch) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let catalog = db.role_codes(org.id).await?;
    let next = crate::settings::validate(&patch, &org.settings, &catalog)
        .map_err(|(field, reason)| CommandError(format!("{field}: {reason}")))?;
    db.update_settings(org.id, &next, crate::clock::now()).await?;
    let onoff = |b: bool| if b { "on" } else { "off" };
    Ok(Report {
        text: vec![
            format!("jit creation:            {}", onoff(next.jit_creation)),
            format!("hide password login:     {}", onoff(next.hide_password_login)),
            format!("default sso role:        {}", next.default_sso_role),
            format!("profile sync:            {}", next.profile_sync.as_str()),
            format!("ms id as external id:    {}", onoff(next.ms_id_as_external_id)),
        ],
        json: serde_json::to_value(&next).unwrap_or(Value::Null),
    })
}

pub async fn user_create(db: &Db, slug: &str, req: NewUserRequest) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let lists = db.org_catalogs(org.id).await?;
    let new_user = user_input::parse_new_user(req, &lists)?;
    let user = match db.create_user(org.id, &new_user, crate::clock::now()).await {
        Err(store::Error::Conflict(field)) => {
            return fail(format!(
                "{field}: another user in {slug} already has this {field} (compared ignoring case)"
            ))
        }
        other => other?,
    };
    Ok(Report {
        text: vec![
            format!("user id:  {}", user.id),
            format!("username: {}", user.username),
            format!("email:    {}", user.email),
            format!("role:     {}", user.role),
            format!(
                "password: {}",
                if user.password_hash.is_some() {
                    "set"
                } else {
                    "none (SSO or recovery link only)"
                }
            ),
        ],
        json: serde_json::to_value(&user).unwrap_or(Value::Null),
    })
}

pub async fn users(db: &Db, slug: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let page = db
            .list_users(
                org.id,
                &UserQuery {
                    limit: 500,
                    offset,
                    ..Default::default()
                },
            )
            .await?;
        let n = page.users.len() as i64;
        all.extend(page.users);
        if n < 500 {
            break;
        }
        offset += n;
    }
    let text = all
        .iter()
        .map(|u| {
            format!(
                "{}  {}  {}  role={}  {}  {}",
                u.id,
                u.username,
                u.email,
                u.role,
                u.status.as_str(),
                u.source.as_str()
            )
        })
        .collect();
    Ok(Report {
        text,
        json: serde_json::to_value(&all).unwrap_or(Value::Null),
    })
}

pub async fn events(db: &Db, slug: &str, user: Option<&str>, outcome: Option<&str>, limit: i64) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let user_id = match user {
        None => None,
        Some(u) => match db.user_by_username(org.id, u).await? {
            Some(found) => Some(found.id),
            None => return fail(format!("no user {u:?} in {slug}")),
        },
    };
    let outcome = match outcome {
        None => None,
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| CommandError("outcome: must be success or failure".into()))?),
    };
    let list = db
        .list_events(
            org.id,
            &EventQuery {
                user_id,
                outcome,
                limit,
                ..Default::default()
            },
        )
        .await?;
    let text = list
        .iter()
        .map(|e| {
            format!(
                "{}  {}  {}  {}  {}",
                e.created_at.to_rfc3339(),
                e.method,
                e.outcome,
                e.reason,
                e.subject.as_deref().or(e.attempted_login.as_deref()).unwrap_or("-")
            )
        })
        .collect();
    Ok(Report {
        text,
        json: serde_json::to_value(&list).unwrap_or(Value::Null),
    })
}

pub async fn api_key_create(db: &Db, slug: &str, scope: &str, name: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let scope = ApiKeyScope::parse(scope).ok_or_else(|| CommandError("scope: must be admin or scim".into()))?;
    let (key, token) = db.create_api_key(org.id, scope, name, crate::clock::now()).await?;
    Ok(Report {
        text: vec![
            format!("api key id: {}", key.id),
            format!("scope:      {}", scope.as_str()),
            format!("secret:     {token}"),
            "The secret is shown once; store it now.".to_string(),
        ],
        json: json!({ "id": key.id, "scope": scope.as_str(), "secret": token }),
    })
}

pub async fn api_key_revoke(db: &Db, slug: &str, id: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let id = Uuid::try_parse(id).map_err(|_| CommandError("id: must be a key id (UUID)".into()))?;
    match db.revoke_api_key(org.id, id, crate::clock::now()).await {
        Err(store::Error::NotFound) => return fail(format!("no live API key {id} in {slug}")),
        other => other?,
    }
    Ok(Report {
        text: vec![format!("revoked api key {id}")],
        json: json!({ "id": id, "revoked": true }),
    })
}

pub async fn recovery_link(db: &Db, config: &Config, slug: &str, username: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let Some(user) = db.user_by_username(org.id, username).await? else {
        return fail(format!("no user {username:?} in {slug}"));
    };
    if user.status == UserStatus::Archived {
        return fail(format!("user {username:?} is archived; reactivate them first"));
    }
    let now = crate::clock::now();
    let token = db.create_recovery_token(org.id, user.id, now).await?;
    let url = config.url(&format!("/o/{}/recover/{token}", org.slug));
    let expires = now + chrono::Duration::minutes(crate::store::recovery::RECOVERY_TTL_MINUTES);
    tracing::info!(org = %org.slug, user = %user.id, "recovery link issued");
    Ok(Report {
        text: vec![url.clone(), format!("works once; expires {}", expires.to_rfc3339())],
        json: json!({ "url": url, "user_id": user.id, "expires_at": expires }),
    })
}

pub async fn role_map_set(db: &Db, slug: &str, external_role: &str, code: i32) -> Result<Report> {
    let org = find_org(db, slug).await?;
    crate::settings::check_external_role(external_role).map_err(|r| CommandError(format!("external role: {r}")))?;
    if !db.roles(org.id).await?.iter().any(|r| r.code == code) {
        return fail(format!("role: {code} is not in the role catalog"));
    }
    db.set_role_mapping(org.id, external_role, code).await?;
    Ok(Report {
        text: vec![format!("{external_role} -> {code}")],
        json: json!({ "external_role": external_role, "role_code": code }),
    })
}

pub async fn role_map_list(db: &Db, slug: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let list = db.role_mappings(org.id).await?;
    Ok(Report {
        text: list
            .iter()
            .map(|m| format!("{} -> {}", m.external_role, m.role_code))
            .collect(),
        json: serde_json::to_value(&list).unwrap_or(Value::Null),
    })
}

pub async fn role_map_remove(db: &Db, slug: &str, external_role: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    match db.remove_role_mapping(org.id, external_role).await {
        Err(store::Error::NotFound) => return fail(format!("no role mapping for {external_role:?}")),
        other => other?,
    }
    Ok(Report {
        text: vec![format!("removed {external_role}")],
        json: json!({ "removed": external_role }),
    })
}

pub async fn directory_add(db: &Db, slug: &str, dir: Directory, external_id: &str, name: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let ext = crate::settings::check_catalog_text("external_id", external_id)
        .map_err(|(f, r)| CommandError(format!("{f}: {r}")))?;
    let name = crate::settings::check_catalog_text("name", name).map_err(|(f, r)| CommandError(format!("{f}: {r}")))?;
    let entry = match db
        .add_directory_entry(org.id, dir, &ext, &name, crate::clock::now())
        .await
    {
        Err(store::Error::Conflict(_)) => return fail(format!("external id {ext:?} already exists in {slug}")),
        other => other?,
    };
    Ok(Report {
        text: vec![format!("{}  {}  {}", entry.id, entry.external_id, entry.name)],
        json: serde_json::to_value(&entry).unwrap_or(Value::Null),
    })
}

/// One line for a connection that could not be added.
fn setup_failure(e: crate::connection_setup::SetupError, slug: &str, name: &str) -> CommandError {
    match e {
        crate::connection_setup::SetupError::Store(store::Error::Conflict(_)) => {
            CommandError(format!("name: {slug} already has a connection called {name:?}"))
        }
        other => CommandError(other.to_string()),
    }
}

pub async fn connection_add_saml(
    db: &Db,
    config: &Config,
    slug: &str,
    name: &str,
    source: crate::saml::setup::IdpSource,
    options: crate::saml::config::Options,
) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let summary = crate::saml::setup::create(db, config, &org, name, source, options, crate::clock::now())
        .await
        .map_err(|e| setup_failure(e, slug, name))?;
    Ok(Report {
        text: vec![
            format!("connection id:         {}", summary.id),
            format!("SP entity id:          {}", summary.sp_entity_id),
            format!("ACS URL:               {}", summary.acs_url),
            format!("SP metadata URL:       {}", summary.metadata_url),
            format!("SP-initiated login:    {}", summary.login_url),
        ],
        json: serde_json::to_value(&summary).unwrap_or(Value::Null),
    })
}

pub async fn connection_add_oidc(
    db: &Db,
    config: &Config,
    slug: &str,
    new: crate::oidc::setup::NewOidc,
) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let name = new.name.clone();
    let summary = crate::oidc::setup::create(db, config, &org, new, crate::clock::now())
        .await
        .map_err(|e| setup_failure(e, slug, &name))?;
    Ok(Report {
        text: vec![
            format!("connection id:         {}", summary.id),
            format!("redirect URI:          {}", summary.redirect_uri),
            format!("sign-out return URI:   {}", summary.post_logout_redirect_uri),
            format!("login URL:             {}", summary.login_url),
            format!("issuer:                {} ({})", summary.issuer, summary.profile),
        ]
        .into_iter()
        .chain(summary.client_certificate_url.as_ref().map(|url| {
            format!(
                "client certificate:    {url} (register it at the provider; SHA-1 thumbprint {})",
                summary.client_certificate_thumbprint.as_deref().unwrap_or("?")
            )
        }))
        .collect(),
        json: serde_json::to_value(&summary).unwrap_or(Value::Null),
    })
}

pub async fn connection_list(db: &Db, config: &Config, slug: &str) -> Result<Report> {
    let org = find_org(db, slug).await?;
    let mut text = Vec::new();
    let mut list = Vec::new();
    for (c, saml) in crate::saml::setup::summaries(db, config, &org).await? {
        match saml {
            Some(s) => {
                let expiry: Vec<String> = s
                    .idp_certificates
                    .iter()
                    .map(|i| i.not_after.date_naive().to_string())
                    .collect();
                text.push(format!(
                    "{}  saml  {}  {}  idp={}  certs expire {}{}",
                    c.id,
                    c.name,
                    if c.enabled { "enabled" } else { "disabled" },
                    s.idp_entity_id,
                    expiry.join(", "),
                    s.idp_metadata_error
                        .as_deref()
                        .map(|e| format!("  metadata error: {e}"))
                        .unwrap_or_default()
                ));
                list.push(serde_json::to_value(&s).unwrap_or(Value::Null));
            }
            None if c.kind == crate::oidc::setup::KIND => {
                let Some(oidc) = crate::oidc::setup::parse(&c) else {
                    continue;
                };
                let s = crate::oidc::setup::summary(config, &org, c.id, &c.name, c.enabled, &oidc);
                text.push(format!(
                    "{}  oidc  {}  {}  issuer={}  client_id={}  redirect_uri={}",
                    c.id,
                    c.name,
                    if c.enabled { "enabled" } else { "disabled" },
                    s.issuer,
                    s.client_id,
                    s.redirect_uri
                ));
                list.push(serde_json::to_value(&s).unwrap_or(Value::Null));
            }
            None => {
                text.push(format!("{}  {}  {}", c.id, c.kind, c.name));
                list.push(serde_json::json!({ "id": c.id, "kind": c.kind, "name": c.name, "enabled": c.enabled }));
            }
        }
    }
    Ok(Report {
        text,
        json: Value::Array(list),
    })
}
