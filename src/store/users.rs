//! The shared user table (SPEC §1). Every writer — admin API, password
//! sign-up, SSO, directory sync — goes through these methods; the rules that
//! decide *what* may change live in `rules/`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{map_err, Db, Error, Result, Tx};
use crate::model::{Language, Source, User, UserStatus};
use crate::{on_db, on_tx};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    org_id: Uuid,
    username: String,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    external_id: Option<String>,
    job_title: Option<String>,
    language: String,
    role: i32,
    staff_group: Option<String>,
    status: String,
    source: String,
    directory_object_id: Option<String>,
    password_hash: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

impl UserRow {
    fn into_user(self, locations: Vec<String>) -> Result<User> {
        Ok(User {
            language: Language::parse_folding(&self.language)
                .ok_or_else(|| Error::Corrupt(format!("language {:?}", self.language)))?,
            status: UserStatus::parse(&self.status)
                .ok_or_else(|| Error::Corrupt(format!("status {:?}", self.status)))?,
            source: Source::parse(&self.source).ok_or_else(|| Error::Corrupt(format!("source {:?}", self.source)))?,
            id: self.id,
            org_id: self.org_id,
            username: self.username,
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            display_name: self.display_name,
            external_id: self.external_id,
            job_title: self.job_title,
            role: self.role,
            staff_group: self.staff_group,
            locations,
            directory_object_id: self.directory_object_id,
            password_hash: self.password_hash,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
        })
    }
}

const USER_SELECT: &str = "SELECT u.id, u.org_id, u.username, u.email, u.first_name, u.last_name, \
     u.display_name, u.external_id, u.job_title, u.language, u.role, g.external_id AS staff_group, \
     u.status, u.source, u.directory_object_id, u.password_hash, u.created_at, u.updated_at, \
     u.last_login_at FROM users u LEFT JOIN staff_groups g ON g.id = u.staff_group_id";

/// Everything needed to create a user. Validation (role in catalog, known
/// group/locations, shapes of username and email) happens before this.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub job_title: Option<String>,
    pub language: Language,
    pub role: i32,
    pub staff_group: Option<String>,
    pub locations: Vec<String>,
    pub status: UserStatus,
    pub source: Source,
    pub directory_object_id: Option<String>,
    pub password_hash: Option<String>,
}

/// A page of users with the total that matched.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UserPage {
    pub total: i64,
    pub users: Vec<User>,
}

#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// Case-insensitive substring of username, email, names or display name.
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// Escapes LIKE metacharacters so a search for "a_b" finds exactly that.
fn like_pattern(s: &str) -> String {
    let mut out = String::from("%");
    for ch in s.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

impl Tx {
    pub async fn insert_user(&mut self, org_id: Uuid, u: &NewUser, now: DateTime<Utc>) -> Result<Uuid> {
        let id = Uuid::new_v4();
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO users (id, org_id, username, email, first_name, last_name, display_name, \
             external_id, job_title, language, role, staff_group_id, status, source, \
             directory_object_id, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             (SELECT id FROM staff_groups WHERE org_id = $2 AND external_id = $12), \
             $13, $14, $15, $16, $17, $17)"
        )
        .bind(id)
        .bind(org_id)
        .bind(&u.username)
        .bind(&u.email)
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&u.display_name)
        .bind(&u.external_id)
        .bind(&u.job_title)
        .bind(u.language.code())
        .bind(u.role)
        .bind(&u.staff_group)
        .bind(u.status.as_str())
        .bind(u.source.as_str())
        .bind(&u.directory_object_id)
        .bind(&u.password_hash)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        self.replace_locations(org_id, id, &u.locations).await?;
        Ok(id)
    }

    /// Writes every profile field of `u` (the caller computed the new value
    /// under the ownership rules). Password and timestamps of sign-in are
    /// written by their own methods.
    pub async fn update_user(&mut self, u: &User, now: DateTime<Utc>) -> Result<()> {
        let n = on_tx!(self, |c| sqlx::query(
            "UPDATE users SET username = $3, email = $4, first_name = $5, last_name = $6, \
             display_name = $7, external_id = $8, job_title = $9, language = $10, role = $11, \
             staff_group_id = (SELECT id FROM staff_groups WHERE org_id = $2 AND external_id = $12), \
             status = $13, source = $14, directory_object_id = $15, updated_at = $16 \
             WHERE id = $1 AND org_id = $2"
        )
        .bind(u.id)
        .bind(u.org_id)
        .bind(&u.username)
        .bind(&u.email)
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&u.display_name)
        .bind(&u.external_id)
        .bind(&u.job_title)
        .bind(u.language.code())
        .bind(u.role)
        .bind(&u.staff_group)
        .bind(u.status.as_str())
        .bind(u.source.as_str())
        .bind(&u.directory_object_id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        self.replace_locations(u.org_id, u.id, &u.locations).await
    }

    async fn replace_locations(&mut self, org_id: Uuid, user_id: Uuid, locations: &[String]) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM user_locations WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *c)
                .await
                .map_err(map_err)?;
            for ext in locations {
                sqlx::query(
                    "INSERT INTO user_locations (user_id, location_id) \
                     SELECT $1, id FROM locations WHERE org_id = $2 AND external_id = $3",
                )
                .bind(user_id)
                .bind(org_id)
                .bind(ext)
                .execute(&mut *c)
                .await
                .map_err(map_err)?;
            }
            Ok::<(), Error>(())
        })
    }

    /// A successful sign-in: last-login time, and a pending user becomes active.
    pub async fn record_sign_in(&mut self, org_id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE users SET last_login_at = $3, \
             status = CASE WHEN status = 'pending' THEN 'active' ELSE status END \
             WHERE id = $1 AND org_id = $2"
        )
        .bind(user_id)
        .bind(org_id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(())
    }

    pub async fn user_by_id(&mut self, org_id: Uuid, id: Uuid) -> Result<User> {
        let sql = format!("{USER_SELECT} WHERE u.org_id = $1 AND u.id = $2");
        let row: UserRow = on_tx!(self, |c| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(id)
            .fetch_one(&mut *c)
            .await)
        .map_err(map_err)?;
        let locations = on_tx!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT l.external_id FROM user_locations ul JOIN locations l ON l.id = ul.location_id \
             WHERE ul.user_id = $1 ORDER BY l.external_id"
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await)
        .map_err(map_err)?;
        row.into_user(locations)
    }
}

impl Db {
    pub async fn create_user(&self, org_id: Uuid, u: &NewUser, now: DateTime<Utc>) -> Result<User> {
        let mut tx = self.begin().await?;
        let id = tx.insert_user(org_id, u, now).await?;
        let user = tx.user_by_id(org_id, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn save_user(&self, u: &User, now: DateTime<Utc>) -> Result<User> {
        let mut tx = self.begin().await?;
        tx.update_user(u, now).await?;
        let user = tx.user_by_id(u.org_id, u.id).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn set_password_hash(&self, org_id: Uuid, user_id: Uuid, hash: &str, now: DateTime<Utc>) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "UPDATE users SET password_hash = $3, updated_at = $4 WHERE id = $1 AND org_id = $2"
        )
        .bind(user_id)
        .bind(org_id)
        .bind(hash)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(map_err)?;
        Ok(())
    }

    pub async fn user(&self, org_id: Uuid, id: Uuid) -> Result<User> {
        let sql = format!("{USER_SELECT} WHERE u.org_id = $1 AND u.id = $2");
        let row: Option<UserRow> = on_db!(self, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(id)
            .fetch_optional(p)
            .await)
        .map_err(map_err)?;
        let row = row.ok_or(Error::NotFound)?;
        self.attach_locations(vec![row]).await?.pop().ok_or(Error::NotFound)
    }

    /// Case-insensitive lookup by username (SPEC §1: unique per org ignoring case).
    pub async fn user_by_username(&self, org_id: Uuid, username: &str) -> Result<Option<User>> {
        self.user_where(org_id, "lower(u.username) = lower($2)", username).await
    }

    pub async fn user_by_email(&self, org_id: Uuid, email: &str) -> Result<Option<User>> {
        self.user_where(org_id, "lower(u.email) = lower($2)", email).await
    }

    async fn user_where(&self, org_id: Uuid, cond: &str, value: &str) -> Result<Option<User>> {
        let sql = format!("{USER_SELECT} WHERE u.org_id = $1 AND {cond}");
        let row: Option<UserRow> = on_db!(self, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(value)
            .fetch_optional(p)
            .await)
        .map_err(map_err)?;
        match row {
            Some(row) => Ok(self.attach_locations(vec![row]).await?.pop()),
            None => Ok(None),
        }
    }

    pub async fn list_users(&self, org_id: Uuid, q: &UserQuery) -> Result<UserPage> {
        // Every placeholder is always used so the statement is the same on
        // both backends; "%" and NULL make the filters pass-through.
        let cond = "u.org_id = $1 \
             AND (lower(u.username) LIKE $2 ESCAPE '\\' OR lower(u.email) LIKE $2 ESCAPE '\\' \
             OR lower(coalesce(u.first_name, '')) LIKE $2 ESCAPE '\\' \
             OR lower(coalesce(u.last_name, '')) LIKE $2 ESCAPE '\\' \
             OR lower(coalesce(u.display_name, '')) LIKE $2 ESCAPE '\\') \
             AND ($3 IS NULL OR u.status = $3)";
        let pattern = q.search.as_deref().filter(|s| !s.is_empty()).map(like_pattern);
        let pattern = pattern.unwrap_or_else(|| "%".to_string());
        let status = q.status.map(|s| s.as_str().to_string());
        let count_sql = format!("SELECT COUNT(*) FROM users u WHERE {cond}");
        let list_sql = format!("{USER_SELECT} WHERE {cond} ORDER BY lower(u.username), u.id LIMIT $4 OFFSET $5");
        let total: i64 = on_db!(self, |p| sqlx::query_scalar(&count_sql)
            .bind(org_id)
            .bind(&pattern)
            .bind(&status)
            .fetch_one(p)
            .await)
        .map_err(map_err)?;
        let rows: Vec<UserRow> = on_db!(self, |p| sqlx::query_as(&list_sql)
            .bind(org_id)
            .bind(&pattern)
            .bind(&status)
            .bind(q.limit)
            .bind(q.offset)
            .fetch_all(p)
            .await)
        .map_err(map_err)?;
        Ok(UserPage {
            total,
            users: self.attach_locations(rows).await?,
        })
    }

    /// Loads the locations of a batch of users with one query.
    async fn attach_locations(&self, rows: Vec<UserRow>) -> Result<Vec<User>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=rows.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT ul.user_id, l.external_id FROM user_locations ul \
             JOIN locations l ON l.id = ul.location_id WHERE ul.user_id IN ({}) \
             ORDER BY l.external_id",
            placeholders.join(", ")
        );
        let pairs: Vec<(Uuid, String)> = on_db!(self, |p| {
            let mut query = sqlx::query_as(&sql);
            for r in &rows {
                query = query.bind(r.id);
            }
            query.fetch_all(p).await
        })
        .map_err(map_err)?;
        let mut by_user: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
        for (user_id, ext) in pairs {
            by_user.entry(user_id).or_default().push(ext);
        }
        rows.into_iter()
            .map(|r| {
                let locs = by_user.remove(&r.id).unwrap_or_default();
                r.into_user(locs)
            })
            .collect()
    }
}
