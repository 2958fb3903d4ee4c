//! What every SSO protocol's endpoints share: starting a sign-in by
//! connection kind, recording a refused protocol message, the pages a
//! person sees, and finishing a sign-in the claims engine decided.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

use super::client::ClientIp;
use super::error::{Error, PageError};
use super::session::{self, SsoSession};
use crate::app::AppState;
use crate::login_events;
use crate::model::{LoginMethod, Organization, Outcome as EventOutcome};
use crate::signin::Outcome;
use crate::store::events::NewEvent;

#[derive(Deserialize)]
pub struct LoginQuery {
    pub return_to: Option<String>,
}

/// `/o/{org}/sso/{connection}/login`: one URL per connection whatever its
/// protocol, so the sign-in page and admins' links need not know it.
pub async fn login(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    Query(q): Query<LoginQuery>,
    session: Session,
    client: ClientIp,
) -> Result<Response, PageError> {
    let org = state.db.org_by_slug(&slug).await?;
    let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
    let record = match state.db.connection(id).await {
        Ok(r) if r.org_id == org.id && r.enabled => r,
        Ok(_) | Err(crate::store::Error::NotFound) => return Err(Error::NotFound.into()),
        Err(e) => return Err(e.into()),
    };
    match record.kind.as_str() {
        "saml" => crate::saml::routes::login(&state, &org, record, q.return_to.as_deref()).await,
        "oidc" => crate::oidc::routes::login(&state, record, q.return_to.as_deref(), &session, &client).await,
        _ => Err(Error::NotFound.into()),
    }
}

/// Where sign-out should send the browser after the local session ended:
/// the IdP's logout endpoint when the session came from a connection whose
/// IdP has one (SAML single logout, OIDC RP-initiated logout).
pub async fn logout_redirect(state: &AppState, sso: &SsoSession, org: &Organization) -> Option<String> {
    let record = state.db.connection(sso.connection_id).await.ok()?;
    match record.kind.as_str() {
        "saml" => crate::saml::routes::logout_redirect(state, record, sso),
        "oidc" => crate::oidc::routes::logout_redirect(state, record, sso, &org.slug).await,
        _ => None,
    }
}

/// A message page (refusals, sign-out), with an optional link.
pub fn page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    link: Option<(String, &str)>,
) -> Result<Response, PageError> {
    let html = state
        .templates
        .render(
            "message.html",
            context! { title, message, link => link.map(|(url, label)| context! { url, label }) },
        )
        .map_err(Error::internal)?;
    Ok((status, Html(html)).into_response())
}

/// A protocol-level refusal (before any user was looked at): one login
/// event with the precise reason; returns its id for the page's reference.
pub async fn record_refusal(
    state: &AppState,
    org_id: Uuid,
    connection_id: Uuid,
    method: LoginMethod,
    client: &ClientIp,
    reason: &str,
    detail: String,
) -> Result<Uuid, Error> {
    let protocol = method.as_str();
    let event = NewEvent {
        org_id,
        connection_id: Some(connection_id),
        user_id: None,
        method,
        outcome: EventOutcome::Failure,
        reason: reason.to_string(),
        subject: None,
        attempted_login: None,
        client_ip: client.as_string(),
        detail: json!({ "protocol": protocol, "detail": detail }),
    };
    let event_id = login_events::record(&state.db, &event, crate::clock::now()).await?;
    tracing::info!(connection = %connection_id, protocol, reason, "SSO response refused");
    Ok(event_id)
}

/// The generic refusal page: the person gets a reference, never the reason.
pub fn refused_page(state: &AppState, message: Option<String>, event_id: Uuid) -> Result<Response, PageError> {
    let message = message.unwrap_or_else(|| {
        format!(
            "The sign-in response from your identity provider could not be accepted. Give your administrator this reference: {event_id}"
        )
    });
    page(state, StatusCode::FORBIDDEN, "Sign-in failed", &message, None)
}

/// After the claims engine: a session and a redirect, or the refusal page.
pub async fn finish(
    state: &AppState,
    session: &Session,
    org: &Organization,
    outcome: Outcome,
    sso: SsoSession,
    return_to: Option<String>,
) -> Result<Response, PageError> {
    match outcome {
        Outcome::SignedIn { user, .. } => {
            session::begin_sso(session, org.id, user.id, &sso).await?;
            let target = return_to.unwrap_or_else(|| format!("/o/{}/", org.slug));
            Ok(Redirect::to(&target).into_response())
        }
        Outcome::Refused { refusal, event_id } => page(
            state,
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            &format!("{} Reference: {event_id}", refusal.message),
            Some((format!("/o/{}/login", org.slug), "Back to the sign-in page")),
        ),
    }
}
