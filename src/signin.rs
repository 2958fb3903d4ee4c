//! The one entry point every SSO protocol hands its verified identity to
//! (SPEC §3, §4, §10; DESIGN "The flow of a sign-in").
//!
//! It gathers what the pure rules need (one query per §3 lookup, the org's
//! catalogs), lets `rules::*` decide, and applies the decision in a single
//! transaction: create or update the user, link the identity, record the
//! sign-in and the login event. A refusal writes only its login event.
//!
//! Two simultaneous first logins of one person: both may decide "create";
//! the database's unique indexes (username, email, identity link) let one
//! commit and make the other fail, and the loser starts over, now finding
//! the user by its link. No process-local lock, so it holds across
//! instances.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::login_events;
use crate::model::{LoginMethod, Organization, Outcome as EventOutcome, User, UserStatus};
use crate::rules::claims::{self, NormalizeInput, Protocol, RawClaims};
use crate::rules::matching::{self, Candidates, MatchRule};
use crate::rules::ownership::{self, CreateRefusal, OrgCatalog, Profile, Source, Taken};
use crate::rules::roles::{self, RoleDecision, RoleInput};
use crate::rules::Warning;
use crate::store::events::NewEvent;
use crate::store::users::NewUser;
use crate::store::{self, Db};

/// What a protocol proved: produced only after every protocol check passed.
#[derive(Clone, Debug)]
pub struct VerifiedIdentity {
    pub connection_id: Uuid,
    pub protocol: Protocol,
    /// SAML: the NameID (with its format, `format|value`); OIDC: `iss|sub`,
    /// or `tid|oid` for Entra ID (its `sub` is pairwise per app registration).
    pub subject: String,
    /// The NameID value or the OIDC `sub`, used for §2 defaults.
    pub subject_value: String,
    pub raw_claims: RawClaims,
    /// IdP-initiated SAML only: the unsigned RelayState, for the §4 rule.
    pub relay_state: Option<String>,
    pub idp_initiated: bool,
    /// What the protocol layer noticed (Entra group overage), for the event.
    pub warnings: Vec<Warning>,
}

/// The connection settings that shape a sign-in (from its stored config).
#[derive(Clone, Debug, Default)]
pub struct ConnectionPolicy {
    pub attribute_overrides: BTreeMap<String, String>,
    /// OIDC: email domains whose addresses are trusted for matching (§3).
    pub verified_domains: Vec<String>,
    pub relay_state_roles: bool,
    pub relay_state_ceiling: i32,
}

/// Why a sign-in was refused: the login event's reason code and the page's
/// sentence. Pages never say more than the sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

#[derive(Clone, Debug)]
pub enum Outcome {
    SignedIn { user: Box<User>, event_id: Uuid },
    Refused { refusal: Refusal, event_id: Uuid },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("sign-in kept colliding with concurrent writers after {0} attempts")]
    Contention(usize),
}

/// Values are kept for the admin ("why is Bob Staff Advanced?"), within a
/// byte budget so a hostile or broken IdP cannot bloat the events table, and
/// so the rest of the event (match, changes, role) always fits under the
/// store's cap.
fn claims_for_event(raw: &RawClaims) -> Value {
    const BUDGET: usize = 16 * 1024;
    const MAX_VALUES: usize = 32;
    const MAX_CHARS: usize = 512;
    let mut out = serde_json::Map::new();
    let mut used = 0;
    let mut left_out = 0;
    for (name, values) in raw {
        let name: String = name.chars().take(MAX_CHARS).collect();
        let kept: Vec<Value> = values
            .iter()
            .take(MAX_VALUES)
            .map(|v| Value::String(v.chars().take(MAX_CHARS).collect()))
            .collect();
        let size = name.len() + kept.iter().map(|v| v.as_str().map_or(0, str::len) + 4).sum::<usize>();
        if used + size > BUDGET {
            left_out += 1;
            continue;
        }
        used += size;
        out.insert(name, Value::Array(kept));
    }
    if left_out > 0 {
        out.insert("_attributes_left_out".into(), json!(left_out));
    }
    Value::Object(out)
}

fn protocol_method(p: Protocol) -> LoginMethod {
    match p {
        Protocol::Saml => LoginMethod::Saml,
        Protocol::Oidc => LoginMethod::Oidc,
    }
}

fn profile_of(u: &User) -> Profile {
    Profile {
        username: u.username.clone(),
        email: u.email.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        display_name: u.display_name.clone(),
        external_id: u.external_id.clone(),
        job_title: u.job_title.clone(),
        language: u.language,
        locations: u.locations.clone(),
        group: u.staff_group.clone(),
    }
}

fn with_profile(u: &User, p: Profile, role: i32) -> User {
    User {
        username: p.username,
        email: p.email,
        first_name: p.first_name,
        last_name: p.last_name,
        display_name: p.display_name,
        external_id: p.external_id,
        job_title: p.job_title,
        language: p.language,
        locations: p.locations,
        staff_group: p.group,
        role,
        ..u.clone()
    }
}

fn role_detail(d: &RoleDecision) -> Value {
    json!({ "role": d.role, "step": d.step.as_str(), "notes": d.notes })
}

/// Everything the event records beyond outcome and reason.
struct Detail {
    protocol: Protocol,
    claims: Value,
    matched: Option<(Uuid, MatchRule)>,
    created: bool,
    changes: Vec<ownership::FieldChange>,
    policy: Option<&'static str>,
    role: Option<Value>,
    warnings: Vec<Warning>,
    relay_state: Option<String>,
}

impl Detail {
    fn to_json(&self) -> Value {
        json!({
            "protocol": match self.protocol { Protocol::Saml => "saml", Protocol::Oidc => "oidc" },
            "claims": self.claims,
            "match": self.matched.map(|(id, rule)| json!({ "user_id": id, "rule": rule.as_str() })),
            "created": self.created,
            "changes": self.changes,
            "profile_policy": self.policy,
            "role": self.role,
            "warnings": self.warnings,
            "relay_state": self.relay_state,
        })
    }
}

const ATTEMPTS: usize = 3;

/// Signs a verified identity in to `org`, or refuses it; either way one
/// login event is written.
pub async fn sign_in(
    db: &Db,
    org: &Organization,
    policy: &ConnectionPolicy,
    identity: &VerifiedIdentity,
    client_ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    for _ in 0..ATTEMPTS {
        match attempt(db, org, policy, identity, client_ip.clone(), now).await {
            Err(Error::Store(store::Error::Conflict(field))) => {
                // A concurrent sign-in (possibly on another instance) wrote
                // first; start over and see what it wrote.
                tracing::debug!(field, "sign-in collided with a concurrent writer; retrying");
                continue;
            }
            other => return other,
        }
    }
    Err(Error::Contention(ATTEMPTS))
}

async fn attempt(
    db: &Db,
    org: &Organization,
    policy: &ConnectionPolicy,
    identity: &VerifiedIdentity,
    client_ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let (claims, normalize_warnings) = claims::normalize(&NormalizeInput {
        raw: &identity.raw_claims,
        protocol: identity.protocol,
        subject: &identity.subject_value,
        overrides: &policy.attribute_overrides,
        ms_id_as_external_id: org.settings.ms_id_as_external_id,
    });
    let mut warnings = identity.warnings.clone();
    warnings.extend(normalize_warnings);
    let data = db.org_catalogs(org.id).await?;
    let catalog = OrgCatalog {
        locations: &data.locations,
        groups: &data.groups,
    };

    // §3: one query per rule; the pure `pick` decides.
    let by_username = match claims.username.as_present() {
        Some(u) => db.user_by_username(org.id, u).await?.map(|u| u.id),
        None => None,
    };
    let by_email = match claims.email.as_present() {
        Some(e) => db.user_by_email(org.id, e).await?.map(|u| u.id),
        None => None,
    };
    let candidates = Candidates {
        by_link: db
            .linked_user(org.id, identity.connection_id, &identity.subject)
            .await?,
        by_external_id: match claims.external_id.as_present() {
            Some(x) => db.user_id_by_external_id(org.id, x).await?,
            None => None,
        },
        by_username,
        by_email,
    };
    let email_trusted = claims.email.as_present().is_some_and(|e| {
        matching::email_trusted(identity.protocol, claims.email_verified, e, &policy.verified_domains)
    });
    let decision = matching::pick(&candidates, email_trusted);
    warnings.extend(decision.warnings.iter().cloned());

    let mut detail = Detail {
        protocol: identity.protocol,
        claims: claims_for_event(&identity.raw_claims),
        matched: decision.matched,
        created: false,
        changes: Vec::new(),
        policy: None,
        role: None,
        warnings,
        relay_state: identity.relay_state.clone(),
    };
    let mut event = NewEvent {
        org_id: org.id,
        connection_id: Some(identity.connection_id),
        user_id: decision.matched.map(|(id, _)| id),
        method: protocol_method(identity.protocol),
        outcome: EventOutcome::Failure,
        reason: String::new(),
        subject: Some(identity.subject.clone()),
        attempted_login: None,
        client_ip,
        detail: Value::Null,
    };
    let role_input = |existing: Option<i32>| RoleInput {
        external_role_ids: &claims.external_role_ids,
        role_claim: &claims.role,
        relay_state: identity.relay_state.as_deref(),
        idp_initiated_saml: identity.idp_initiated && identity.protocol == Protocol::Saml,
        relay_state_roles_enabled: policy.relay_state_roles,
        relay_state_ceiling: policy.relay_state_ceiling,
        role_mapping: &data.role_mapping,
        catalog: &data.roles,
        existing_role: existing,
        default_sso_role: org.settings.default_sso_role,
    };

    if let Some((user_id, _rule)) = decision.matched {
        let user = db.user(org.id, user_id).await?;
        if user.status == UserStatus::Archived {
            // §3: the directory, not SSO, reactivates users.
            let refusal = Refusal {
                reason: "user_archived",
                message: "Your account here is archived. Ask your administrator.".into(),
            };
            return refuse(db, event, detail, refusal, now).await;
        }
        let taken = Taken {
            username_by_other: candidates.by_username.is_some_and(|id| id != user.id),
            email_by_other: candidates.by_email.is_some_and(|id| id != user.id),
        };
        let plan = ownership::plan_update(
            user.source,
            org.settings.profile_sync,
            &profile_of(&user),
            &claims,
            &catalog,
            &taken,
        );
        let role = roles::resolve(&role_input(Some(user.role)));
        detail.warnings.extend(plan.warnings.iter().cloned());
        detail.warnings.extend(role.warnings.iter().cloned());
        detail.changes = plan.changes.clone();
        if role.role != user.role {
            detail.changes.push(ownership::FieldChange {
                field: "role",
                old: json!(user.role),
                new: json!(role.role),
            });
        }
        detail.policy = Some(plan.policy);
        detail.role = Some(role_detail(&role));
        let next = with_profile(&user, plan.new_profile, role.role);

        let mut tx = db.begin().await?;
        if !detail.changes.is_empty() {
            tx.update_user(&next, now).await?;
        }
        tx.link_identity(org.id, identity.connection_id, &identity.subject, user.id, now)
            .await?;
        tx.record_sign_in(org.id, user.id, now).await?;
        event.outcome = EventOutcome::Success;
        event.reason = "signed_in".into();
        event.detail = detail.to_json();
        let event_id = tx.insert_event(&event, now).await?;
        let signed_in = tx.user_by_id(org.id, user.id).await?;
        tx.commit().await?;
        login_events::count(&event);
        return Ok(Outcome::SignedIn {
            user: Box::new(signed_in),
            event_id,
        });
    }

    if !org.settings.jit_creation {
        let refusal = Refusal {
            reason: "jit_disabled",
            message: "There is no account for you here. Ask your administrator to give you access.".into(),
        };
        return refuse(db, event, detail, refusal, now).await;
    }
    let taken = Taken {
        username_by_other: candidates.by_username.is_some(),
        email_by_other: candidates.by_email.is_some(),
    };
    let (profile, create_warnings) = match ownership::plan_create(&claims, &catalog, &taken) {
        Ok(p) => p,
        Err(CreateRefusal::MissingClaim(claim)) => {
            let refusal = Refusal {
                reason: "missing_claim",
                message: format!(
                    "Your identity provider did not send the `{claim}` claim, which is needed to create your account. Ask your administrator to add it."
                ),
            };
            return refuse(db, event, detail, refusal, now).await;
        }
        Err(CreateRefusal::Taken(field)) => {
            let reason = if field == "username" {
                "username_taken"
            } else {
                "email_taken"
            };
            let refusal = Refusal {
                reason,
                message: format!(
                    "Another account here already uses your {field}. Ask your administrator to link them."
                ),
            };
            return refuse(db, event, detail, refusal, now).await;
        }
    };
    let role = roles::resolve(&role_input(None));
    detail.warnings.extend(create_warnings);
    detail.warnings.extend(role.warnings.iter().cloned());
    detail.role = Some(role_detail(&role));
    detail.created = true;
    let new_user = NewUser {
        username: profile.username,
        email: profile.email,
        first_name: profile.first_name,
        last_name: profile.last_name,
        display_name: profile.display_name,
        external_id: profile.external_id,
        job_title: profile.job_title,
        language: profile.language,
        role: role.role,
        staff_group: profile.group,
        locations: profile.locations,
        status: UserStatus::Active,
        source: Source::Sso,
        directory_object_id: None,
        password_hash: None,
    };
    let mut tx = db.begin().await?;
    let user_id = tx.insert_user(org.id, &new_user, now).await?;
    if !tx
        .link_identity(org.id, identity.connection_id, &identity.subject, user_id, now)
        .await?
    {
        // Someone linked this subject between our read and our write.
        return Err(Error::Store(store::Error::Conflict("identity_link")));
    }
    tx.record_sign_in(org.id, user_id, now).await?;
    detail.matched = None;
    event.user_id = Some(user_id);
    event.outcome = EventOutcome::Success;
    event.reason = "created".into();
    event.detail = detail.to_json();
    let event_id = tx.insert_event(&event, now).await?;
    let user = tx.user_by_id(org.id, user_id).await?;
    tx.commit().await?;
    login_events::count(&event);
    Ok(Outcome::SignedIn {
        user: Box::new(user),
        event_id,
    })
}

async fn refuse(
    db: &Db,
    mut event: NewEvent,
    detail: Detail,
    refusal: Refusal,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    event.reason = refusal.reason.to_string();
    event.detail = detail.to_json();
    event.detail["message"] = json!(refusal.message);
    let event_id = login_events::record(db, &event, now).await?;
    Ok(Outcome::Refused { refusal, event_id })
}
