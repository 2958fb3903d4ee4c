//! Sign-in pages: password login (hideable), sign-out, recovery links, and
//! the signed-in landing page. Handlers parse and render; the decisions are
//! in `password_signin`.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::client::ClientIp;
use super::error::{Error, PageError};
use super::redirect::safe_return_path;
use super::session;
use crate::app::AppState;
use crate::model::Organization;
use crate::password_signin::{self, Attempt};

type PageResult = Result<Response, PageError>;

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf_token: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

pub fn login_path(slug: &str) -> String {
    format!("/o/{slug}/login")
}

pub fn home_path(slug: &str) -> String {
    format!("/o/{slug}/")
}

async fn org(state: &AppState, slug: &str) -> Result<Organization, Error> {
    state.db.org_by_slug(slug).await.map_err(Error::from)
}

struct LoginPage<'a> {
    org: &'a Organization,
    error: Option<&'a str>,
    username: &'a str,
    return_to: Option<&'a str>,
}

async fn render_login(state: &AppState, session: &Session, p: LoginPage<'_>) -> Result<String, Error> {
    let connections: Vec<_> = state
        .db
        .connections(p.org.id)
        .await?
        .into_iter()
        .filter(|c| c.enabled)
        .map(|c| context! { name => c.name, login_url => crate::saml::sp::login_path(&p.org.slug, c.id) })
        .collect();
    let csrf_token = session::csrf_token(session).await?;
    state
        .templates
        .render(
            "login.html",
            context! {
                org_name => p.org.name,
                connections,
                show_password => !p.org.settings.hide_password_login,
                form_action => login_path(&p.org.slug),
                csrf_token,
                error => p.error,
                username => p.username,
                return_to => p.return_to.and_then(safe_return_path),
            },
        )
        .map_err(Error::internal)
}

pub async fn login_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<LoginQuery>,
    session: Session,
) -> PageResult {
    let org = org(&state, &slug).await?;
    let page = LoginPage {
        org: &org,
        error: None,
        username: "",
        return_to: q.return_to.as_deref(),
    };
    Ok(Html(render_login(&state, &session, page).await?).into_response())
}

pub async fn login_submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    session: Session,
    client: ClientIp,
    Form(form): Form<LoginForm>,
) -> PageResult {
    session::verify_csrf(&session, form.csrf_token.as_deref()).await?;
    let org = org(&state, &slug).await?;
    let now = crate::clock::now();
    let attempt = Attempt {
        org: &org,
        login: &form.username,
        password: &form.password,
        client_ip: client.as_string(),
        now,
    };
    let outcome = password_signin::attempt(&state.db, &state.config, attempt)
        .await
        .map_err(Error::internal)?;
    match outcome {
        Ok(user) => {
            session::begin(&session, org.id, user.id).await?;
            let target = form
                .return_to
                .as_deref()
                .and_then(safe_return_path)
                .map(str::to_string)
                .unwrap_or_else(|| home_path(&org.slug));
            Ok(Redirect::to(&target).into_response())
        }
        Err(refusal) => {
            let page = LoginPage {
                org: &org,
                error: Some(&refusal.message),
                username: &form.username,
                return_to: form.return_to.as_deref(),
            };
            let status = match refusal.reason {
                "throttled_login" | "throttled_address" => axum::http::StatusCode::TOO_MANY_REQUESTS,
                "password_login_disabled" => axum::http::StatusCode::FORBIDDEN,
                _ => axum::http::StatusCode::UNAUTHORIZED,
            };
            Ok((status, Html(render_login(&state, &session, page).await?)).into_response())
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    session::verify_csrf(&session, form.csrf_token.as_deref()).await?;
    let org = org(&state, &slug).await?;
    let sso = session::sso(&session).await?;
    session::end(&session).await?;
    // Single logout when the IdP publishes an endpoint: a SAML
    // LogoutRequest, or OIDC RP-initiated logout.
    if let Some(sso) = sso {
        if let Some(url) = crate::web::sso::logout_redirect(&state, &sso, &org).await {
            return Ok(Redirect::to(&url).into_response());
        }
    }
    Ok(Redirect::to(&login_path(&org.slug)).into_response())
}

pub async fn home(State(state): State<AppState>, Path(slug): Path<String>, session: Session) -> PageResult {
    let org = org(&state, &slug).await?;
    let Some(who) = session::signed_in(&session).await?.filter(|s| s.org_id == org.id) else {
        return Ok(Redirect::to(&login_path(&org.slug)).into_response());
    };
    let user = match state.db.user(org.id, who.user_id).await {
        Ok(u) => u,
        Err(crate::store::Error::NotFound) => {
            session::end(&session).await?;
            return Ok(Redirect::to(&login_path(&org.slug)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let role_name = state
        .db
        .roles(org.id)
        .await?
        .into_iter()
        .find(|r| r.code == user.role)
        .map(|r| r.name)
        .unwrap_or_else(|| user.role.to_string());
    let display = user
        .display_name
        .clone()
        .or_else(|| match (&user.first_name, &user.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.clone()),
            _ => None,
        })
        .unwrap_or_else(|| user.username.clone());
    let html = state
        .templates
        .render(
            "home.html",
            context! {
                org_name => org.name,
                user => context! { display, username => user.username, role_name },
                is_admin => user.is_admin(),
                console_url => format!("/o/{}/admin", org.slug),
                logout_action => format!("/o/{}/logout", org.slug),
                csrf_token => session::csrf_token(&session).await?,
            },
        )
        .map_err(Error::internal)?;
    Ok(Html(html).into_response())
}

/// GET only shows a button: link scanners and previews fetch URLs, and must
/// not burn the one-time link.
pub async fn recover_page(
    State(state): State<AppState>,
    Path((slug, token)): Path<(String, String)>,
    session: Session,
) -> PageResult {
    let org = org(&state, &slug).await?;
    let html = state
        .templates
        .render(
            "recover.html",
            context! {
                org_name => org.name,
                form_action => format!("/o/{}/recover/{}", org.slug, token),
                csrf_token => session::csrf_token(&session).await?,
            },
        )
        .map_err(Error::internal)?;
    Ok(Html(html).into_response())
}

pub async fn recover_submit(
    State(state): State<AppState>,
    Path((slug, token)): Path<(String, String)>,
    session: Session,
    client: ClientIp,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    session::verify_csrf(&session, form.csrf_token.as_deref()).await?;
    let org = org(&state, &slug).await?;
    let now = crate::clock::now();
    match password_signin::recover(&state.db, &org, &token, client.as_string(), now)
        .await
        .map_err(Error::internal)?
    {
        Ok(user) => {
            session::begin(&session, org.id, user.id).await?;
            Ok(Redirect::to(&home_path(&org.slug)).into_response())
        }
        Err(refusal) => {
            let html = state
                .templates
                .render(
                    "message.html",
                    context! {
                        title => "Recovery link not valid",
                        message => refusal.message,
                        link => context! { url => login_path(&org.slug), label => "Go to the sign-in page" },
                    },
                )
                .map_err(Error::internal)?;
            Ok((axum::http::StatusCode::GONE, Html(html)).into_response())
        }
    }
}
