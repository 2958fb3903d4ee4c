//! Login events (SPEC §10): append-only; listed and filtered by admins, and
//! read by the password throttle.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{map_err, Db, Error, Result, Tx};
use crate::model::{LoginEvent, LoginMethod, Outcome};
use crate::{on_db, on_tx};

/// What a caller records; id and time are assigned here.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub org_id: Uuid,
    pub connection_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub method: LoginMethod,
    pub outcome: Outcome,
    pub reason: String,
    pub subject: Option<String>,
    /// The login name typed on the password form, lowercased (throttling key).
    pub attempted_login: Option<String>,
    pub client_ip: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    org_id: Uuid,
    connection_id: Option<Uuid>,
    user_id: Option<Uuid>,
    method: String,
    outcome: String,
    reason: String,
    subject: Option<String>,
    attempted_login: Option<String>,
    client_ip: Option<String>,
    detail: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for LoginEvent {
    type Error = Error;
    fn try_from(r: EventRow) -> Result<LoginEvent> {
        Ok(LoginEvent {
            detail: serde_json::from_str(&r.detail).map_err(|e| Error::Corrupt(format!("login event detail: {e}")))?,
            id: r.id,
            org_id: r.org_id,
            connection_id: r.connection_id,
            user_id: r.user_id,
            method: r.method,
            outcome: r.outcome,
            reason: r.reason,
            subject: r.subject,
            attempted_login: r.attempted_login,
            client_ip: r.client_ip,
            created_at: r.created_at,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub user_id: Option<Uuid>,
    pub outcome: Option<Outcome>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

const EVENT_COLUMNS: &str = "id, org_id, connection_id, user_id, method, outcome, reason, subject, \
     attempted_login, client_ip, detail, created_at";
const INSERT_EVENT: &str = "INSERT INTO login_events (id, org_id, connection_id, user_id, method, \
     outcome, reason, subject, attempted_login, client_ip, detail, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Caps what one event may store: claims come from outside and an IdP (or an
/// attacker with a valid signature) must not be able to bloat the table.
pub const MAX_DETAIL_BYTES: usize = 32 * 1024;

fn capped_detail(detail: &serde_json::Value) -> String {
    let text = detail.to_string();
    if text.len() <= MAX_DETAIL_BYTES {
        return text;
    }
    serde_json::json!({ "truncated": true, "original_bytes": text.len() }).to_string()
}

macro_rules! bind_event {
    ($q:expr, $id:expr, $e:expr, $now:expr) => {
        $q.bind($id)
            .bind($e.org_id)
            .bind($e.connection_id)
            .bind($e.user_id)
            .bind($e.method.as_str())
            .bind($e.outcome.as_str())
            .bind(&$e.reason)
            .bind(&$e.subject)
            .bind(&$e.attempted_login)
            .bind(&$e.client_ip)
            .bind(capped_detail(&$e.detail))
            .bind($now)
    };
}

impl Tx {
    pub async fn insert_event(&mut self, e: &NewEvent, now: DateTime<Utc>) -> Result<Uuid> {
        let id = Uuid::new_v4();
        on_tx!(self, |c| bind_event!(sqlx::query(INSERT_EVENT), id, e, now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(id)
    }
}

impl Db {
    pub async fn record_event(&self, e: &NewEvent, now: DateTime<Utc>) -> Result<Uuid> {
        let id = Uuid::new_v4();
        on_db!(self, |p| bind_event!(sqlx::query(INSERT_EVENT), id, e, now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(id)
    }

    pub async fn event(&self, org_id: Uuid, id: Uuid) -> Result<LoginEvent> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM login_events WHERE org_id = $1 AND id = $2");
        let row: EventRow =
            on_db!(self, |p| sqlx::query_as(&sql).bind(org_id).bind(id).fetch_one(p).await).map_err(map_err)?;
        row.try_into()
    }

    /// Newest first.
    pub async fn list_events(&self, org_id: Uuid, q: &EventQuery) -> Result<Vec<LoginEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM login_events WHERE org_id = $1 \
             AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR outcome = $3) \
             AND ($4 IS NULL OR reason = $4) AND ($5 IS NULL OR created_at >= $5) \
             AND ($6 IS NULL OR created_at < $6) \
             ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
        );
        let rows: Vec<EventRow> = on_db!(self, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(q.user_id)
            .bind(q.outcome.map(Outcome::as_str))
            .bind(&q.reason)
            .bind(q.since)
            .bind(q.until)
            .bind(q.limit)
            .bind(q.offset)
            .fetch_all(p)
            .await)
        .map_err(map_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Failed password attempts for one login name in an org since `since`.
    /// Only credential failures count: attempts refused by the throttle
    /// itself do not extend the lock (docs/security.md).
    pub async fn recent_password_failures_for_login(
        &self,
        org_id: Uuid,
        attempted_login: &str,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        on_db!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_events WHERE org_id = $1 AND attempted_login = $2 \
             AND created_at >= $3 AND method = 'password' AND outcome = 'failure' \
             AND reason IN ('invalid_credentials', 'unknown_user', 'no_password')"
        )
        .bind(org_id)
        .bind(attempted_login)
        .bind(since)
        .fetch_one(p)
        .await)
        .map_err(map_err)
    }

    /// Failed password attempts from one client address, across all orgs.
    pub async fn recent_password_failures_from(&self, client_ip: &str, since: DateTime<Utc>) -> Result<i64> {
        on_db!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_events WHERE client_ip = $1 AND created_at >= $2 \
             AND method = 'password' AND outcome = 'failure' \
             AND reason IN ('invalid_credentials', 'unknown_user', 'no_password')"
        )
        .bind(client_ip)
        .bind(since)
        .fetch_one(p)
        .await)
        .map_err(map_err)
    }
}
