//! Per-organization catalogs: roles, locations, staff groups, role mapping.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{map_err, Db, Error, Result};
use crate::model::{Location, OrgCatalogs, Role, RoleMapping};
use crate::on_db;

#[derive(sqlx::FromRow)]
struct RoleRow {
    code: i32,
    name: String,
}

#[derive(sqlx::FromRow)]
struct LocationRow {
    id: Uuid,
    external_id: String,
    name: String,
}

#[derive(sqlx::FromRow)]
struct MappingRow {
    external_role: String,
    role_code: i32,
}

/// Locations and staff groups share one shape and one set of queries; the
/// table name comes from this closed enum, never from input.
#[derive(Clone, Copy, Debug)]
pub enum Directory {
    Locations,
    StaffGroups,
}

impl Directory {
    fn table(self) -> &'static str {
        match self {
            Directory::Locations => "locations",
            Directory::StaffGroups => "staff_groups",
        }
    }
}

impl Db {
    /// Everything the sign-in rules and admin validation check values against.
    pub async fn org_catalogs(&self, org_id: Uuid) -> Result<OrgCatalogs> {
        Ok(OrgCatalogs {
            roles: self.role_codes(org_id).await?,
            role_mapping: self
                .role_mappings(org_id)
                .await?
                .into_iter()
                .map(|m| (m.external_role, m.role_code))
                .collect(),
            locations: self
                .directory_entries(org_id, Directory::Locations)
                .await?
                .into_iter()
                .map(|l| l.external_id)
                .collect(),
            groups: self
                .directory_entries(org_id, Directory::StaffGroups)
                .await?
                .into_iter()
                .map(|l| l.external_id)
                .collect(),
        })
    }

    pub async fn role_codes(&self, org_id: Uuid) -> Result<std::collections::BTreeSet<i32>> {
        Ok(self.roles(org_id).await?.into_iter().map(|r| r.code).collect())
    }

    pub async fn roles(&self, org_id: Uuid) -> Result<Vec<Role>> {
        let rows: Vec<RoleRow> = on_db!(self, |p| sqlx::query_as(
            "SELECT code, name FROM roles WHERE org_id = $1 ORDER BY code"
        )
        .bind(org_id)
        .fetch_all(p)
        .await)
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|r| Role {
                code: r.code,
                name: r.name,
            })
            .collect())
    }

    pub async fn role_mappings(&self, org_id: Uuid) -> Result<Vec<RoleMapping>> {
        let rows: Vec<MappingRow> = on_db!(self, |p| sqlx::query_as(
            "SELECT external_role, role_code FROM role_mappings WHERE org_id = $1 ORDER BY external_role"
        )
        .bind(org_id)
        .fetch_all(p)
        .await)
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|r| RoleMapping {
                external_role: r.external_role,
                role_code: r.role_code,
            })
            .collect())
    }

    /// Inserts or replaces one mapping. The role code must exist in the
    /// catalog: the foreign key refuses it otherwise.
    pub async fn set_role_mapping(&self, org_id: Uuid, external_role: &str, code: i32) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO role_mappings (org_id, external_role, role_code) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, external_role) DO UPDATE SET role_code = excluded.role_code"
        )
        .bind(org_id)
        .bind(external_role)
        .bind(code)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(())
    }

    pub async fn remove_role_mapping(&self, org_id: Uuid, external_role: &str) -> Result<()> {
        let n = on_db!(self, |p| sqlx::query(
            "DELETE FROM role_mappings WHERE org_id = $1 AND external_role = $2"
        )
        .bind(org_id)
        .bind(external_role)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    pub async fn directory_entries(&self, org_id: Uuid, dir: Directory) -> Result<Vec<Location>> {
        let sql = format!(
            "SELECT id, external_id, name FROM {} WHERE org_id = $1 ORDER BY external_id",
            dir.table()
        );
        let rows: Vec<LocationRow> =
            on_db!(self, |p| sqlx::query_as(&sql).bind(org_id).fetch_all(p).await).map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|r| Location {
                id: r.id,
                external_id: r.external_id,
                name: r.name,
            })
            .collect())
    }

    pub async fn add_directory_entry(
        &self,
        org_id: Uuid,
        dir: Directory,
        external_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Location> {
        let id = Uuid::new_v4();
        let sql = format!(
            "INSERT INTO {} (id, org_id, external_id, name, created_at) VALUES ($1, $2, $3, $4, $5)",
            dir.table()
        );
        on_db!(self, |p| sqlx::query(&sql)
            .bind(id)
            .bind(org_id)
            .bind(external_id)
            .bind(name)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(Location {
            id,
            external_id: external_id.to_string(),
            name: name.to_string(),
        })
    }

    pub async fn remove_directory_entry(&self, org_id: Uuid, dir: Directory, external_id: &str) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE org_id = $1 AND external_id = $2", dir.table());
        let n = on_db!(self, |p| sqlx::query(&sql)
            .bind(org_id)
            .bind(external_id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}
