//! Organizations and their settings (SPEC §1, §5).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{map_err, Db, Error, Result};
use crate::model::{OrgSettings, Organization, ProfileSync, SEEDED_ROLES};
use crate::on_db;

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    slug: String,
    name: String,
    jit_creation: bool,
    hide_password_login: bool,
    default_sso_role: i32,
    profile_sync: String,
    ms_id_as_external_id: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<OrgRow> for Organization {
    type Error = Error;
    fn try_from(r: OrgRow) -> Result<Organization> {
        let profile_sync = ProfileSync::parse(&r.profile_sync)
            .ok_or_else(|| Error::Corrupt(format!("profile_sync {:?}", r.profile_sync)))?;
        Ok(Organization {
            id: r.id,
            slug: r.slug,
            name: r.name,
            settings: OrgSettings {
                jit_creation: r.jit_creation,
                hide_password_login: r.hide_password_login,
                default_sso_role: r.default_sso_role,
                profile_sync,
                ms_id_as_external_id: r.ms_id_as_external_id,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const ORG_COLUMNS: &str = "id, slug, name, jit_creation, hide_password_login, default_sso_role, \
     profile_sync, ms_id_as_external_id, created_at, updated_at";

/// Slugs appear in URLs: lowercase letters, digits and single hyphens.
pub fn valid_slug(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
}

impl Db {
    /// Creates an organization with the seeded role catalog, in one transaction.
    pub async fn create_org(&self, slug: &str, name: &str, now: DateTime<Utc>) -> Result<Organization> {
        let id = Uuid::new_v4();
        let s = OrgSettings::default();
        let mut tx = self.begin().await?;
        crate::on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO organizations (id, slug, name, jit_creation, hide_password_login, \
                 default_sso_role, profile_sync, ms_id_as_external_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(id)
            .bind(slug)
            .bind(name)
            .bind(s.jit_creation)
            .bind(s.hide_password_login)
            .bind(s.default_sso_role)
            .bind(s.profile_sync.as_str())
            .bind(s.ms_id_as_external_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map_err(map_err)?;
            for (code, role_name) in SEEDED_ROLES {
                sqlx::query("INSERT INTO roles (org_id, code, name) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(code)
                    .bind(role_name)
                    .execute(&mut *c)
                    .await
                    .map_err(map_err)?;
            }
            Ok::<(), Error>(())
        })?;
        tx.commit().await?;
        self.org_by_id(id).await
    }

    pub async fn org_by_slug(&self, slug: &str) -> Result<Organization> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE lower(slug) = lower($1)");
        let row: OrgRow = on_db!(self, |p| sqlx::query_as(&sql).bind(slug).fetch_one(p).await).map_err(map_err)?;
        row.try_into()
    }

    pub async fn org_by_id(&self, id: Uuid) -> Result<Organization> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1");
        let row: OrgRow = on_db!(self, |p| sqlx::query_as(&sql).bind(id).fetch_one(p).await).map_err(map_err)?;
        row.try_into()
    }

    pub async fn list_orgs(&self) -> Result<Vec<Organization>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations ORDER BY slug");
        let rows: Vec<OrgRow> = on_db!(self, |p| sqlx::query_as(&sql).fetch_all(p).await).map_err(map_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Stores already-validated settings (see `settings::validate`).
    pub async fn update_settings(&self, org_id: Uuid, s: &OrgSettings, now: DateTime<Utc>) -> Result<()> {
        let done = on_db!(self, |p| sqlx::query(
            "UPDATE organizations SET jit_creation = $2, hide_password_login = $3, \
             default_sso_role = $4, profile_sync = $5, ms_id_as_external_id = $6, updated_at = $7 \
             WHERE id = $1",
        )
        .bind(org_id)
        .bind(s.jit_creation)
        .bind(s.hide_password_login)
        .bind(s.default_sso_role)
        .bind(s.profile_sync.as_str())
        .bind(s.ms_id_as_external_id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        if done == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}
