//! Org API keys. Only a SHA-256 of the secret is stored: the secret is 256
//! random bits, so a fast hash is as strong as a slow one and keeps every
//! API request cheap (passwords, being low-entropy, use argon2id instead).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{map_err, Db, Error, Result};
use crate::model::{ApiKey, ApiKeyScope};
use crate::on_db;

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    org_id: Uuid,
    scope: String,
    name: String,
    secret_hash: Vec<u8>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl KeyRow {
    fn into_key(self) -> Result<ApiKey> {
        Ok(ApiKey {
            scope: ApiKeyScope::parse(&self.scope)
                .ok_or_else(|| Error::Corrupt(format!("api key scope {:?}", self.scope)))?,
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        })
    }
}

const PREFIX: &str = "gh_";

/// The presented form of a key: `gh_<key id, 32 hex>_<secret, 43 base64url>`.
/// The id lets us find the row without scanning; the secret is compared by hash.
pub fn format_token(id: Uuid, secret: &str) -> String {
    format!("{PREFIX}{}_{secret}", id.simple())
}

fn parse_token(token: &str) -> Option<(Uuid, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    Some((Uuid::try_parse(id).ok()?, secret))
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl Db {
    /// Creates a key; the returned token is shown once and never stored.
    pub async fn create_api_key(
        &self,
        org_id: Uuid,
        scope: ApiKeyScope,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(ApiKey, String)> {
        let id = Uuid::new_v4();
        let secret = crate::secrets::random_token(32);
        on_db!(self, |p| sqlx::query(
            "INSERT INTO api_keys (id, org_id, scope, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(id)
        .bind(org_id)
        .bind(scope.as_str())
        .bind(name)
        .bind(hash_secret(&secret))
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        let key = ApiKey {
            id,
            org_id,
            scope,
            name: name.to_string(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((key, format_token(id, &secret)))
    }

    pub async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>> {
        let rows: Vec<KeyRow> = on_db!(self, |p| sqlx::query_as(
            "SELECT id, org_id, scope, name, secret_hash, created_at, last_used_at, revoked_at \
             FROM api_keys WHERE org_id = $1 ORDER BY created_at"
        )
        .bind(org_id)
        .fetch_all(p)
        .await)
        .map_err(map_err)?;
        rows.into_iter().map(KeyRow::into_key).collect()
    }

    pub async fn revoke_api_key(&self, org_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        let n = on_db!(self, |p| sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL"
        )
        .bind(org_id)
        .bind(id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Returns the live key a bearer token stands for, or None for anything
    /// malformed, unknown, revoked or wrong — the caller answers all of those
    /// the same way.
    pub async fn authenticate_api_key(&self, token: &str, now: DateTime<Utc>) -> Result<Option<ApiKey>> {
        let Some((id, secret)) = parse_token(token) else {
            return Ok(None);
        };
        let row: Option<KeyRow> = on_db!(self, |p| sqlx::query_as(
            "SELECT id, org_id, scope, name, secret_hash, created_at, last_used_at, revoked_at \
             FROM api_keys WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let presented = hash_secret(secret);
        let matches: bool = subtle::ConstantTimeEq::ct_eq(presented.as_slice(), row.secret_hash.as_slice()).into();
        if !matches || row.revoked_at.is_some() {
            return Ok(None);
        }
        // Last-used is advisory; a failure to write it must not fail the request.
        let _ = on_db!(self, |p| sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()));
        row.into_key().map(Some)
    }
}
