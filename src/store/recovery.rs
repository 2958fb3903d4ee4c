//! One-time recovery sign-in links (SPEC §5): minted by the CLI when SSO is
//! broken. Only the token's SHA-256 is stored; consumption is one atomic
//! UPDATE, so a link works once even with several instances racing.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{map_err, Db, Result};
use crate::on_db;

pub const RECOVERY_TTL_MINUTES: i64 = 15;

/// Why a presented link did not sign anyone in (the login event's reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryRefusal {
    Unknown,
    Used,
    Expired,
}

impl RecoveryRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            RecoveryRefusal::Unknown => "recovery_link_invalid",
            RecoveryRefusal::Used => "recovery_link_used",
            RecoveryRefusal::Expired => "recovery_link_expired",
        }
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Db {
    pub async fn create_recovery_token(&self, org_id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> Result<String> {
        let token = crate::secrets::random_token(32);
        on_db!(self, |p| sqlx::query(
            "INSERT INTO recovery_tokens (token_hash, org_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(hash(&token))
        .bind(org_id)
        .bind(user_id)
        .bind(now)
        .bind(now + Duration::minutes(RECOVERY_TTL_MINUTES))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(token)
    }

    /// Marks the token used and returns its user, or says why not.
    pub async fn consume_recovery_token(
        &self,
        org_id: Uuid,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Uuid, RecoveryRefusal>> {
        let h = hash(token);
        let claimed: Option<Uuid> = on_db!(self, |p| sqlx::query_scalar(
            "UPDATE recovery_tokens SET used_at = $3 WHERE token_hash = $1 AND org_id = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING user_id"
        )
        .bind(&h)
        .bind(org_id)
        .bind(now)
        .fetch_optional(p)
        .await)
        .map_err(map_err)?;
        if let Some(user_id) = claimed {
            return Ok(Ok(user_id));
        }
        let state: Option<(Option<DateTime<Utc>>,)> = on_db!(self, |p| sqlx::query_as(
            "SELECT used_at FROM recovery_tokens WHERE token_hash = $1 AND org_id = $2"
        )
        .bind(&h)
        .bind(org_id)
        .fetch_optional(p)
        .await)
        .map_err(map_err)?;
        Ok(Err(match state {
            None => RecoveryRefusal::Unknown,
            Some((Some(_),)) => RecoveryRefusal::Used,
            Some((None,)) => RecoveryRefusal::Expired,
        }))
    }
}
