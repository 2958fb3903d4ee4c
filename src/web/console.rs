//! The admin console page: the settings an admin turns on and off (JIT,
//! hide password login, default role, profile sync), the user list and the
//! latest login events. Same rules as the JSON API (`settings::validate`).

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::error::{Error, PageError};
use super::session;
use crate::app::AppState;
use crate::model::{Organization, SettingsPatch, User};
use crate::store::events::EventQuery;
use crate::store::users::UserQuery;

async fn signed_in_admin(
    state: &AppState,
    session: &Session,
    slug: &str,
) -> Result<Result<(Organization, User), Response>, Error> {
    let org = state.db.org_by_slug(slug).await?;
    let login = Redirect::to(&format!("/o/{}/login?return_to=/o/{}/admin", org.slug, org.slug)).into_response();
    let Some(who) = session::signed_in(session).await?.filter(|w| w.org_id == org.id) else {
        return Ok(Err(login));
    };
    let user = match state.db.user(org.id, who.user_id).await {
        Ok(u) => u,
        Err(crate::store::Error::NotFound) => return Ok(Err(login)),
        Err(e) => return Err(e.into()),
    };
    if !user.is_admin() {
        return Err(Error::Forbidden(
            "The admin console is for administrators of this organization.".into(),
        ));
    }
    Ok(Ok((org, user)))
}

#[derive(Deserialize)]
pub struct ConsoleQuery {
    saved: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<ConsoleQuery>,
    session: Session,
) -> Result<Response, PageError> {
    let (org, admin) = match signed_in_admin(&state, &session, &slug).await? {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect),
    };
    Ok(Html(render(&state, &session, &org, &admin, q.saved.is_some(), None).await?).into_response())
}

async fn render(
    state: &AppState,
    session: &Session,
    org: &Organization,
    admin: &User,
    saved: bool,
    error: Option<String>,
) -> Result<String, Error> {
    let users = state
        .db
        .list_users(
            org.id,
            &UserQuery {
                limit: 200,
                ..Default::default()
            },
        )
        .await?;
    let (connections, oidc_connections) = connection_rows(state, org).await?;
    let events = state
        .db
        .list_events(
            org.id,
            &EventQuery {
                limit: 25,
                ..Default::default()
            },
        )
        .await?;
    state
        .templates
        .render(
            "console.html",
            context! {
                org => org,
                admin_username => admin.username,
                home_url => format!("/o/{}/", org.slug),
                settings_action => format!("/o/{}/admin/settings", org.slug),
                csrf_token => session::csrf_token(session).await?,
                roles => state.db.roles(org.id).await?,
                users, events, saved, error, connections, oidc_connections,
            },
        )
        .map_err(Error::internal)
}

#[derive(Deserialize)]
pub struct SettingsForm {
    csrf_token: Option<String>,
    jit_creation: Option<String>,
    hide_password_login: Option<String>,
    ms_id_as_external_id: Option<String>,
    default_sso_role: Option<String>,
    profile_sync: Option<String>,
}

pub async fn save_settings(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    session: Session,
    Form(form): Form<SettingsForm>,
) -> Result<Response, PageError> {
    session::verify_csrf(&session, form.csrf_token.as_deref()).await?;
    let (org, admin) = match signed_in_admin(&state, &session, &slug).await? {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect),
    };
    // Unchecked boxes are absent from an HTML form: absent means off here.
    let role = match form.default_sso_role.as_deref().map(str::parse::<i32>) {
        Some(Ok(code)) => Some(code),
        Some(Err(_)) => {
            let html = render(
                &state,
                &session,
                &org,
                &admin,
                false,
                Some("default_sso_role: must be a role code".into()),
            )
            .await?;
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
        }
        None => None,
    };
    let patch = SettingsPatch {
        jit_creation: Some(form.jit_creation.is_some()),
        hide_password_login: Some(form.hide_password_login.is_some()),
        ms_id_as_external_id: Some(form.ms_id_as_external_id.is_some()),
        default_sso_role: role,
        profile_sync: form.profile_sync,
    };
    let catalog = state.db.role_codes(org.id).await?;
    match crate::settings::validate(&patch, &org.settings, &catalog) {
        Ok(next) => {
            state.db.update_settings(org.id, &next, crate::clock::now()).await?;
            tracing::info!(org = %org.slug, admin = %admin.id, "settings changed in console");
            Ok(Redirect::to(&format!("/o/{}/admin?saved=1", org.slug)).into_response())
        }
        Err((field, reason)) => {
            let html = render(
                &state,
                &session,
                &org,
                &admin,
                false,
                Some(format!("{field}: {reason}")),
            )
            .await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
    }
}

/// Each SAML connection as the console shows it (certificate expiry, with a
/// warning inside 30 days, and the last metadata-refresh error), and each
/// OIDC connection with the redirect URI to register at the provider.
async fn connection_rows(
    state: &AppState,
    org: &Organization,
) -> Result<(Vec<minijinja::Value>, Vec<crate::oidc::setup::OidcSummary>), Error> {
    let now = crate::clock::now();
    let mut rows = Vec::new();
    let mut oidc_rows = Vec::new();
    for (record, saml) in crate::saml::setup::summaries(&state.db, &state.config, org).await? {
        if let Some(c) = crate::oidc::setup::parse(&record) {
            oidc_rows.push(crate::oidc::setup::summary(
                &state.config,
                org,
                record.id,
                &record.name,
                record.enabled,
                &c,
            ));
        }
        let Some(s) = saml else { continue };
        let certificates: Vec<minijinja::Value> = s
            .idp_certificates
            .iter()
            .map(|i| {
                context! {
                    not_after => i.not_after.date_naive().to_string(),
                    expiring => i.not_after < now + chrono::Duration::days(30),
                }
            })
            .collect();
        rows.push(context! {
            name => s.name,
            idp_entity_id => s.idp_entity_id,
            certificates,
            metadata_url => s.idp_metadata_url,
            metadata_error => s.idp_metadata_error,
            sp_metadata_url => s.metadata_url,
        });
    }
    Ok((rows, oidc_rows))
}
