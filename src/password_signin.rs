//! Password and recovery-link sign-in: the decisions and the login events,
//! with no HTTP in the way (the handlers in `web::auth` stay thin).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::config::Config;
use crate::login_events;
use crate::model::{LoginMethod, Organization, Outcome, User, UserStatus};
use crate::store::events::NewEvent;
use crate::store::{self, Db};

/// A refused attempt: the reason code recorded in the login event and the
/// sentence shown to the person (which never says whether the user exists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("password verification task failed: {0}")]
    Join(String),
}

const WRONG_CREDENTIALS: &str = "The username or password is incorrect.";

fn refusal(reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        message: message.into(),
    }
}

pub struct Attempt<'a> {
    pub org: &'a Organization,
    pub login: &'a str,
    pub password: &'a str,
    pub client_ip: Option<String>,
    pub now: DateTime<Utc>,
}

/// SPEC §5 and issue "platform": hide-password refuses server-side before
/// anything else is looked at; then the throttle; then the credentials.
pub async fn attempt(db: &Db, config: &Config, a: Attempt<'_>) -> Result<Result<User, Refusal>, Error> {
    let login_key = a.login.trim().to_lowercase();
    let mut event = NewEvent {
        org_id: a.org.id,
        connection_id: None,
        user_id: None,
        method: LoginMethod::Password,
        outcome: Outcome::Failure,
        reason: String::new(),
        subject: None,
        attempted_login: Some(login_key.clone()),
        client_ip: a.client_ip.clone(),
        detail: json!({}),
    };
    let decision = decide(db, config, &a, &login_key).await?;
    match &decision {
        Ok(user) => {
            let mut tx = db.begin().await?;
            tx.record_sign_in(a.org.id, user.id, a.now).await?;
            event.outcome = Outcome::Success;
            event.reason = "password".to_string();
            event.user_id = Some(user.id);
            event.subject = Some(user.username.clone());
            tx.insert_event(&event, a.now).await?;
            tx.commit().await?;
            login_events::count(&event);
        }
        Err((refused, user_id)) => {
            event.reason = refused.reason.to_string();
            event.user_id = *user_id;
            login_events::record(db, &event, a.now).await?;
        }
    }
    Ok(decision.map_err(|(r, _)| r))
}

type Decision = Result<User, (Refusal, Option<uuid::Uuid>)>;

async fn decide(db: &Db, config: &Config, a: &Attempt<'_>, login_key: &str) -> Result<Decision, Error> {
    if a.org.settings.hide_password_login {
        return Ok(Err((
            refusal(
                "password_login_disabled",
                format!(
                    "Password sign-in is turned off for {}. Sign in with your organization's single sign-on.",
                    a.org.name
                ),
            ),
            None,
        )));
    }
    let since = a.now - Duration::minutes(config.throttle_window_minutes);
    let too_many = "Too many failed sign-in attempts. Wait a few minutes and try again.";
    if let Some(ip) = &a.client_ip {
        if db.recent_password_failures_from(ip, since).await? >= config.throttle_per_address {
            return Ok(Err((refusal("throttled_address", too_many), None)));
        }
    }
    if db
        .recent_password_failures_for_login(a.org.id, login_key, since)
        .await?
        >= config.throttle_per_login
    {
        return Ok(Err((refusal("throttled_login", too_many), None)));
    }

    let user = match db.user_by_username(a.org.id, a.login.trim()).await? {
        Some(u) => Some(u),
        None => db.user_by_email(a.org.id, a.login.trim()).await?,
    };
    let password = a.password.to_string();
    let Some(user) = user else {
        run_blocking(move || crate::password::verify_dummy(&password)).await?;
        return Ok(Err((refusal("unknown_user", WRONG_CREDENTIALS), None)));
    };
    let Some(stored) = user.password_hash.clone() else {
        run_blocking(move || crate::password::verify_dummy(&password)).await?;
        return Ok(Err((refusal("no_password", WRONG_CREDENTIALS), Some(user.id))));
    };
    if !run_blocking(move || crate::password::verify(&password, &stored)).await? {
        return Ok(Err((refusal("invalid_credentials", WRONG_CREDENTIALS), Some(user.id))));
    }
    // Checked after the password so the page does not reveal archived
    // accounts to someone who does not know the password.
    if user.status == UserStatus::Archived {
        return Ok(Err((
            refusal("user_archived", "This account is archived. Ask your administrator."),
            Some(user.id),
        )));
    }
    Ok(Ok(user))
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Join(e.to_string()))
}

/// Consumes a recovery link (single use, 15 minutes; SPEC §5) and records
/// the attempt. Works whether or not password login is hidden: it is the
/// way back in when SSO is broken.
pub async fn recover(
    db: &Db,
    org: &Organization,
    token: &str,
    client_ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<Result<User, Refusal>, Error> {
    let mut event = NewEvent {
        org_id: org.id,
        connection_id: None,
        user_id: None,
        method: LoginMethod::RecoveryLink,
        outcome: Outcome::Failure,
        reason: String::new(),
        subject: None,
        attempted_login: None,
        client_ip,
        detail: json!({}),
    };
    let invalid = "This recovery link is not valid any more. Links work once and expire after 15 minutes; ask an administrator for a new one.";
    let user = match db.consume_recovery_token(org.id, token, now).await? {
        Err(refused) => {
            event.reason = refused.reason().to_string();
            login_events::record(db, &event, now).await?;
            return Ok(Err(refusal(refused.reason(), invalid)));
        }
        Ok(user_id) => db.user(org.id, user_id).await?,
    };
    event.user_id = Some(user.id);
    event.subject = Some(user.username.clone());
    if user.status == UserStatus::Archived {
        event.reason = "user_archived".to_string();
        login_events::record(db, &event, now).await?;
        return Ok(Err(refusal(
            "user_archived",
            "This account is archived. Ask your administrator.",
        )));
    }
    let mut tx = db.begin().await?;
    tx.record_sign_in(org.id, user.id, now).await?;
    event.outcome = Outcome::Success;
    event.reason = "recovery_link".to_string();
    tx.insert_event(&event, now).await?;
    tx.commit().await?;
    login_events::count(&event);
    Ok(Ok(user))
}
