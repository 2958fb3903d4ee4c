//! Domain types shared by the store, the rules and the web layer. Plain data:
//! no sqlx, no HTTP. Enums parse from and print to the exact strings stored
//! in the database and used in the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::rules::claims::Language;
pub use crate::rules::ownership::{ProfileSync, Source};

/// Seeded role catalog (SPEC §1). Higher is more privilege.
pub const SEEDED_ROLES: &[(i32, &str)] = &[
    (10, "Staff"),
    (20, "Staff Advanced"),
    (30, "Location Manager"),
    (40, "Administrator"),
];
pub const ADMIN_ROLE: i32 = 40;
pub const DEFAULT_ROLE: i32 = 10;

#[derive(Clone, Debug, Serialize)]
pub struct Organization {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub settings: OrgSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// SPEC §5. Values here are always valid: they are parsed at the edge
/// (`web::admin_api`, the CLI) and checked against the role catalog before
/// they are stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrgSettings {
    pub jit_creation: bool,
    pub hide_password_login: bool,
    pub default_sso_role: i32,
    pub profile_sync: ProfileSync,
    pub ms_id_as_external_id: bool,
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            jit_creation: false,
            hide_password_login: false,
            default_sso_role: DEFAULT_ROLE,
            profile_sync: ProfileSync::Import,
            ms_id_as_external_id: false,
        }
    }
}

/// A change to settings: `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub jit_creation: Option<bool>,
    pub hide_password_login: Option<bool>,
    pub default_sso_role: Option<i32>,
    pub profile_sync: Option<String>,
    pub ms_id_as_external_id: Option<bool>,
}

impl SettingsPatch {
    pub fn apply(&self, current: &OrgSettings) -> OrgSettings {
        OrgSettings {
            jit_creation: self.jit_creation.unwrap_or(current.jit_creation),
            hide_password_login: self.hide_password_login.unwrap_or(current.hide_password_login),
            default_sso_role: self.default_sso_role.unwrap_or(current.default_sso_role),
            profile_sync: self
                .profile_sync
                .as_deref()
                .and_then(ProfileSync::parse)
                .unwrap_or(current.profile_sync),
            ms_id_as_external_id: self.ms_id_as_external_id.unwrap_or(current.ms_id_as_external_id),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Archived,
    /// Created but never logged in (invite pending).
    Pending,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Archived => "archived",
            UserStatus::Pending => "pending",
        }
    }
    pub fn parse(s: &str) -> Option<UserStatus> {
        match s {
            "active" => Some(UserStatus::Active),
            "archived" => Some(UserStatus::Archived),
            "pending" => Some(UserStatus::Pending),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub job_title: Option<String>,
    pub language: Language,
    pub role: i32,
    /// External id of the staff group, if any.
    pub staff_group: Option<String>,
    /// External ids of the user's locations, sorted.
    pub locations: Vec<String>,
    pub status: UserStatus,
    pub source: Source,
    pub directory_object_id: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role >= ADMIN_ROLE && self.status != UserStatus::Archived
    }

    /// SPEC §8: a user managed by directory sync has first name, last name,
    /// email and job title locked against editing in the app.
    pub fn directory_locked(&self) -> bool {
        self.source == Source::Directory
    }
}

pub const DIRECTORY_LOCKED_FIELDS: &[&str] = &["first_name", "last_name", "email", "job_title"];

#[derive(Clone, Debug, Serialize)]
pub struct Role {
    pub code: i32,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Location {
    pub id: Uuid,
    pub external_id: String,
    pub name: String,
}

/// Staff groups have the same shape as locations.
pub type StaffGroup = Location;

/// What an organization's catalogs hold, as the rules and validators read
/// them: role codes, role mapping, location and staff-group external ids.
#[derive(Clone, Debug, Default)]
pub struct OrgCatalogs {
    pub roles: std::collections::BTreeSet<i32>,
    pub role_mapping: std::collections::BTreeMap<String, i32>,
    pub locations: std::collections::BTreeSet<String>,
    pub groups: std::collections::BTreeSet<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RoleMapping {
    pub external_role: String,
    pub role_code: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyScope {
    Admin,
    Scim,
}

impl ApiKeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyScope::Admin => "admin",
            ApiKeyScope::Scim => "scim",
        }
    }
    pub fn parse(s: &str) -> Option<ApiKeyScope> {
        match s {
            "admin" => Some(ApiKeyScope::Admin),
            "scim" => Some(ApiKeyScope::Scim),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub org_id: Uuid,
    pub scope: ApiKeyScope,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Password,
    Saml,
    Oidc,
    RecoveryLink,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::Saml => "saml",
            LoginMethod::Oidc => "oidc",
            LoginMethod::RecoveryLink => "recovery_link",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

/// SPEC §10: one login attempt, whatever the method.
#[derive(Clone, Debug, Serialize)]
pub struct LoginEvent {
    pub id: Uuid,
    pub org_id: Uuid,
    pub connection_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub method: String,
    pub outcome: String,
    pub reason: String,
    pub subject: Option<String>,
    pub attempted_login: Option<String>,
    pub client_ip: Option<String>,
    /// Claims received, match rule, fields changed, role step, warnings.
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}
