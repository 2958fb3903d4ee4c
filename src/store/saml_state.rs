//! SAML protocol state in the database, so that any instance can consume
//! what another issued (SPEC §6): AuthnRequest ids and the assertion replay
//! cache. Single use is one conditional UPDATE / one primary key.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{map_err, Db, Error, Result};
use crate::on_db;

/// Why an InResponseTo was not accepted (login event reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestRefusal {
    Unknown,
    Reused,
    Expired,
    OtherConnection,
}

impl RequestRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            RequestRefusal::Unknown => "in_response_to_unknown",
            RequestRefusal::Reused => "in_response_to_reused",
            RequestRefusal::Expired => "in_response_to_expired",
            RequestRefusal::OtherConnection => "in_response_to_other_connection",
        }
    }
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    connection_id: Uuid,
    return_to: Option<String>,
    expires_at: DateTime<Utc>,
    consumed_at: Option<DateTime<Utc>>,
}

impl Db {
    pub async fn save_saml_request(
        &self,
        id: &str,
        org_id: Uuid,
        connection_id: Uuid,
        return_to: Option<&str>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO saml_requests (id, org_id, connection_id, return_to, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(id)
        .bind(org_id)
        .bind(connection_id)
        .bind(return_to)
        .bind(now)
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(())
    }

    /// Consumes the request an InResponseTo names, if this connection issued
    /// it and it is unused and unexpired; returns its return path.
    pub async fn consume_saml_request(
        &self,
        connection_id: Uuid,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Option<String>, RequestRefusal>> {
        let claimed: Option<(Option<String>,)> = on_db!(self, |p| sqlx::query_as(
            "UPDATE saml_requests SET consumed_at = $3 WHERE id = $1 AND connection_id = $2 \
             AND consumed_at IS NULL AND expires_at > $3 RETURNING return_to"
        )
        .bind(id)
        .bind(connection_id)
        .bind(now)
        .fetch_optional(p)
        .await)
        .map_err(map_err)?;
        if let Some((return_to,)) = claimed {
            return Ok(Ok(return_to));
        }
        let row: Option<RequestRow> = on_db!(self, |p| sqlx::query_as(
            "SELECT connection_id, return_to, expires_at, consumed_at FROM saml_requests WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(map_err)?;
        Ok(Err(match row {
            None => RequestRefusal::Unknown,
            Some(r) if r.connection_id != connection_id => RequestRefusal::OtherConnection,
            Some(r) if r.consumed_at.is_some() => RequestRefusal::Reused,
            Some(r) if r.expires_at <= now => RequestRefusal::Expired,
            Some(r) => {
                // Unreachable in a consistent database: the UPDATE would have matched.
                return Err(Error::Corrupt(format!(
                    "saml request {id} neither consumable nor refused ({:?})",
                    r.return_to
                )));
            }
        }))
    }

    /// Records an assertion id; false if this connection has seen it before
    /// (a replay). Expired ids are swept by `sweep_saml_state`, off the
    /// request path, so a sign-in costs one write here.
    pub async fn remember_assertion(
        &self,
        connection_id: Uuid,
        assertion_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let inserted = on_db!(self, |p| sqlx::query(
            "INSERT INTO saml_replay (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (connection_id, assertion_id) DO NOTHING"
        )
        .bind(connection_id)
        .bind(assertion_id)
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(inserted == 1)
    }

    /// Drops expired AuthnRequests and replay entries (housekeeping, run
    /// periodically). An expired replay entry is safe to forget: the
    /// assertion it names is refused as expired anyway.
    pub async fn sweep_saml_state(&self, now: DateTime<Utc>) -> Result<u64> {
        let requests = on_db!(self, |p| sqlx::query("DELETE FROM saml_requests WHERE expires_at < $1")
            .bind(now - chrono::Duration::hours(1))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        let replay = on_db!(self, |p| sqlx::query("DELETE FROM saml_replay WHERE expires_at < $1")
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(requests + replay)
    }
}
