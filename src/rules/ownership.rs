//! SPEC §3 field table: which profile fields an SSO login may write.
//!
//! | field | `directory` | `local` | `sso` + `import` | `sso` + `force` |
//! |---|---|---|---|---|
//! | role | §4 (`roles.rs`) | §4 | §4 | §4 |
//! | names, display name, job title, language, external id | never | never | never | when present |
//! | email, username | never | never | never | when present and not taken |
//! | locations, group | never | never | never | present → replace; present-but-empty → clear |
//!
//! WHY so strict: the user table is shared with directory sync (§8, §9) and the
//! admins. Whoever created a user owns its profile; SSO only refreshes the users it
//! created itself, and only when the org asked for it (`force`).
//!
//! "When present" includes present-but-empty for the optional text fields
//! (first/last/display name, job title, external id): an explicit empty claim
//! clears them, as §2 says it does for `locations` and `group`. Fields that cannot
//! be empty — email, username, language — are left unchanged by an empty claim.

use std::collections::BTreeSet;

use serde::Serialize;

use super::claims::{Claim, Claims, Language};
use super::{code, shown, Warning};

/// Who created the user, and so who owns its profile (§1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Created by an admin or by password sign-up.
    Local,
    /// Created just-in-time by an SSO login.
    Sso,
    /// Created or claimed by directory sync (Graph or SCIM).
    Directory,
}

impl Source {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Sso => "sso",
            Source::Directory => "directory",
        }
    }

    /// The inverse of `as_str` (exact, lowercase).
    pub fn parse(value: &str) -> Option<Source> {
        match value {
            "local" => Some(Source::Local),
            "sso" => Some(Source::Sso),
            "directory" => Some(Source::Directory),
            _ => None,
        }
    }
}

/// The org's *profile sync* setting (§3, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileSync {
    /// Claims are used at creation only (the default).
    #[default]
    Import,
    /// SSO-created users are refreshed from claims at every login.
    Force,
}

impl ProfileSync {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileSync::Import => "import",
            ProfileSync::Force => "force",
        }
    }

    /// The inverse of `as_str` (exact, lowercase).
    pub fn parse(value: &str) -> Option<ProfileSync> {
        match value {
            "import" => Some(ProfileSync::Import),
            "force" => Some(ProfileSync::Force),
            _ => None,
        }
    }
}

/// The SSO-writable part of a user (§1), as plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub job_title: Option<String>,
    pub language: Language,
    /// Location external ids, sorted (a set: order carries no meaning).
    pub locations: Vec<String>,
    /// The staff group's external id.
    pub group: Option<String>,
}

/// The org's known location and staff-group external ids (§1): §2 says unknown
/// ids are ignored with a warning, never created.
#[derive(Debug, Clone, Copy)]
pub struct OrgCatalog<'a> {
    pub locations: &'a BTreeSet<String>,
    pub groups: &'a BTreeSet<String>,
}

/// Whether the claimed username/email already belong to *another* user of the
/// org (the caller checks, case-insensitively, as the unique constraints do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    pub username_by_other: bool,
    pub email_by_other: bool,
}

/// One field the login changes, old → new, for the login event (§10).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// What [`plan_update`] allows, to be applied in the sign-in transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdatePlan {
    /// The profile after the login (equal to the current one when nothing changes).
    pub new_profile: Profile,
    /// Only fields whose value actually differs.
    pub changes: Vec<FieldChange>,
    /// Why the profile was or was not refreshed, for the login event: answers
    /// "why didn't Bob's name change" without reading this file.
    pub policy: &'static str,
    pub warnings: Vec<Warning>,
}

/// Why a just-in-time creation is refused (§3 "No user found").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "refusal", content = "claim", rename_all = "snake_case")]
pub enum CreateRefusal {
    /// A claim required at creation is missing; the page names it (§2: `email`;
    /// `username` after its default).
    MissingClaim(&'static str),
    /// `"username"` or `"email"` already belongs to another user (unique per org, §1).
    Taken(&'static str),
}

impl std::fmt::Display for CreateRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateRefusal::MissingClaim(claim) => {
                write!(f, "the identity provider did not send the required claim `{claim}`")
            }
            CreateRefusal::Taken(field) => {
                write!(f, "another user of this organization already has this {field}")
            }
        }
    }
}

impl std::error::Error for CreateRefusal {}

const POLICY_FORCE: &str = "sso user with profile sync `force`: present claims refresh the profile";
const POLICY_IMPORT: &str = "sso user with profile sync `import`: claims are used at creation only; profile unchanged";
const POLICY_LOCAL: &str = "local user: SSO only updates the role; profile unchanged";
const POLICY_DIRECTORY: &str = "directory user: SSO only updates the role; profile unchanged";

/// §2 `locations` against the org's catalog: known ids sorted, unknown ones
/// reported. `None` when the claim named only unknown ids.
fn known_locations(ids: &[String], catalog: &OrgCatalog, warnings: &mut Vec<Warning>) -> Option<Vec<String>> {
    let mut known = BTreeSet::new();
    for id in ids {
        if catalog.locations.contains(id) {
            known.insert(id.clone());
        } else {
            warnings.push(Warning::new(
                code::UNKNOWN_LOCATION,
                format!(
                    "location {} is not one of the organization's locations; ignored",
                    shown(id)
                ),
            ));
        }
    }
    (!known.is_empty()).then(|| known.into_iter().collect())
}

/// §2 `group` against the catalog: `None` (with a warning) when unknown.
fn known_group(id: &str, catalog: &OrgCatalog, warnings: &mut Vec<Warning>) -> Option<String> {
    if catalog.groups.contains(id) {
        Some(id.to_owned())
    } else {
        warnings.push(Warning::new(
            code::UNKNOWN_GROUP,
            format!(
                "staff group {} is not one of the organization's groups; ignored",
                shown(id)
            ),
        ));
        None
    }
}

fn text(value: &Option<String>) -> serde_json::Value {
    value.as_deref().map_or(serde_json::Value::Null, |v| v.into())
}

/// Records `field` as changed when, and only when, its value differs.
fn record<T: PartialEq>(
    changes: &mut Vec<FieldChange>,
    field: &'static str,
    old: &T,
    new: &T,
    json: impl Fn(&T) -> serde_json::Value,
) {
    if old != new {
        changes.push(FieldChange {
            field,
            old: json(old),
            new: json(new),
        });
    }
}

/// An optional text field under "when present": a value sets, empty clears.
fn optional_text(current: &Option<String>, claim: &Claim<String>) -> Option<String> {
    match claim {
        Claim::Absent => current.clone(),
        Claim::Empty => None,
        Claim::Present(value) => Some(value.clone()),
    }
}

/// Email/username under "when present and not taken" (§3).
fn unique_text(
    field: &'static str,
    current: &str,
    claim: &Claim<String>,
    taken_by_other: bool,
    warnings: &mut Vec<Warning>,
) -> String {
    match claim {
        Claim::Absent => current.to_owned(),
        Claim::Empty => {
            warnings.push(Warning::new(
                code::EMPTY_REQUIRED_CLAIM,
                format!("{field} claim is present but empty; a user's {field} cannot be cleared"),
            ));
            current.to_owned()
        }
        Claim::Present(value) if value == current => current.to_owned(),
        Claim::Present(value) if taken_by_other => {
            let warning_code = if field == "email" {
                code::EMAIL_TAKEN
            } else {
                code::USERNAME_TAKEN
            };
            warnings.push(Warning::new(
                warning_code,
                format!(
                    "{field} {} already belongs to another user; kept {}",
                    shown(value),
                    shown(current)
                ),
            ));
            current.to_owned()
        }
        Claim::Present(value) => value.clone(),
    }
}

/// §3 "User found": the changes SSO may make to an existing user's profile.
/// The role is not here: §4 applies to every source (`roles::resolve`).
pub fn plan_update(
    source: Source,
    sync: ProfileSync,
    current: &Profile,
    claims: &Claims,
    catalog: &OrgCatalog,
    taken: &Taken,
) -> UpdatePlan {
    let unchanged = |policy| UpdatePlan {
        new_profile: current.clone(),
        changes: Vec::new(),
        policy,
        warnings: Vec::new(),
    };
    // §3: every "never" cell. Claims are not even judged, so a directory user's
    // unknown location raises no warning: nothing was going to use it.
    match (source, sync) {
        (Source::Sso, ProfileSync::Force) => {}
        (Source::Sso, ProfileSync::Import) => return unchanged(POLICY_IMPORT),
        (Source::Local, _) => return unchanged(POLICY_LOCAL),
        (Source::Directory, _) => return unchanged(POLICY_DIRECTORY),
    }

    let mut warnings = Vec::new();
    let language = match &claims.language {
        Claim::Present(language) => *language,
        Claim::Absent | Claim::Empty => current.language,
    };
    let locations = match &claims.locations {
        Claim::Absent => current.locations.clone(),
        Claim::Empty => Vec::new(),
        // All ids unknown: leave them be rather than wipe every location on a typo.
        Claim::Present(ids) => {
            known_locations(ids, catalog, &mut warnings).unwrap_or_else(|| current.locations.clone())
        }
    };
    let group = match &claims.group {
        Claim::Absent => current.group.clone(),
        Claim::Empty => None,
        Claim::Present(id) => known_group(id, catalog, &mut warnings).or_else(|| current.group.clone()),
    };
    let new_profile = Profile {
        username: unique_text(
            "username",
            &current.username,
            &claims.username,
            taken.username_by_other,
            &mut warnings,
        ),
        email: unique_text(
            "email",
            &current.email,
            &claims.email,
            taken.email_by_other,
            &mut warnings,
        ),
        first_name: optional_text(&current.first_name, &claims.first_name),
        last_name: optional_text(&current.last_name, &claims.last_name),
        display_name: optional_text(&current.display_name, &claims.display_name),
        external_id: optional_text(&current.external_id, &claims.external_id),
        job_title: optional_text(&current.job_title, &claims.job_title),
        language,
        locations,
        group,
    };

    let old = current;
    let new = &new_profile;
    let mut changes = Vec::new();
    let string = |v: &String| serde_json::Value::from(v.as_str());
    record(&mut changes, "username", &old.username, &new.username, string);
    record(&mut changes, "email", &old.email, &new.email, string);
    record(&mut changes, "first_name", &old.first_name, &new.first_name, text);
    record(&mut changes, "last_name", &old.last_name, &new.last_name, text);
    record(&mut changes, "display_name", &old.display_name, &new.display_name, text);
    record(&mut changes, "external_id", &old.external_id, &new.external_id, text);
    record(&mut changes, "job_title", &old.job_title, &new.job_title, text);
    record(&mut changes, "language", &old.language, &new.language, |l| {
        l.code().into()
    });
    record(&mut changes, "locations", &old.locations, &new.locations, |ids| {
        ids.clone().into()
    });
    record(&mut changes, "group", &old.group, &new.group, text);

    UpdatePlan {
        new_profile,
        changes,
        policy: POLICY_FORCE,
        warnings,
    }
}

/// §3 "No user found", JIT on: the new `sso` user's profile, every claim applied
/// with §2's defaults (language `en`; optional fields empty). Refused when a
/// required claim is missing (email first, then username, so the page names the
/// one the admin most likely forgot) or already taken by another user.
pub fn plan_create(
    claims: &Claims,
    catalog: &OrgCatalog,
    taken: &Taken,
) -> Result<(Profile, Vec<Warning>), CreateRefusal> {
    let email = claims.email.as_present().ok_or(CreateRefusal::MissingClaim("email"))?;
    let username = claims
        .username
        .as_present()
        .ok_or(CreateRefusal::MissingClaim("username"))?;
    if taken.username_by_other {
        return Err(CreateRefusal::Taken("username"));
    }
    if taken.email_by_other {
        return Err(CreateRefusal::Taken("email"));
    }

    let mut warnings = Vec::new();
    let locations = match &claims.locations {
        Claim::Present(ids) => known_locations(ids, catalog, &mut warnings).unwrap_or_default(),
        Claim::Absent | Claim::Empty => Vec::new(),
    };
    let group = match &claims.group {
        Claim::Present(id) => known_group(id, catalog, &mut warnings),
        Claim::Absent | Claim::Empty => None,
    };
    let profile = Profile {
        username: username.clone(),
        email: email.clone(),
        first_name: claims.first_name.as_present().cloned(),
        last_name: claims.last_name.as_present().cloned(),
        display_name: claims.display_name.as_present().cloned(),
        external_id: claims.external_id.as_present().cloned(),
        job_title: claims.job_title.as_present().cloned(),
        language: claims.language.as_present().copied().unwrap_or_default(),
        locations,
        group,
    };
    Ok((profile, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const SOURCES: [Source; 3] = [Source::Directory, Source::Local, Source::Sso];
    const SYNCS: [ProfileSync; 2] = [ProfileSync::Import, ProfileSync::Force];

    fn set(values: &[&str]) -> BTreeSet<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    struct Org {
        locations: BTreeSet<String>,
        groups: BTreeSet<String>,
    }

    impl Org {
        fn new() -> Self {
            Org {
                locations: set(&["L1", "L2", "L3", "L4"]),
                groups: set(&["G1", "G2"]),
            }
        }

        fn catalog(&self) -> OrgCatalog<'_> {
            OrgCatalog {
                locations: &self.locations,
                groups: &self.groups,
            }
        }
    }

    fn some(value: &str) -> Option<String> {
        Some(value.to_owned())
    }

    fn present(value: &str) -> Claim<String> {
        Claim::Present(value.to_owned())
    }

    /// A user with every field filled, so every claim has something to change.
    fn current() -> Profile {
        Profile {
            username: "ann".into(),
            email: "ann@old.example".into(),
            first_name: some("Ann"),
            last_name: some("Lee"),
            display_name: some("Ann Lee"),
            external_id: some("E-1"),
            job_title: some("Nurse"),
            language: Language::En,
            locations: vec!["L1".into(), "L2".into()],
            group: some("G1"),
        }
    }

    /// `plan_update` on [`current`] with the test org's catalog.
    fn update(source: Source, sync: ProfileSync, claims: &Claims, taken: &Taken) -> UpdatePlan {
        let org = Org::new();
        plan_update(source, sync, &current(), claims, &org.catalog(), taken)
    }

    /// Claims that differ from [`current`] in every field.
    fn all_different() -> Claims {
        Claims {
            first_name: present("Annie"),
            last_name: present("Li"),
            display_name: present("Annie Li"),
            email: present("annie@new.example"),
            external_id: present("E-2"),
            job_title: present("Head Nurse"),
            language: Claim::Present(Language::Fr),
            locations: Claim::Present(vec!["L3".into()]),
            role: present("30"),
            group: present("G2"),
            username: present("annie"),
            external_role_ids: vec!["Managers".into()],
            email_verified: None,
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum State {
        Absent,
        Empty,
        Present,
    }

    const FIELDS: [&str; 10] = [
        "first_name",
        "last_name",
        "display_name",
        "job_title",
        "language",
        "external_id",
        "email",
        "username",
        "locations",
        "group",
    ];

    /// Claims where only `field` is in `state` (present = the value from
    /// [`all_different`]); everything else absent.
    fn claims_with(field: &str, state: State) -> Claims {
        let full = all_different();
        let mut claims = Claims::default();
        fn pick<T: Clone>(state: State, present: &Claim<T>) -> Claim<T> {
            match state {
                State::Absent => Claim::Absent,
                State::Empty => Claim::Empty,
                State::Present => present.clone(),
            }
        }
        match field {
            "first_name" => claims.first_name = pick(state, &full.first_name),
            "last_name" => claims.last_name = pick(state, &full.last_name),
            "display_name" => claims.display_name = pick(state, &full.display_name),
            "job_title" => claims.job_title = pick(state, &full.job_title),
            "language" => claims.language = pick(state, &full.language),
            "external_id" => claims.external_id = pick(state, &full.external_id),
            "email" => claims.email = pick(state, &full.email),
            "username" => claims.username = pick(state, &full.username),
            "locations" => claims.locations = pick(state, &full.locations),
            "group" => claims.group = pick(state, &full.group),
            other => panic!("no field {other}"),
        }
        claims
    }

    fn json_of(profile: &Profile) -> Value {
        serde_json::to_value(profile).unwrap_or(Value::Null)
    }

    /// §3's table, cell by cell, as (field, sso+force outcome for each state).
    /// Every other column is "never": the profile is unchanged.
    fn force_outcome(field: &str, state: State) -> Value {
        let old = json_of(&current())[field].clone();
        let new = json_of(&Profile {
            first_name: some("Annie"),
            last_name: some("Li"),
            display_name: some("Annie Li"),
            job_title: some("Head Nurse"),
            language: Language::Fr,
            external_id: some("E-2"),
            email: "annie@new.example".into(),
            username: "annie".into(),
            locations: vec!["L3".into()],
            group: some("G2"),
        })[field]
            .clone();
        match (field, state) {
            (_, State::Absent) => old,
            // "when present": present sets…
            (_, State::Present) => new,
            // …present-but-empty clears what can be empty,
            ("locations", State::Empty) => json!([]),
            ("first_name" | "last_name" | "display_name" | "job_title" | "external_id" | "group", State::Empty) => {
                Value::Null
            }
            // …and leaves what cannot (email, username, language).
            (_, State::Empty) => old,
        }
    }

    #[test]
    fn every_cell_of_the_field_table() {
        let mut cells = 0;
        for field in FIELDS {
            for source in SOURCES {
                for sync in SYNCS {
                    for state in [State::Absent, State::Empty, State::Present] {
                        cells += 1;
                        let claims = claims_with(field, state);
                        let plan = update(source, sync, &claims, &Taken::default());
                        let refreshes = source == Source::Sso && sync == ProfileSync::Force;
                        let old = json_of(&current())[field].clone();
                        let expected = if refreshes {
                            force_outcome(field, state)
                        } else {
                            old.clone()
                        };

                        let label = format!("{field} {source:?} {sync:?} {state:?}");
                        let mut expected_profile = json_of(&current());
                        expected_profile[field] = expected.clone();
                        assert_eq!(json_of(&plan.new_profile), expected_profile, "{label}");

                        let expected_changes = if expected == old {
                            vec![]
                        } else {
                            vec![FieldChange {
                                field,
                                old,
                                new: expected,
                            }]
                        };
                        assert_eq!(plan.changes, expected_changes, "{label}");

                        let expected_codes: Vec<&str> = match (refreshes, field, state) {
                            (true, "email" | "username", State::Empty) => {
                                vec![code::EMPTY_REQUIRED_CLAIM]
                            }
                            _ => vec![],
                        };
                        let codes: Vec<&str> = plan.warnings.iter().map(|w| w.code).collect();
                        assert_eq!(codes, expected_codes, "{label}");
                    }
                }
            }
        }
        assert_eq!(cells, 180);
    }

    #[test]
    fn policy_explains_each_column() {
        let cases = [
            (Source::Directory, ProfileSync::Import, POLICY_DIRECTORY),
            (Source::Directory, ProfileSync::Force, POLICY_DIRECTORY),
            (Source::Local, ProfileSync::Import, POLICY_LOCAL),
            (Source::Local, ProfileSync::Force, POLICY_LOCAL),
            (Source::Sso, ProfileSync::Import, POLICY_IMPORT),
            (Source::Sso, ProfileSync::Force, POLICY_FORCE),
        ];
        for (source, sync, policy) in cases {
            let plan = update(source, sync, &all_different(), &Taken::default());
            assert_eq!(plan.policy, policy, "{source:?} {sync:?}");
        }
    }

    #[test]
    fn email_and_username_are_only_taken_when_free() {
        // (username taken, email taken, expected username, expected email, warnings)
        #[rustfmt::skip]
        let cases: &[(bool, bool, &str, &str, &[&str])] = &[
            (false, false, "annie", "annie@new.example", &[]),
            (true, false, "ann", "annie@new.example", &[code::USERNAME_TAKEN]),
            (false, true, "annie", "ann@old.example", &[code::EMAIL_TAKEN]),
            (true, true, "ann", "ann@old.example", &[code::USERNAME_TAKEN, code::EMAIL_TAKEN]),
        ];
        for (username_taken, email_taken, username, email, expected_codes) in cases {
            let taken = Taken {
                username_by_other: *username_taken,
                email_by_other: *email_taken,
            };
            let claims = Claims {
                username: present("annie"),
                email: present("annie@new.example"),
                ..Claims::default()
            };
            let plan = update(Source::Sso, ProfileSync::Force, &claims, &taken);
            assert_eq!(plan.new_profile.username, *username);
            assert_eq!(plan.new_profile.email, *email);
            let codes: Vec<&str> = plan.warnings.iter().map(|w| w.code).collect();
            assert_eq!(codes, expected_codes.to_vec(), "{username_taken} {email_taken}");
            let changed: Vec<&str> = plan.changes.iter().map(|c| c.field).collect();
            let mut expected_changed = vec![];
            if !username_taken {
                expected_changed.push("username");
            }
            if !email_taken {
                expected_changed.push("email");
            }
            assert_eq!(changed, expected_changed);
        }
        // The user's own, unchanged value is never "taken", whatever the caller says.
        let claims = Claims {
            email: present("ann@old.example"),
            ..Claims::default()
        };
        let taken = Taken {
            username_by_other: true,
            email_by_other: true,
        };
        let plan = update(Source::Sso, ProfileSync::Force, &claims, &taken);
        assert_eq!(plan.changes, vec![]);
        assert_eq!(plan.warnings, vec![]);
    }

    #[test]
    fn a_directory_user_keeps_every_field_whatever_the_claims_say() {
        let mut claims = all_different();
        claims.locations = Claim::Present(vec!["L3".into(), "NOPE".into()]);
        claims.group = present("NOPE");
        for sync in SYNCS {
            let plan = update(Source::Directory, sync, &claims, &Taken::default());
            assert_eq!(plan.new_profile, current(), "{sync:?}");
            assert_eq!(plan.changes, vec![], "{sync:?}");
            assert_eq!(plan.warnings, vec![], "{sync:?}");
        }
        // The role still changes: §4 applies to every source.
        let mapping = [("Managers".to_owned(), 30)].into_iter().collect();
        let catalog = [10, 20, 30, 40].into_iter().collect();
        let decision = super::super::roles::resolve(&super::super::roles::RoleInput {
            external_role_ids: &claims.external_role_ids,
            role_claim: &claims.role,
            relay_state: None,
            idp_initiated_saml: false,
            relay_state_roles_enabled: false,
            relay_state_ceiling: 20,
            role_mapping: &mapping,
            catalog: &catalog,
            existing_role: Some(10),
            default_sso_role: 10,
        });
        assert_eq!(decision.role, 30);
        assert_eq!(decision.step, super::super::roles::RoleStep::ExternalRoleId);
    }

    #[test]
    fn force_refreshes_an_sso_user_but_not_into_someone_elses_email() {
        let taken = Taken {
            username_by_other: false,
            email_by_other: true,
        };
        let plan = update(Source::Sso, ProfileSync::Force, &all_different(), &taken);
        let expected = Profile {
            username: "annie".into(),
            email: "ann@old.example".into(),
            first_name: some("Annie"),
            last_name: some("Li"),
            display_name: some("Annie Li"),
            external_id: some("E-2"),
            job_title: some("Head Nurse"),
            language: Language::Fr,
            locations: vec!["L3".into()],
            group: some("G2"),
        };
        assert_eq!(plan.new_profile, expected);
        let changed: Vec<&str> = plan.changes.iter().map(|c| c.field).collect();
        assert_eq!(
            changed,
            vec![
                "username",
                "first_name",
                "last_name",
                "display_name",
                "external_id",
                "job_title",
                "language",
                "locations",
                "group"
            ]
        );
        assert_eq!(plan.warnings.len(), 1);
        assert_eq!(plan.warnings[0].code, code::EMAIL_TAKEN);
        assert!(plan.warnings[0].detail.contains("annie@new.example"));
        assert_eq!(
            plan.changes[7],
            FieldChange {
                field: "locations",
                old: json!(["L1", "L2"]),
                new: json!(["L3"]),
            }
        );
        assert_eq!(
            plan.changes[6],
            FieldChange {
                field: "language",
                old: json!("en"),
                new: json!("fr"),
            }
        );
    }

    #[test]
    fn import_mode_leaves_an_sso_user_alone() {
        let plan = update(Source::Sso, ProfileSync::Import, &all_different(), &Taken::default());
        assert_eq!(plan.new_profile, current());
        assert_eq!(plan.changes, vec![]);
    }

    #[test]
    fn empty_locations_and_group_clear_for_sso_force_only() {
        let claims = Claims {
            locations: Claim::Empty,
            group: Claim::Empty,
            ..Claims::default()
        };
        let plan = update(Source::Sso, ProfileSync::Force, &claims, &Taken::default());
        assert_eq!(plan.new_profile.locations, Vec::<String>::new());
        assert_eq!(plan.new_profile.group, None);
        assert_eq!(
            plan.changes,
            vec![
                FieldChange {
                    field: "locations",
                    old: json!(["L1", "L2"]),
                    new: json!([]),
                },
                FieldChange {
                    field: "group",
                    old: json!("G1"),
                    new: Value::Null,
                },
            ]
        );
        for source in [Source::Directory, Source::Local] {
            for sync in SYNCS {
                let plan = update(source, sync, &claims, &Taken::default());
                assert_eq!(plan.new_profile, current(), "{source:?} {sync:?}");
                assert_eq!(plan.changes, vec![], "{source:?} {sync:?}");
            }
        }
        let plan = update(Source::Sso, ProfileSync::Import, &claims, &Taken::default());
        assert_eq!(plan.new_profile, current());
    }

    #[test]
    fn unknown_location_and_group_ids_are_ignored_with_a_warning() {
        // (locations claim, group claim, expected locations, expected group, warnings)
        type Case<'a> = (
            &'a [&'a str],
            Option<&'a str>,
            &'a [&'a str],
            Option<&'a str>,
            &'a [&'a str],
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // Replaced by the known ids, sorted; the unknown one reported.
            (&["L4", "NOPE", "L3"], None, &["L3", "L4"], Some("G1"), &[code::UNKNOWN_LOCATION]),
            // Only unknown ids: kept as they were rather than wiped by a typo.
            (&["X", "Y"], None, &["L1", "L2"], Some("G1"), &[code::UNKNOWN_LOCATION, code::UNKNOWN_LOCATION]),
            // Ids are exact: the catalog's case is the id.
            (&["l3"], None, &["L1", "L2"], Some("G1"), &[code::UNKNOWN_LOCATION]),
            (&["L2", "L1"], None, &["L1", "L2"], Some("G1"), &[]),
            (&[], Some("NOPE"), &["L1", "L2"], Some("G1"), &[code::UNKNOWN_GROUP]),
            (&[], Some("g2"), &["L1", "L2"], Some("G1"), &[code::UNKNOWN_GROUP]),
            (&[], Some("G2"), &["L1", "L2"], Some("G2"), &[]),
        ];
        for (locations, group, expected_locations, expected_group, expected_codes) in cases {
            let claims = Claims {
                locations: if locations.is_empty() {
                    Claim::Absent
                } else {
                    Claim::Present(locations.iter().map(|l| (*l).to_owned()).collect())
                },
                group: group.map_or(Claim::Absent, present),
                ..Claims::default()
            };
            let plan = update(Source::Sso, ProfileSync::Force, &claims, &Taken::default());
            let label = format!("{locations:?} {group:?}");
            assert_eq!(plan.new_profile.locations, expected_locations.to_vec(), "{label}");
            assert_eq!(plan.new_profile.group.as_deref(), *expected_group, "{label}");
            let codes: Vec<&str> = plan.warnings.iter().map(|w| w.code).collect();
            assert_eq!(codes, expected_codes.to_vec(), "{label}");
            // Unchanged fields are not recorded as changes (["L2","L1"] sorts to the same set).
            if *expected_locations == ["L1", "L2"] {
                assert!(plan.changes.iter().all(|c| c.field != "locations"), "{label}");
            }
        }
    }

    #[test]
    fn present_but_equal_values_record_no_change() {
        let org = Org::new();
        let c = current();
        let claims = Claims {
            first_name: present("Ann"),
            last_name: present("Lee"),
            display_name: present("Ann Lee"),
            email: present("ann@old.example"),
            external_id: present("E-1"),
            job_title: present("Nurse"),
            language: Claim::Present(Language::En),
            locations: Claim::Present(vec!["L2".into(), "L1".into()]),
            role: Claim::Absent,
            group: present("G1"),
            username: present("ann"),
            external_role_ids: vec![],
            email_verified: None,
        };
        let plan = plan_update(
            Source::Sso,
            ProfileSync::Force,
            &c,
            &claims,
            &org.catalog(),
            &Taken::default(),
        );
        assert_eq!(plan.new_profile, c);
        assert_eq!(plan.changes, vec![]);
        assert_eq!(plan.warnings, vec![]);
        // A change of case is a change (the IdP owns the spelling).
        let claims = Claims {
            email: present("Ann@Old.example"),
            ..Claims::default()
        };
        let plan = plan_update(
            Source::Sso,
            ProfileSync::Force,
            &c,
            &claims,
            &org.catalog(),
            &Taken::default(),
        );
        assert_eq!(plan.changes.len(), 1);
    }

    #[test]
    fn create_applies_every_claim() {
        let org = Org::new();
        let (profile, warnings) = match plan_create(&all_different(), &org.catalog(), &Taken::default()) {
            Ok(created) => created,
            Err(refusal) => panic!("refused: {refusal}"),
        };
        assert_eq!(
            profile,
            Profile {
                username: "annie".into(),
                email: "annie@new.example".into(),
                first_name: some("Annie"),
                last_name: some("Li"),
                display_name: some("Annie Li"),
                external_id: some("E-2"),
                job_title: some("Head Nurse"),
                language: Language::Fr,
                locations: vec!["L3".into()],
                group: some("G2"),
            }
        );
        assert_eq!(warnings, vec![]);
    }

    #[test]
    fn create_defaults_and_refusals() {
        let org = Org::new();
        let minimal = Claims {
            email: present("ann@x.org"),
            username: present("ann"),
            ..Claims::default()
        };
        let minimal_profile = Profile {
            username: "ann".into(),
            email: "ann@x.org".into(),
            language: Language::En,
            ..Profile::default()
        };
        let with = |f: &dyn Fn(&mut Claims)| {
            let mut claims = minimal.clone();
            f(&mut claims);
            claims
        };
        let no_taken = Taken::default();
        type Expected = Result<(Profile, Vec<&'static str>), CreateRefusal>;
        let cases: Vec<(&str, Claims, Taken, Expected)> = vec![
            (
                "minimal: defaults",
                minimal.clone(),
                no_taken,
                Ok((minimal_profile.clone(), vec![])),
            ),
            (
                "empty optional claims create empty fields",
                with(&|c| {
                    c.first_name = Claim::Empty;
                    c.job_title = Claim::Empty;
                    c.language = Claim::Empty;
                    c.locations = Claim::Empty;
                    c.group = Claim::Empty;
                }),
                no_taken,
                Ok((minimal_profile.clone(), vec![])),
            ),
            (
                "unknown locations and group dropped",
                with(&|c| {
                    c.locations = Claim::Present(vec!["L2".into(), "NOPE".into(), "L1".into()]);
                    c.group = present("NOPE");
                }),
                no_taken,
                Ok((
                    Profile {
                        locations: vec!["L1".into(), "L2".into()],
                        ..minimal_profile.clone()
                    },
                    vec![code::UNKNOWN_LOCATION, code::UNKNOWN_GROUP],
                )),
            ),
            (
                "only unknown locations: none",
                with(&|c| c.locations = Claim::Present(vec!["NOPE".into()])),
                no_taken,
                Ok((minimal_profile.clone(), vec![code::UNKNOWN_LOCATION])),
            ),
            (
                "email absent",
                with(&|c| c.email = Claim::Absent),
                no_taken,
                Err(CreateRefusal::MissingClaim("email")),
            ),
            (
                "email empty",
                with(&|c| c.email = Claim::Empty),
                no_taken,
                Err(CreateRefusal::MissingClaim("email")),
            ),
            (
                "username absent",
                with(&|c| c.username = Claim::Absent),
                no_taken,
                Err(CreateRefusal::MissingClaim("username")),
            ),
            (
                "both absent: email named first",
                with(&|c| {
                    c.username = Claim::Absent;
                    c.email = Claim::Absent;
                }),
                no_taken,
                Err(CreateRefusal::MissingClaim("email")),
            ),
            (
                "username taken",
                minimal.clone(),
                Taken {
                    username_by_other: true,
                    email_by_other: false,
                },
                Err(CreateRefusal::Taken("username")),
            ),
            (
                "email taken",
                minimal.clone(),
                Taken {
                    username_by_other: false,
                    email_by_other: true,
                },
                Err(CreateRefusal::Taken("email")),
            ),
            (
                "missing beats taken",
                with(&|c| c.email = Claim::Absent),
                Taken {
                    username_by_other: true,
                    email_by_other: true,
                },
                Err(CreateRefusal::MissingClaim("email")),
            ),
        ];
        for (label, claims, taken, expected) in cases {
            let got = plan_create(&claims, &org.catalog(), &taken)
                .map(|(profile, warnings)| (profile, warnings.iter().map(|w| w.code).collect::<Vec<_>>()));
            assert_eq!(got, expected, "{label}");
        }
    }

    #[test]
    fn refusals_name_the_claim() {
        assert!(CreateRefusal::MissingClaim("email").to_string().contains("`email`"));
        assert!(CreateRefusal::Taken("username").to_string().contains("username"));
        assert_eq!(
            serde_json::to_value(CreateRefusal::MissingClaim("email")).ok(),
            Some(json!({"refusal": "missing_claim", "claim": "email"}))
        );
    }

    #[test]
    fn source_and_profile_sync_round_trip() {
        for source in SOURCES {
            assert_eq!(Source::parse(source.as_str()), Some(source));
            assert_eq!(serde_json::to_value(source).ok(), Some(json!(source.as_str())));
        }
        for sync in SYNCS {
            assert_eq!(ProfileSync::parse(sync.as_str()), Some(sync));
            assert_eq!(serde_json::to_value(sync).ok(), Some(json!(sync.as_str())));
        }
        assert_eq!(Source::parse("SSO"), None);
        assert_eq!(Source::parse("scim"), None);
        assert_eq!(ProfileSync::parse("Force"), None);
        assert_eq!(ProfileSync::default(), ProfileSync::Import);
    }
}
