//! What admins send to create or change a user (admin API and CLI), parsed
//! into store values or refused with the field and the reason. Directory
//! locks (SPEC §8) are enforced here so every admin path shares them.

use serde::{Deserialize, Deserializer};

use crate::model::{Language, OrgCatalogs, Source, User, UserStatus, DIRECTORY_LOCKED_FIELDS};
use crate::store::users::NewUser;

/// A refusal naming the field. `Locked` maps to 409, `Invalid` to 422.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    Invalid { field: &'static str, reason: String },
    Locked { field: &'static str, reason: String },
}

impl From<FieldError> for crate::web::error::Error {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Invalid { field, reason } => crate::web::error::Error::invalid(field, reason),
            FieldError::Locked { field, reason } => crate::web::error::Error::conflict(field, reason),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError::Invalid {
        field,
        reason: reason.into(),
    }
}

pub fn check_username(s: &str) -> Result<String, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(invalid("username", "must not be empty"));
    }
    if s.chars().count() > 255 {
        return Err(invalid("username", "must be at most 255 characters"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("username", "must not contain spaces or control characters"));
    }
    Ok(s.to_string())
}

pub fn check_email(s: &str) -> Result<String, FieldError> {
    let s = s.trim();
    let shaped = match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }
        None => false,
    };
    if !shaped || s.len() > 320 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("email", "must be an email address like name@example.com"));
    }
    Ok(s.to_string())
}

fn check_text(field: &'static str, s: Option<String>) -> Result<Option<String>, FieldError> {
    match s.map(|v| v.trim().to_string()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > 255 => Err(invalid(field, "must be at most 255 characters")),
        Some(v) if v.chars().any(char::is_control) => Err(invalid(field, "must not contain control characters")),
        other => Ok(other),
    }
}

fn check_language(s: &str) -> Result<Language, FieldError> {
    Language::parse_folding(s).ok_or_else(|| invalid("language", "must be one of en, fr, es, de, nl, pt"))
}

fn check_role(code: i32, lists: &OrgCatalogs) -> Result<i32, FieldError> {
    if lists.roles.contains(&code) {
        Ok(code)
    } else {
        let known: Vec<String> = lists.roles.iter().map(i32::to_string).collect();
        Err(invalid(
            "role",
            format!("{code} is not in the role catalog ({})", known.join(", ")),
        ))
    }
}

fn check_group(g: Option<String>, lists: &OrgCatalogs) -> Result<Option<String>, FieldError> {
    match g.filter(|g| !g.is_empty()) {
        Some(g) if !lists.groups.contains(&g) => {
            Err(invalid("staff_group", format!("no staff group with external id {g:?}")))
        }
        other => Ok(other),
    }
}

fn check_locations(locs: Vec<String>, lists: &OrgCatalogs) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for l in locs {
        if !lists.locations.contains(&l) {
            return Err(invalid("locations", format!("no location with external id {l:?}")));
        }
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out.sort();
    Ok(out)
}

pub fn check_password(p: &str) -> Result<String, FieldError> {
    crate::password::check_strength(p).map_err(|r| invalid("password", r))?;
    crate::password::hash(p).map_err(|e| invalid("password", format!("cannot be hashed: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub job_title: Option<String>,
    pub language: Option<String>,
    pub role: Option<i32>,
    pub staff_group: Option<String>,
    #[serde(default)]
    pub locations: Vec<String>,
    pub password: Option<String>,
}

/// An admin-created user: source `local`, `pending` until first sign-in.
pub fn parse_new_user(req: NewUserRequest, lists: &OrgCatalogs) -> Result<NewUser, FieldError> {
    Ok(NewUser {
        username: check_username(&req.username)?,
        email: check_email(&req.email)?,
        first_name: check_text("first_name", req.first_name)?,
        last_name: check_text("last_name", req.last_name)?,
        display_name: check_text("display_name", req.display_name)?,
        external_id: check_text("external_id", req.external_id)?,
        job_title: check_text("job_title", req.job_title)?,
        language: match req.language {
            Some(l) => check_language(&l)?,
            None => Language::En,
        },
        role: check_role(req.role.unwrap_or(crate::model::DEFAULT_ROLE), lists)?,
        staff_group: check_group(req.staff_group, lists)?,
        locations: check_locations(req.locations, lists)?,
        status: UserStatus::Pending,
        source: Source::Local,
        directory_object_id: None,
        password_hash: req.password.as_deref().map(check_password).transpose()?,
    })
}

/// `Some(None)` = set to null; `None` = leave unchanged.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub job_title: Option<Option<String>>,
    pub language: Option<String>,
    pub role: Option<i32>,
    #[serde(default, deserialize_with = "nullable")]
    pub staff_group: Option<Option<String>>,
    pub locations: Option<Vec<String>>,
    pub status: Option<String>,
}

const LOCK_REASON: &str =
    "this user is managed by directory sync; change it in Entra ID (the directory owns this field)";

/// Applies an admin's change. Refuses directory-locked fields (409) only
/// when the value would actually change, so a client may send back the
/// whole object it read.
pub fn apply_patch(user: &User, patch: UserPatch, lists: &OrgCatalogs) -> Result<User, FieldError> {
    let mut next = user.clone();
    if let Some(v) = patch.username {
        next.username = check_username(&v)?;
    }
    if let Some(v) = patch.email {
        next.email = check_email(&v)?;
    }
    if let Some(v) = patch.first_name {
        next.first_name = check_text("first_name", v)?;
    }
    if let Some(v) = patch.last_name {
        next.last_name = check_text("last_name", v)?;
    }
    if let Some(v) = patch.display_name {
        next.display_name = check_text("display_name", v)?;
    }
    if let Some(v) = patch.external_id {
        next.external_id = check_text("external_id", v)?;
    }
    if let Some(v) = patch.job_title {
        next.job_title = check_text("job_title", v)?;
    }
    if let Some(v) = patch.language {
        next.language = check_language(&v)?;
    }
    if let Some(v) = patch.role {
        next.role = check_role(v, lists)?;
    }
    if let Some(v) = patch.staff_group {
        next.staff_group = check_group(v, lists)?;
    }
    if let Some(v) = patch.locations {
        next.locations = check_locations(v, lists)?;
    }
    if let Some(v) = patch.status {
        next.status = match v.as_str() {
            "active" => UserStatus::Active,
            "archived" => UserStatus::Archived,
            _ => return Err(invalid("status", "must be active or archived")),
        };
    }
    if user.directory_locked() {
        let changed = [
            ("first_name", user.first_name != next.first_name),
            ("last_name", user.last_name != next.last_name),
            ("email", user.email != next.email),
            ("job_title", user.job_title != next.job_title),
        ];
        for (field, differs) in changed {
            if differs {
                debug_assert!(DIRECTORY_LOCKED_FIELDS.contains(&field));
                return Err(FieldError::Locked {
                    field,
                    reason: LOCK_REASON.to_string(),
                });
            }
        }
        if user.status != UserStatus::Archived && next.status == UserStatus::Archived {
            return Err(archive_locked());
        }
    }
    Ok(next)
}

fn archive_locked() -> FieldError {
    FieldError::Locked {
        field: "status",
        reason: "this user is synced from the directory and cannot be archived here; remove them from the synced group in Entra ID".to_string(),
    }
}
