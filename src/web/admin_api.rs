//! Admin JSON API under `/api/v1/orgs/{org}/…` (SPEC §5): for administrators
//! (role ≥ 40) by session, or by an org API key of scope `admin`.
//!
//! Authorization is a type: handlers take an `Admin`, which can only be
//! built by `Admin::from_request_parts` after the checks pass (lldap's
//! "permission as a type").

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

use super::error::Error;
use super::session;
use crate::app::AppState;
use crate::model::{Organization, Outcome, SettingsPatch, UserStatus};
use crate::settings;
use crate::store::catalog::Directory;
use crate::store::events::EventQuery;
use crate::store::users::UserQuery;
use crate::user_input::{self, NewUserRequest, UserPatch};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orgs/{org}/settings", get(get_settings).patch(patch_settings))
        .route("/api/v1/orgs/{org}/roles", get(list_roles))
        .route("/api/v1/orgs/{org}/role-mappings", get(list_role_mappings))
        .route(
            "/api/v1/orgs/{org}/role-mappings/{external_role}",
            put(set_role_mapping).delete(remove_role_mapping),
        )
        .route("/api/v1/orgs/{org}/locations", get(list_locations).post(add_location))
        .route(
            "/api/v1/orgs/{org}/locations/{external_id}",
            axum::routing::delete(remove_location),
        )
        .route("/api/v1/orgs/{org}/staff-groups", get(list_groups).post(add_group))
        .route(
            "/api/v1/orgs/{org}/staff-groups/{external_id}",
            axum::routing::delete(remove_group),
        )
        .route("/api/v1/orgs/{org}/users", get(list_users).post(create_user))
        .route("/api/v1/orgs/{org}/users/{id}", get(get_user).patch(patch_user))
        .route("/api/v1/orgs/{org}/users/{id}/archive", post(archive_user))
        .route("/api/v1/orgs/{org}/login-events", get(list_events))
        .route("/api/v1/orgs/{org}/login-events/{id}", get(get_event))
        .route("/api/v1/orgs/{org}/connections", get(list_connections))
        .route("/api/v1/orgs/{org}/connections/saml", post(create_saml_connection))
        .route("/api/v1/orgs/{org}/connections/oidc", post(create_oidc_connection))
        .route(
            "/api/v1/orgs/{org}/connections/{id}",
            get(get_connection).patch(patch_connection),
        )
}

/// Who is acting, for logs.
#[derive(Clone, Debug)]
pub enum Actor {
    User(Uuid),
    ApiKey(Uuid),
}

/// Proof that the request may administer `org`.
pub struct Admin {
    pub org: Organization,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, Error> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        let slug = params
            .iter()
            .find(|(k, _)| *k == "org")
            .map(|(_, v)| v.to_string())
            .ok_or(Error::NotFound)?;
        let now = crate::clock::now();

        if let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or(Error::Unauthorized)?;
            let key = state
                .db
                .authenticate_api_key(token.trim(), now)
                .await?
                .ok_or(Error::Unauthorized)?;
            // Looked up after the key, so an unauthenticated caller cannot
            // probe which organizations exist.
            let org = state.db.org_by_slug(&slug).await.map_err(|_| forbidden_org())?;
            if key.org_id != org.id {
                return Err(forbidden_org());
            }
            if key.scope != crate::model::ApiKeyScope::Admin {
                return Err(Error::Forbidden(
                    "this API key has the scim scope; the admin API needs an admin key".into(),
                ));
            }
            return Ok(Admin {
                org,
                actor: Actor::ApiKey(key.id),
            });
        }

        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| Error::internal(msg))?;
        let who = session::signed_in(&session).await?.ok_or(Error::Unauthorized)?;
        let org = state.db.org_by_slug(&slug).await.map_err(|_| forbidden_org())?;
        if who.org_id != org.id {
            return Err(forbidden_org());
        }
        let user = state
            .db
            .user(org.id, who.user_id)
            .await
            .map_err(|_| Error::Unauthorized)?;
        if !user.is_admin() {
            return Err(Error::Forbidden("administrators only (role 40 or above)".into()));
        }
        // Session-authenticated writes must echo the CSRF token in a header:
        // a cross-site page can send the cookie but cannot read the token.
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let presented = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
            session::verify_csrf(&session, presented).await?;
        }
        Ok(Admin {
            org,
            actor: Actor::User(user.id),
        })
    }
}

fn forbidden_org() -> Error {
    Error::Forbidden("you are not an administrator of this organization".into())
}

/// A JSON body parsed strictly: syntax errors are 400; a wrong type, an
/// unknown field or a bad value is 422 naming the field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Error> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(Error::BadRequest("expected Content-Type: application/json".into()));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(Error::invalid("body", "must be a JSON object"));
        }
        parse_body(value).map(JsonBody)
    }
}

/// A JSON value into `T`, naming the offending field in the 422.
fn parse_body<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names unknown fields in the message, not the path.
        let field = match inner.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            Some(f) => f.to_string(),
            None if path == "." => "body".to_string(),
            None => path,
        };
        Error::invalid(field, inner)
    })
}

type ApiResult = Result<Response, Error>;

fn ok<T: serde::Serialize>(value: T) -> ApiResult {
    Ok(Json(value).into_response())
}

async fn get_settings(admin: Admin) -> ApiResult {
    ok(admin.org.settings)
}

async fn patch_settings(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> ApiResult {
    let catalog = state.db.role_codes(admin.org.id).await?;
    let next = settings::validate(&patch, &admin.org.settings, &catalog).map_err(|(f, r)| Error::invalid(f, r))?;
    state
        .db
        .update_settings(admin.org.id, &next, crate::clock::now())
        .await?;
    tracing::info!(org = %admin.org.slug, actor = ?admin.actor, "settings changed");
    ok(next)
}

async fn list_roles(State(state): State<AppState>, admin: Admin) -> ApiResult {
    ok(state.db.roles(admin.org.id).await?)
}

async fn list_role_mappings(State(state): State<AppState>, admin: Admin) -> ApiResult {
    ok(state.db.role_mappings(admin.org.id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleMappingBody {
    role_code: i32,
}

async fn set_role_mapping(
    State(state): State<AppState>,
    admin: Admin,
    Path((_, external_role)): Path<(String, String)>,
    JsonBody(body): JsonBody<RoleMappingBody>,
) -> ApiResult {
    settings::check_external_role(&external_role).map_err(|r| Error::invalid("external_role", r))?;
    let catalog = state.db.role_codes(admin.org.id).await?;
    if !catalog.contains(&body.role_code) {
        return Err(Error::invalid(
            "role_code",
            format!("{} is not in the role catalog", body.role_code),
        ));
    }
    state
        .db
        .set_role_mapping(admin.org.id, &external_role, body.role_code)
        .await?;
    ok(json!({ "external_role": external_role, "role_code": body.role_code }))
}

async fn remove_role_mapping(
    State(state): State<AppState>,
    admin: Admin,
    Path((_, external_role)): Path<(String, String)>,
) -> ApiResult {
    state.db.remove_role_mapping(admin.org.id, &external_role).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryEntryBody {
    external_id: String,
    name: String,
}

async fn list_entries(state: &AppState, admin: &Admin, dir: Directory) -> ApiResult {
    ok(state.db.directory_entries(admin.org.id, dir).await?)
}

async fn add_entry(state: &AppState, admin: &Admin, dir: Directory, body: DirectoryEntryBody) -> ApiResult {
    let external_id =
        settings::check_catalog_text("external_id", &body.external_id).map_err(|(f, r)| Error::invalid(f, r))?;
    let name = settings::check_catalog_text("name", &body.name).map_err(|(f, r)| Error::invalid(f, r))?;
    let entry = state
        .db
        .add_directory_entry(admin.org.id, dir, &external_id, &name, crate::clock::now())
        .await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

async fn list_locations(State(state): State<AppState>, admin: Admin) -> ApiResult {
    list_entries(&state, &admin, Directory::Locations).await
}
async fn add_location(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<DirectoryEntryBody>,
) -> ApiResult {
    add_entry(&state, &admin, Directory::Locations, body).await
}
async fn remove_location(
    State(state): State<AppState>,
    admin: Admin,
    Path((_, ext)): Path<(String, String)>,
) -> ApiResult {
    state
        .db
        .remove_directory_entry(admin.org.id, Directory::Locations, &ext)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
async fn list_groups(State(state): State<AppState>, admin: Admin) -> ApiResult {
    list_entries(&state, &admin, Directory::StaffGroups).await
}
async fn add_group(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<DirectoryEntryBody>,
) -> ApiResult {
    add_entry(&state, &admin, Directory::StaffGroups, body).await
}
async fn remove_group(
    State(state): State<AppState>,
    admin: Admin,
    Path((_, ext)): Path<(String, String)>,
) -> ApiResult {
    state
        .db
        .remove_directory_entry(admin.org.id, Directory::StaffGroups, &ext)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct UsersParams {
    search: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn paging(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), Error> {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 1 and 500"));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(Error::invalid("offset", "must not be negative"));
    }
    Ok((limit, offset))
}

async fn list_users(State(state): State<AppState>, admin: Admin, Query(p): Query<UsersParams>) -> ApiResult {
    let (limit, offset) = paging(p.limit, p.offset)?;
    let status = match p.status.as_deref() {
        None | Some("") => None,
        Some(s) => {
            Some(UserStatus::parse(s).ok_or_else(|| Error::invalid("status", "must be active, archived or pending"))?)
        }
    };
    let q = UserQuery {
        search: p.search,
        status,
        limit,
        offset,
    };
    ok(state.db.list_users(admin.org.id, &q).await?)
}

async fn create_user(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(req): JsonBody<NewUserRequest>,
) -> ApiResult {
    let lists = state.db.org_catalogs(admin.org.id).await?;
    // Hashing a password is deliberately slow: keep it off the async workers.
    let new_user = tokio::task::spawn_blocking(move || user_input::parse_new_user(req, &lists))
        .await
        .map_err(Error::internal)??;
    let user = state
        .db
        .create_user(admin.org.id, &new_user, crate::clock::now())
        .await?;
    tracing::info!(org = %admin.org.slug, actor = ?admin.actor, user = %user.id, "user created");
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

fn parse_id(raw: &str, field: &str) -> Result<Uuid, Error> {
    Uuid::try_parse(raw).map_err(|_| Error::invalid(field.to_string(), "must be a UUID"))
}

async fn get_user(State(state): State<AppState>, admin: Admin, Path((_, id)): Path<(String, String)>) -> ApiResult {
    ok(state.db.user(admin.org.id, parse_id(&id, "id")?).await?)
}

async fn patch_user(
    State(state): State<AppState>,
    admin: Admin,
    Path((_, id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<UserPatch>,
) -> ApiResult {
    let user = state.db.user(admin.org.id, parse_id(&id, "id")?).await?;
    let lists = state.db.org_catalogs(admin.org.id).await?;
    let next = user_input::apply_patch(&user, patch, &lists)?;
    let saved = state.db.save_user(&next, crate::clock::now()).await?;
    tracing::info!(org = %admin.org.slug, actor = ?admin.actor, user = %saved.id, "user changed");
    ok(saved)
}

async fn archive_user(State(state): State<AppState>, admin: Admin, Path((_, id)): Path<(String, String)>) -> ApiResult {
    let user = state.db.user(admin.org.id, parse_id(&id, "id")?).await?;
    let lists = state.db.org_catalogs(admin.org.id).await?;
    let archive = UserPatch {
        status: Some(UserStatus::Archived.as_str().to_string()),
        ..Default::default()
    };
    let next = user_input::apply_patch(&user, archive, &lists)?;
    ok(state.db.save_user(&next, crate::clock::now()).await?)
}

#[derive(Deserialize)]
struct EventsParams {
    user: Option<String>,
    outcome: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn parse_time(raw: &str, field: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| Error::invalid(field.to_string(), "must be an RFC 3339 time like 2026-01-31T09:00:00Z"))
}

async fn list_events(State(state): State<AppState>, admin: Admin, Query(p): Query<EventsParams>) -> ApiResult {
    let (limit, offset) = paging(p.limit, p.offset)?;
    let user_id = match p.user.as_deref().filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => match Uuid::try_parse(u) {
            Ok(id) => Some(id),
            // Accept a username too: that is how an admin asks about Alice.
            Err(_) => match state.db.user_by_username(admin.org.id, u).await? {
                Some(user) => Some(user.id),
                None => return ok(Vec::<()>::new()),
            },
        },
    };
    let q = EventQuery {
        user_id,
        outcome: match p.outcome.as_deref().filter(|o| !o.is_empty()) {
            None => None,
            Some(o) => Some(Outcome::parse(o).ok_or_else(|| Error::invalid("outcome", "must be success or failure"))?),
        },
        reason: p.reason.filter(|r| !r.is_empty()),
        since: p.since.as_deref().map(|t| parse_time(t, "since")).transpose()?,
        until: p.until.as_deref().map(|t| parse_time(t, "until")).transpose()?,
        limit,
        offset,
    };
    ok(state.db.list_events(admin.org.id, &q).await?)
}

async fn get_event(State(state): State<AppState>, admin: Admin, Path((_, id)): Path<(String, String)>) -> ApiResult {
    ok(state.db.event(admin.org.id, parse_id(&id, "id")?).await?)
}

async fn list_connections(State(state): State<AppState>, admin: Admin) -> ApiResult {
    ok(state.db.connections(admin.org.id).await?)
}

impl From<crate::connection_setup::SetupError> for Error {
    fn from(e: crate::connection_setup::SetupError) -> Error {
        use crate::connection_setup::SetupError;
        match e {
            SetupError::Invalid(c) => Error::invalid(c.field, c.reason),
            SetupError::Store(crate::store::Error::Conflict(_)) => {
                Error::conflict("name", "this organization already has a connection with this name")
            }
            SetupError::Store(s) => s.into(),
            SetupError::Sealing(s) => Error::Conflict {
                field: "secrets_key".into(),
                reason: s.to_string(),
            },
            SetupError::Crypto(c) => Error::internal(c),
        }
    }
}

async fn create_oidc_connection(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(b): JsonBody<crate::oidc::setup::NewOidc>,
) -> ApiResult {
    let summary = crate::oidc::setup::create(&state.db, &state.config, &admin.org, b, crate::clock::now()).await?;
    tracing::info!(org = %admin.org.slug, actor = ?admin.actor, connection = %summary.id, "OIDC connection added");
    Ok((StatusCode::CREATED, Json(summary)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSamlConnection {
    name: String,
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
    entity_id: Option<String>,
    sso_url: Option<String>,
    slo_url: Option<String>,
    #[serde(default)]
    certificates: Vec<String>,
    idp_initiated: Option<bool>,
    relay_state_roles: Option<bool>,
    relay_state_ceiling: Option<i32>,
    allow_sha1: Option<bool>,
    clock_skew_seconds: Option<i64>,
    sign_authn_requests: Option<bool>,
}

async fn create_saml_connection(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(b): JsonBody<NewSamlConnection>,
) -> ApiResult {
    use crate::saml::setup::IdpSource;
    let source = match (b.metadata_xml, b.metadata_url, b.entity_id) {
        (Some(xml), None, None) => IdpSource::MetadataXml(xml),
        (None, Some(url), None) => IdpSource::MetadataUrl(url),
        (None, None, Some(entity_id)) => IdpSource::Fields {
            entity_id,
            sso_url: b.sso_url.unwrap_or_default(),
            slo_url: b.slo_url,
            certificates: b.certificates,
        },
        _ => {
            return Err(Error::invalid(
                "metadata_xml",
                "give exactly one of metadata_xml, metadata_url or entity_id",
            ))
        }
    };
    let d = crate::saml::config::Options::default();
    let options = crate::saml::config::Options {
        idp_initiated: b.idp_initiated.unwrap_or(d.idp_initiated),
        relay_state_roles: b.relay_state_roles.unwrap_or(d.relay_state_roles),
        relay_state_ceiling: b.relay_state_ceiling.unwrap_or(d.relay_state_ceiling),
        allow_sha1: b.allow_sha1.unwrap_or(d.allow_sha1),
        clock_skew_seconds: b.clock_skew_seconds.unwrap_or(d.clock_skew_seconds),
        sign_authn_requests: b.sign_authn_requests.unwrap_or(d.sign_authn_requests),
    };
    let summary = crate::saml::setup::create(
        &state.db,
        &state.config,
        &admin.org,
        &b.name,
        source,
        options,
        crate::clock::now(),
    )
    .await?;
    tracing::info!(org = %admin.org.slug, actor = ?admin.actor, connection = %summary.id, "SAML connection added");
    Ok((StatusCode::CREATED, Json(summary)).into_response())
}

async fn get_connection(
    State(state): State<AppState>,
    admin: Admin,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    let id = parse_id(&id, "id")?;
    let record = state.db.connection(id).await?;
    if record.org_id != admin.org.id {
        return Err(Error::NotFound);
    }
    if let Some(oidc) = crate::oidc::setup::parse(&record) {
        return ok(crate::oidc::setup::summary(
            &state.config,
            &admin.org,
            id,
            &record.name,
            record.enabled,
            &oidc,
        ));
    }
    match serde_json::from_value::<crate::saml::config::SamlConfig>(record.config.clone()) {
        Ok(saml) if record.kind == "saml" => ok(crate::saml::setup::summary(
            &state.config,
            &admin.org,
            id,
            &record.name,
            &saml,
        )),
        _ => ok(json!({ "id": record.id, "kind": record.kind, "name": record.name, "enabled": record.enabled })),
    }
}

/// The body's shape depends on the connection's protocol, so it is parsed
/// after the connection is found (unknown fields refused either way).
async fn patch_connection(
    State(state): State<AppState>,
    admin: Admin,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> ApiResult {
    let id = parse_id(&id, "id")?;
    let record = state.db.connection(id).await?;
    if record.org_id != admin.org.id {
        return Err(Error::NotFound);
    }
    let now = crate::clock::now();
    let summary = if record.kind == crate::oidc::setup::KIND {
        let patch: crate::oidc::setup::OidcPatch = parse_body(body)?;
        json!(crate::oidc::setup::update(&state.db, &state.config, &admin.org, id, patch, now).await?)
    } else {
        let patch: crate::saml::setup::SamlPatch = parse_body(body)?;
        json!(crate::saml::setup::update(&state.db, &state.config, &admin.org, id, patch, now).await?)
    };
    tracing::info!(org = %admin.org.slug, actor = ?admin.actor, connection = %id, kind = %record.kind, "connection changed");
    ok(summary)
}
