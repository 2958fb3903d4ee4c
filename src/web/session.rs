//! Server-side sessions in the database (tower-sessions), so any instance
//! can serve any request; the cookie holds only a signed random id.

use async_trait::async_trait;
use sha2::{Digest, Sha512};
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::service::SignedCookie;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};
use uuid::Uuid;

use super::error::Error;
use crate::config::Config;
use crate::store::Db;

/// The session store of whichever backend we run on.
#[derive(Clone, Debug)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Pg(PostgresStore),
}

impl SessionBackend {
    pub fn for_db(db: &Db, pg_schema: Option<&str>) -> Result<SessionBackend, String> {
        Ok(match db {
            Db::Sqlite(p) => SessionBackend::Sqlite(SqliteStore::new(p.clone())),
            Db::Pg(p) => {
                let store = PostgresStore::new(p.clone());
                SessionBackend::Pg(match pg_schema {
                    Some(schema) => store.with_schema_name(schema)?,
                    None => store,
                })
            }
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            SessionBackend::Sqlite(s) => s.migrate().await,
            SessionBackend::Pg(s) => s.migrate().await,
        }
    }

    /// Removes expired sessions; run periodically by the server.
    pub async fn delete_expired(&self) -> session_store::Result<()> {
        use tower_sessions::ExpiredDeletion;
        match self {
            SessionBackend::Sqlite(s) => s.delete_expired().await,
            SessionBackend::Pg(s) => s.delete_expired().await,
        }
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.create(record).await,
            SessionBackend::Pg(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.save(record).await,
            SessionBackend::Pg(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionBackend::Sqlite(s) => s.load(id).await,
            SessionBackend::Pg(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.delete(id).await,
            SessionBackend::Pg(s) => s.delete(id).await,
        }
    }
}

/// Cookie: HttpOnly, SameSite=Lax, Secure when the public URL is https,
/// signed with a key derived from the configured secret.
pub fn layer(store: SessionBackend, config: &Config) -> SessionManagerLayer<SessionBackend, SignedCookie> {
    let key = match &config.session_secret {
        Some(secret) => Key::from(Sha512::digest(secret.as_bytes()).as_slice()),
        None => Key::generate(),
    };
    SessionManagerLayer::new(store)
        .with_name(config.cookie_name.clone())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            config.session_idle_minutes,
        )))
        .with_signed(key)
}

const USER_KEY: &str = "user_id";
const SSO_KEY: &str = "sso";

/// How the session was established through SSO, for single logout.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SsoSession {
    pub connection_id: Uuid,
    /// SAML: the NameID; OIDC: the identity-link subject.
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// OIDC: the ID token, sent back as `id_token_hint` at sign-out so the
    /// provider knows whose session to end without asking. Server-side only.
    #[serde(default)]
    pub id_token_hint: Option<String>,
}

pub async fn begin_sso(session: &Session, org_id: Uuid, user_id: Uuid, sso: &SsoSession) -> Result<(), Error> {
    begin(session, org_id, user_id).await?;
    session.insert(SSO_KEY, sso).await?;
    Ok(())
}

pub async fn sso(session: &Session) -> Result<Option<SsoSession>, Error> {
    Ok(session.get(SSO_KEY).await?)
}
const ORG_KEY: &str = "org_id";
const CSRF_KEY: &str = "csrf";

/// Who the session belongs to, if anyone signed in.
#[derive(Clone, Copy, Debug)]
pub struct SignedIn {
    pub org_id: Uuid,
    pub user_id: Uuid,
}

pub async fn signed_in(session: &Session) -> Result<Option<SignedIn>, Error> {
    let user: Option<Uuid> = session.get(USER_KEY).await?;
    let org: Option<Uuid> = session.get(ORG_KEY).await?;
    Ok(match (user, org) {
        (Some(user_id), Some(org_id)) => Some(SignedIn { org_id, user_id }),
        _ => None,
    })
}

/// Starts an authenticated session: a new session id (no fixation), a new
/// CSRF token, and the user. Whatever the anonymous session held is dropped.
pub async fn begin(session: &Session, org_id: Uuid, user_id: Uuid) -> Result<(), Error> {
    session.cycle_id().await?;
    session.clear().await;
    session.insert(USER_KEY, user_id).await?;
    session.insert(ORG_KEY, org_id).await?;
    session.insert(CSRF_KEY, crate::secrets::random_token(32)).await?;
    Ok(())
}

pub async fn end(session: &Session) -> Result<(), Error> {
    session.flush().await?;
    Ok(())
}

/// The session's CSRF token, created on first use (synchronizer-token
/// pattern: forms and API calls echo it; another site cannot read it).
pub async fn csrf_token(session: &Session) -> Result<String, Error> {
    if let Some(token) = session.get::<String>(CSRF_KEY).await? {
        return Ok(token);
    }
    let token = crate::secrets::random_token(32);
    session.insert(CSRF_KEY, &token).await?;
    Ok(token)
}

pub async fn verify_csrf(session: &Session, presented: Option<&str>) -> Result<(), Error> {
    let expected: Option<String> = session.get(CSRF_KEY).await?;
    match (expected, presented) {
        (Some(expected), Some(presented)) if crate::secrets::equal(&expected, presented) => Ok(()),
        _ => Err(Error::Csrf),
    }
}
