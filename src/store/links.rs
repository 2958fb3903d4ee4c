//! Identity links (SPEC §1): (connection, subject) → user. The unique
//! constraint on (connection_id, subject) is what makes two simultaneous
//! first logins end with one link.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{map_err, Db, Result, Tx};
use crate::{on_db, on_tx};

impl Db {
    pub async fn linked_user(&self, org_id: Uuid, connection_id: Uuid, subject: &str) -> Result<Option<Uuid>> {
        on_db!(self, |p| sqlx::query_scalar(
            "SELECT user_id FROM identity_links WHERE org_id = $1 AND connection_id = $2 AND subject = $3"
        )
        .bind(org_id)
        .bind(connection_id)
        .bind(subject)
        .fetch_optional(p)
        .await)
        .map_err(map_err)
    }

    pub async fn user_id_by_external_id(&self, org_id: Uuid, external_id: &str) -> Result<Option<Uuid>> {
        on_db!(self, |p| sqlx::query_scalar(
            "SELECT id FROM users WHERE org_id = $1 AND external_id = $2"
        )
        .bind(org_id)
        .bind(external_id)
        .fetch_optional(p)
        .await)
        .map_err(map_err)
    }

    pub async fn count_links(&self, org_id: Uuid, user_id: Uuid) -> Result<i64> {
        on_db!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM identity_links WHERE org_id = $1 AND user_id = $2"
        )
        .bind(org_id)
        .bind(user_id)
        .fetch_one(p)
        .await)
        .map_err(map_err)
    }
}

impl Tx {
    /// Creates the link unless it exists (for this user: a no-op).
    pub async fn link_identity(
        &mut self,
        org_id: Uuid,
        connection_id: Uuid,
        subject: &str,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| sqlx::query(
            "INSERT INTO identity_links (id, org_id, connection_id, subject, user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connection_id, subject) DO NOTHING"
        )
        .bind(Uuid::new_v4())
        .bind(org_id)
        .bind(connection_id)
        .bind(subject)
        .bind(user_id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(n == 1)
    }
}
