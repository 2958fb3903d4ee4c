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

/// A connection with its stored configuration document.
#[derive(Clone, Debug)]
pub struct ConnectionRecord {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub config: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct FullRow {
    id: Uuid,
    org_id: Uuid,
    kind: String,
    name: String,
    enabled: bool,
    config: String,
}

impl FullRow {
    fn into_record(self) -> Result<ConnectionRecord> {
        Ok(ConnectionRecord {
            config: serde_json::from_str(&self.config)
                .map_err(|e| super::Error::Corrupt(format!("connection {} config: {e}", self.id)))?,
            id: self.id,
            org_id: self.org_id,
            kind: self.kind,
            name: self.name,
            enabled: self.enabled,
        })
    }
}

impl Db {
    /// Any organization's connection by id (the ACS and metadata URLs carry
    /// only the connection id).
    pub async fn connection(&self, id: Uuid) -> Result<ConnectionRecord> {
        let row: FullRow = on_db!(self, |p| sqlx::query_as(
            "SELECT id, org_id, kind, name, enabled, config FROM connections WHERE id = $1"
        )
        .bind(id)
        .fetch_one(p)
        .await)
        .map_err(map_err)?;
        row.into_record()
    }

    /// An organization's connections with their configuration, in one query.
    pub async fn connection_records(&self, org_id: Uuid) -> Result<Vec<ConnectionRecord>> {
        let rows: Vec<FullRow> = on_db!(self, |p| sqlx::query_as(
            "SELECT id, org_id, kind, name, enabled, config FROM connections WHERE org_id = $1 ORDER BY name"
        )
        .bind(org_id)
        .fetch_all(p)
        .await)
        .map_err(map_err)?;
        rows.into_iter().map(FullRow::into_record).collect()
    }

    pub async fn connections_of_kind(&self, kind: &str) -> Result<Vec<ConnectionRecord>> {
        let rows: Vec<FullRow> = on_db!(self, |p| sqlx::query_as(
            "SELECT id, org_id, kind, name, enabled, config FROM connections WHERE kind = $1 ORDER BY id"
        )
        .bind(kind)
        .fetch_all(p)
        .await)
        .map_err(map_err)?;
        rows.into_iter().map(FullRow::into_record).collect()
    }

    pub async fn update_connection(
        &self,
        org_id: Uuid,
        id: Uuid,
        name: &str,
        enabled: bool,
        config: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let n = on_db!(self, |p| {
            sqlx::query(
            "UPDATE connections SET name = $3, enabled = $4, config = $5, updated_at = $6 WHERE id = $1 AND org_id = $2"
        )
        .bind(id)
        .bind(org_id)
        .bind(name)
        .bind(enabled)
        .bind(config.to_string())
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })
        .map_err(map_err)?;
        if n == 0 {
            return Err(super::Error::NotFound);
        }
        Ok(())
    }
}
