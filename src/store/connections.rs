//! IdP connections (SPEC §1): the row and its kind. The protocol-specific
//! configuration is a JSON document validated by the SAML/OIDC modules
//! before it is stored; this module never interprets it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{map_err, Db, Result};
use crate::on_db;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionSummary {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub enabled: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    name: String,
    enabled: bool,
}

impl Db {
    pub async fn connections(&self, org_id: Uuid) -> Result<Vec<ConnectionSummary>> {
        let rows: Vec<Row> = on_db!(self, |p| sqlx::query_as(
            "SELECT id, kind, name, enabled FROM connections WHERE org_id = $1 ORDER BY name"
        )
        .bind(org_id)
        .fetch_all(p)
        .await)
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|r| ConnectionSummary {
                id: r.id,
                kind: r.kind,
                name: r.name,
                enabled: r.enabled,
            })
            .collect())
    }

    /// Stores a connection whose `config` the protocol module has validated.
    pub async fn insert_connection(
        &self,
        org_id: Uuid,
        kind: &str,
        name: &str,
        config: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        on_db!(self, |p| sqlx::query(
            "INSERT INTO connections (id, org_id, kind, name, enabled, config, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        )
        .bind(id)
        .bind(org_id)
        .bind(kind)
        .bind(name)
        .bind(true)
        .bind(config.to_string())
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(id)
    }
}
