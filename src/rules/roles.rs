//! SPEC §4: which role a login gives the user, decided at every successful login
//! for every user source (the one field §3 lets SSO change on any user).
//!
//! Steps, in order; the first that yields a role *in the catalog* wins:
//! 1. `externalRoleId` values through the role mapping (highest wins);
//! 2. the `role` claim;
//! 3. a RelayState rule (IdP-initiated SAML only, opt-in, never above the ceiling);
//! 4. nothing: default role for a new user, keep the role of an existing one.
//!
//! Each step evaluated leaves a [`StepNote`] saying why it did or did not decide,
//! so the login event answers "why is Bob a Staff Advanced" (§10).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::claims::Claim;
use super::{code, shown, Warning};

/// Everything §4 needs, from the claims, the login and the org/connection settings.
#[derive(Debug, Clone, Copy)]
pub struct RoleInput<'a> {
    /// Every `externalRoleId` value (§2).
    pub external_role_ids: &'a [String],
    /// The raw `role` claim (§2: must be a code in the catalog).
    pub role_claim: &'a Claim<String>,
    /// The RelayState received with the response, if any.
    pub relay_state: Option<&'a str>,
    /// True only for an unsolicited (IdP-initiated) SAML response: in SP-initiated
    /// flows the RelayState is our own opaque key (§6), never a role.
    pub idp_initiated_saml: bool,
    /// The connection's opt-in to RelayState roles (§4).
    pub relay_state_roles_enabled: bool,
    /// The connection's relay-state role ceiling (default 20).
    pub relay_state_ceiling: i32,
    /// The org's role mapping: external role name (case-sensitive) → role code (§1).
    pub role_mapping: &'a BTreeMap<String, i32>,
    /// The org's role catalog codes.
    pub catalog: &'a BTreeSet<i32>,
    /// The user's current role; `None` for a user being created.
    pub existing_role: Option<i32>,
    /// The org's default SSO role (default 10).
    pub default_sso_role: i32,
}

/// The §4 step that set the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleStep {
    /// 1. `externalRoleId` through the role mapping.
    ExternalRoleId,
    /// 2. the `role` claim.
    RoleClaim,
    /// 3. a RelayState rule.
    RelayState,
    /// 4. a new user: the org's default SSO role.
    Default,
    /// 4. an existing user: the role is kept.
    Kept,
}

impl RoleStep {
    /// The name recorded in the login event (§10).
    pub fn as_str(self) -> &'static str {
        match self {
            RoleStep::ExternalRoleId => "external_role_id",
            RoleStep::RoleClaim => "role_claim",
            RoleStep::RelayState => "relay_state",
            RoleStep::Default => "default",
            RoleStep::Kept => "kept",
        }
    }
}

/// Why one step did or did not decide (§4: "the login event records which step
/// decided the role and why others did not").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepNote {
    pub step: RoleStep,
    pub outcome: String,
}

/// The role to store, the step that chose it, and the reasoning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleDecision {
    pub role: i32,
    pub step: RoleStep,
    /// One note per step evaluated, in order; the last is the deciding step.
    pub notes: Vec<StepNote>,
    pub warnings: Vec<Warning>,
}

/// Collects notes and warnings as the steps run.
struct Trail {
    notes: Vec<StepNote>,
    warnings: Vec<Warning>,
}

impl Trail {
    fn note(&mut self, step: RoleStep, outcome: String) {
        self.notes.push(StepNote { step, outcome });
    }

    fn warn(&mut self, code: &'static str, detail: String) {
        self.warnings.push(Warning::new(code, detail));
    }
}

/// Step 1: every value looked up, case-sensitively; the highest mapped role in the
/// catalog wins (§2: "several values: the highest mapped role wins").
fn by_external_role_ids(input: &RoleInput, trail: &mut Trail) -> Option<i32> {
    let step = RoleStep::ExternalRoleId;
    if input.external_role_ids.is_empty() {
        trail.note(step, "no externalRoleId claim".into());
        return None;
    }
    let mut best: Option<(i32, &str)> = None;
    for id in input.external_role_ids {
        match input.role_mapping.get(id) {
            None => trail.warn(
                code::UNMAPPED_EXTERNAL_ROLE,
                format!("externalRoleId {} is not in the role mapping; ignored", shown(id)),
            ),
            Some(role) if !input.catalog.contains(role) => trail.warn(
                code::UNKNOWN_ROLE_CODE,
                format!(
                    "externalRoleId {} maps to role {role}, which is not in the role catalog; ignored",
                    shown(id)
                ),
            ),
            Some(role) => {
                if best.is_none_or(|(highest, _)| *role > highest) {
                    best = Some((*role, id));
                }
            }
        }
    }
    match best {
        Some((role, id)) => {
            trail.note(
                step,
                format!(
                    "externalRoleId {} maps to role {role}, the highest mapped role",
                    shown(id)
                ),
            );
            Some(role)
        }
        None => {
            trail.note(
                step,
                format!(
                    "none of the {} externalRoleId value(s) maps to a role in the catalog",
                    input.external_role_ids.len()
                ),
            );
            None
        }
    }
}

/// Step 2: the `role` claim, an integer code that must be in the catalog.
fn by_role_claim(input: &RoleInput, trail: &mut Trail) -> Option<i32> {
    let step = RoleStep::RoleClaim;
    let value = match input.role_claim {
        Claim::Absent => {
            trail.note(step, "no role claim".into());
            return None;
        }
        // Not a code, but not a mistake either: nothing was asked for.
        Claim::Empty => {
            trail.note(step, "role claim present but empty".into());
            return None;
        }
        Claim::Present(value) => value,
    };
    match value.trim().parse::<i32>() {
        Ok(role) if input.catalog.contains(&role) => {
            trail.note(step, format!("role claim {role} is in the role catalog"));
            Some(role)
        }
        _ => {
            let detail = format!("role claim {} is not a role code in the catalog; ignored", shown(value));
            trail.note(step, detail.clone());
            trail.warn(code::UNKNOWN_ROLE_CODE, detail);
            None
        }
    }
}

/// Step 3: the RelayState looked up in the role mapping, IdP-initiated SAML only.
/// WHY so guarded: RelayState is not covered by the IdP's signature, so anyone who
/// can replay a user's response can choose it. The connection must opt in, and
/// even then it can never grant more than the ceiling.
fn by_relay_state(input: &RoleInput, trail: &mut Trail) -> Option<i32> {
    let step = RoleStep::RelayState;
    if !input.idp_initiated_saml {
        trail.note(
            step,
            "not an IdP-initiated SAML login; RelayState is never a role here".into(),
        );
        return None;
    }
    let Some(relay_state) = input.relay_state.filter(|value| !value.is_empty()) else {
        trail.note(step, "no RelayState".into());
        return None;
    };
    let Some(&role) = input.role_mapping.get(relay_state) else {
        trail.note(
            step,
            format!("RelayState {} is not in the role mapping", shown(relay_state)),
        );
        return None;
    };
    let refusal = if !input.relay_state_roles_enabled {
        Some((
            code::RELAY_STATE_ROLES_DISABLED,
            format!(
                "RelayState {} maps to role {role}, but this connection has not opted in to \
                 RelayState roles; ignored",
                shown(relay_state)
            ),
        ))
    } else if !input.catalog.contains(&role) {
        Some((
            code::UNKNOWN_ROLE_CODE,
            format!(
                "RelayState {} maps to role {role}, which is not in the role catalog; ignored",
                shown(relay_state)
            ),
        ))
    } else if role > input.relay_state_ceiling {
        Some((
            code::RELAY_STATE_ABOVE_CEILING,
            format!(
                "RelayState {} maps to role {role}, above this connection's relay-state role \
                 ceiling {}; refused",
                shown(relay_state),
                input.relay_state_ceiling
            ),
        ))
    } else {
        None
    };
    match refusal {
        Some((warning_code, detail)) => {
            trail.note(step, detail.clone());
            trail.warn(warning_code, detail);
            None
        }
        None => {
            trail.note(
                step,
                format!(
                    "RelayState {} maps to role {role}, within the ceiling {}",
                    shown(relay_state),
                    input.relay_state_ceiling
                ),
            );
            Some(role)
        }
    }
}

/// Steps 1–3: a role, or `None` with the reason noted in the trail.
type StepRule = fn(&RoleInput, &mut Trail) -> Option<i32>;

/// §4: run the steps in order; the first that yields a role wins, and step 4
/// always decides (default for a new user, keep for an existing one).
pub fn resolve(input: &RoleInput) -> RoleDecision {
    let mut trail = Trail {
        notes: Vec::new(),
        warnings: Vec::new(),
    };
    let steps: [(RoleStep, StepRule); 3] = [
        (RoleStep::ExternalRoleId, by_external_role_ids),
        (RoleStep::RoleClaim, by_role_claim),
        (RoleStep::RelayState, by_relay_state),
    ];
    let decided = steps
        .into_iter()
        .find_map(|(step, run)| run(input, &mut trail).map(|role| (role, step)));
    let (role, step) = decided.unwrap_or_else(|| match input.existing_role {
        None => {
            trail.note(
                RoleStep::Default,
                format!(
                    "new user: the organization's default SSO role {}",
                    input.default_sso_role
                ),
            );
            (input.default_sso_role, RoleStep::Default)
        }
        Some(role) => {
            trail.note(RoleStep::Kept, format!("existing user keeps role {role}"));
            (role, RoleStep::Kept)
        }
    });
    RoleDecision {
        role,
        step,
        notes: trail.notes,
        warnings: trail.warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoleStep::{Default, ExternalRoleId, Kept, RelayState, RoleClaim};

    /// The org used by every case: the seeded catalog (§1), a mapping with one
    /// code outside it, a connection opted in with the default ceiling 20.
    struct Case {
        label: &'static str,
        external_role_ids: &'static [&'static str],
        role_claim: Claim<String>,
        relay_state: Option<&'static str>,
        idp_initiated_saml: bool,
        relay_state_roles_enabled: bool,
        relay_state_ceiling: i32,
        existing_role: Option<i32>,
        // Expected:
        role: i32,
        step: RoleStep,
        notes: &'static [(RoleStep, &'static str)],
        warnings: &'static [&'static str],
    }

    const BASE: Case = Case {
        label: "",
        external_role_ids: &[],
        role_claim: Claim::Absent,
        relay_state: None,
        idp_initiated_saml: false,
        relay_state_roles_enabled: true,
        relay_state_ceiling: 20,
        existing_role: None,
        role: 10,
        step: Default,
        notes: &[],
        warnings: &[],
    };

    fn mapping() -> BTreeMap<String, i32> {
        [
            ("Staff", 10),
            ("Advanced", 20),
            ("Managers", 30),
            ("Admins", 40),
            ("Ghost", 99),
            ("app-staff-advanced", 20),
            ("app-managers", 30),
            ("app-ghost", 99),
        ]
        .into_iter()
        .map(|(name, role)| (name.to_owned(), role))
        .collect()
    }

    fn catalog() -> BTreeSet<i32> {
        [10, 20, 30, 40].into_iter().collect()
    }

    fn text(value: &str) -> Claim<String> {
        Claim::Present(value.to_owned())
    }

    fn run(case: &Case) -> RoleDecision {
        let ids: Vec<String> = case.external_role_ids.iter().map(|id| (*id).to_owned()).collect();
        let mapping = mapping();
        let catalog = catalog();
        resolve(&RoleInput {
            external_role_ids: &ids,
            role_claim: &case.role_claim,
            relay_state: case.relay_state,
            idp_initiated_saml: case.idp_initiated_saml,
            relay_state_roles_enabled: case.relay_state_roles_enabled,
            relay_state_ceiling: case.relay_state_ceiling,
            role_mapping: &mapping,
            catalog: &catalog,
            existing_role: case.existing_role,
            default_sso_role: 10,
        })
    }

    fn check(cases: &[Case]) {
        for case in cases {
            let decision = run(case);
            let label = case.label;
            assert_eq!(
                (decision.role, decision.step),
                (case.role, case.step),
                "{label}: {decision:#?}"
            );
            let steps: Vec<RoleStep> = decision.notes.iter().map(|n| n.step).collect();
            let expected_steps: Vec<RoleStep> = case.notes.iter().map(|(s, _)| *s).collect();
            assert_eq!(steps, expected_steps, "{label}: {decision:#?}");
            for (note, (_, fragment)) in decision.notes.iter().zip(case.notes) {
                assert!(
                    note.outcome.contains(fragment),
                    "{label}: {:?} lacks {fragment:?}",
                    note.outcome
                );
            }
            let codes: Vec<&str> = decision.warnings.iter().map(|w| w.code).collect();
            assert_eq!(codes, case.warnings.to_vec(), "{label}: {decision:#?}");
        }
    }

    const NO_ERI: (RoleStep, &str) = (ExternalRoleId, "no externalRoleId claim");
    const NO_ROLE: (RoleStep, &str) = (RoleClaim, "no role claim");
    const NOT_IDP: (RoleStep, &str) = (RelayState, "not an IdP-initiated SAML login");
    const NEW_USER: (RoleStep, &str) = (Default, "default SSO role 10");

    #[test]
    fn step_1_external_role_ids() {
        check(&[
            Case {
                label: "one mapped value",
                external_role_ids: &["Managers"],
                role: 30,
                step: ExternalRoleId,
                notes: &[(ExternalRoleId, "\"Managers\" maps to role 30")],
                ..BASE
            },
            Case {
                label: "several values: the highest mapped role wins, whatever the order",
                external_role_ids: &["Advanced", "Managers", "Staff"],
                role: 30,
                step: ExternalRoleId,
                notes: &[(ExternalRoleId, "\"Managers\" maps to role 30, the highest")],
                ..BASE
            },
            Case {
                label: "highest first",
                external_role_ids: &["Admins", "Staff"],
                role: 40,
                step: ExternalRoleId,
                notes: &[(ExternalRoleId, "\"Admins\" maps to role 40")],
                ..BASE
            },
            Case {
                label: "unmapped values are warned about, the mapped one still wins",
                external_role_ids: &["Nurses", "Advanced"],
                role: 20,
                step: ExternalRoleId,
                notes: &[(ExternalRoleId, "\"Advanced\" maps to role 20")],
                warnings: &[code::UNMAPPED_EXTERNAL_ROLE],
                ..BASE
            },
            Case {
                label: "case-sensitive lookup",
                external_role_ids: &["managers", "ADMINS"],
                notes: &[(ExternalRoleId, "none of the 2"), NO_ROLE, NOT_IDP, NEW_USER],
                warnings: &[code::UNMAPPED_EXTERNAL_ROLE, code::UNMAPPED_EXTERNAL_ROLE],
                ..BASE
            },
            Case {
                label: "a mapped code outside the catalog is ignored, even if highest",
                external_role_ids: &["Ghost", "Advanced"],
                role: 20,
                step: ExternalRoleId,
                notes: &[(ExternalRoleId, "\"Advanced\" maps to role 20")],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
            Case {
                label: "only codes outside the catalog: falls through",
                external_role_ids: &["Ghost"],
                existing_role: Some(20),
                role: 20,
                step: Kept,
                notes: &[
                    (ExternalRoleId, "none of the 1"),
                    NO_ROLE,
                    NOT_IDP,
                    (Kept, "keeps role 20"),
                ],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
            Case {
                label: "step 1 can lower an existing role (it is evaluated at every login)",
                external_role_ids: &["Staff"],
                existing_role: Some(40),
                role: 10,
                step: ExternalRoleId,
                notes: &[(ExternalRoleId, "maps to role 10")],
                ..BASE
            },
            Case {
                label: "step 1 beats a higher role claim and RelayState",
                external_role_ids: &["Advanced"],
                role_claim: text("40"),
                relay_state: Some("app-managers"),
                idp_initiated_saml: true,
                relay_state_ceiling: 40,
                role: 20,
                step: ExternalRoleId,
                notes: &[(ExternalRoleId, "maps to role 20")],
                ..BASE
            },
        ]);
    }

    #[test]
    fn step_2_role_claim() {
        check(&[
            Case {
                label: "a code in the catalog",
                role_claim: text("30"),
                role: 30,
                step: RoleClaim,
                notes: &[NO_ERI, (RoleClaim, "role claim 30 is in the role catalog")],
                ..BASE
            },
            Case {
                label: "surrounding whitespace is fine",
                role_claim: text(" 40 "),
                existing_role: Some(10),
                role: 40,
                step: RoleClaim,
                notes: &[NO_ERI, (RoleClaim, "40")],
                ..BASE
            },
            Case {
                label: "unknown role code: ignored with a warning",
                role_claim: text("99"),
                notes: &[NO_ERI, (RoleClaim, "\"99\" is not a role code"), NOT_IDP, NEW_USER],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
            Case {
                label: "a role name is not a code",
                role_claim: text("Administrator"),
                existing_role: Some(20),
                role: 20,
                step: Kept,
                notes: &[NO_ERI, (RoleClaim, "\"Administrator\""), NOT_IDP, (Kept, "20")],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
            Case {
                label: "not an integer",
                role_claim: text("30.0"),
                notes: &[NO_ERI, (RoleClaim, "not a role code"), NOT_IDP, NEW_USER],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
            Case {
                label: "negative",
                role_claim: text("-10"),
                notes: &[NO_ERI, (RoleClaim, "not a role code"), NOT_IDP, NEW_USER],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
            Case {
                label: "present but empty: a note, no warning",
                role_claim: Claim::Empty,
                notes: &[NO_ERI, (RoleClaim, "present but empty"), NOT_IDP, NEW_USER],
                ..BASE
            },
            Case {
                label: "unmapped externalRoleId falls through to the role claim",
                external_role_ids: &["Nurses"],
                role_claim: text("20"),
                role: 20,
                step: RoleClaim,
                notes: &[(ExternalRoleId, "none of the 1"), (RoleClaim, "20")],
                warnings: &[code::UNMAPPED_EXTERNAL_ROLE],
                ..BASE
            },
            Case {
                label: "the role claim beats RelayState",
                role_claim: text("10"),
                relay_state: Some("app-staff-advanced"),
                idp_initiated_saml: true,
                role: 10,
                step: RoleClaim,
                notes: &[NO_ERI, (RoleClaim, "10")],
                ..BASE
            },
        ]);
    }

    #[test]
    fn step_3_relay_state() {
        check(&[
            Case {
                label: "IdP-initiated, opted in, within the ceiling",
                relay_state: Some("app-staff-advanced"),
                idp_initiated_saml: true,
                role: 20,
                step: RelayState,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "maps to role 20, within the ceiling 20")],
                ..BASE
            },
            Case {
                label: "the ceiling itself is allowed",
                relay_state: Some("app-managers"),
                idp_initiated_saml: true,
                relay_state_ceiling: 30,
                existing_role: Some(10),
                role: 30,
                step: RelayState,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "within the ceiling 30")],
                ..BASE
            },
            Case {
                label: "above the ceiling: refused and recorded, new user gets the default",
                relay_state: Some("app-managers"),
                idp_initiated_saml: true,
                notes: &[
                    NO_ERI,
                    NO_ROLE,
                    (
                        RelayState,
                        "maps to role 30, above this connection's relay-state role ceiling 20; refused",
                    ),
                    NEW_USER,
                ],
                warnings: &[code::RELAY_STATE_ABOVE_CEILING],
                ..BASE
            },
            Case {
                label: "above the ceiling: an existing user keeps their role",
                relay_state: Some("Admins"),
                idp_initiated_saml: true,
                existing_role: Some(20),
                role: 20,
                step: Kept,
                notes: &[
                    NO_ERI,
                    NO_ROLE,
                    (RelayState, "ceiling 20; refused"),
                    (Kept, "keeps role 20"),
                ],
                warnings: &[code::RELAY_STATE_ABOVE_CEILING],
                ..BASE
            },
            Case {
                label: "not opted in, relay state maps to a role: note and warning",
                relay_state: Some("app-staff-advanced"),
                idp_initiated_saml: true,
                relay_state_roles_enabled: false,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "has not opted in"), NEW_USER],
                warnings: &[code::RELAY_STATE_ROLES_DISABLED],
                ..BASE
            },
            Case {
                label: "not opted in, relay state maps to nothing: note only",
                relay_state: Some("/dashboard"),
                idp_initiated_saml: true,
                relay_state_roles_enabled: false,
                notes: &[
                    NO_ERI,
                    NO_ROLE,
                    (RelayState, "\"/dashboard\" is not in the role mapping"),
                    NEW_USER,
                ],
                ..BASE
            },
            Case {
                label: "opted in, relay state not in the mapping: note only",
                relay_state: Some("app-unknown"),
                idp_initiated_saml: true,
                existing_role: Some(30),
                role: 30,
                step: Kept,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "not in the role mapping"), (Kept, "30")],
                ..BASE
            },
            Case {
                label: "relay state lookup is case-sensitive",
                relay_state: Some("APP-STAFF-ADVANCED"),
                idp_initiated_saml: true,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "not in the role mapping"), NEW_USER],
                ..BASE
            },
            Case {
                label: "mapped to a code outside the catalog",
                relay_state: Some("app-ghost"),
                idp_initiated_saml: true,
                relay_state_ceiling: 100,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "not in the role catalog"), NEW_USER],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
            Case {
                label: "SP-initiated: the relay state is our own key, never a role",
                relay_state: Some("app-staff-advanced"),
                idp_initiated_saml: false,
                notes: &[NO_ERI, NO_ROLE, NOT_IDP, NEW_USER],
                ..BASE
            },
            Case {
                label: "IdP-initiated without a relay state",
                idp_initiated_saml: true,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "no RelayState"), NEW_USER],
                ..BASE
            },
            Case {
                label: "IdP-initiated with an empty relay state",
                relay_state: Some(""),
                idp_initiated_saml: true,
                notes: &[NO_ERI, NO_ROLE, (RelayState, "no RelayState"), NEW_USER],
                ..BASE
            },
            Case {
                label: "an unknown role claim falls through to RelayState",
                role_claim: text("99"),
                relay_state: Some("app-staff-advanced"),
                idp_initiated_saml: true,
                role: 20,
                step: RelayState,
                notes: &[NO_ERI, (RoleClaim, "99"), (RelayState, "within the ceiling")],
                warnings: &[code::UNKNOWN_ROLE_CODE],
                ..BASE
            },
        ]);
    }

    #[test]
    fn step_4_default_or_kept() {
        check(&[
            Case {
                label: "nothing: a new user gets the default SSO role",
                notes: &[NO_ERI, NO_ROLE, NOT_IDP, NEW_USER],
                ..BASE
            },
            Case {
                label: "nothing: an existing user keeps their role",
                existing_role: Some(40),
                role: 40,
                step: Kept,
                notes: &[NO_ERI, NO_ROLE, NOT_IDP, (Kept, "existing user keeps role 40")],
                ..BASE
            },
        ]);
        // The org's default is whatever the org set.
        let ids: Vec<String> = vec![];
        let decision = resolve(&RoleInput {
            external_role_ids: &ids,
            role_claim: &Claim::Absent,
            relay_state: None,
            idp_initiated_saml: false,
            relay_state_roles_enabled: false,
            relay_state_ceiling: 20,
            role_mapping: &mapping(),
            catalog: &catalog(),
            existing_role: None,
            default_sso_role: 20,
        });
        assert_eq!((decision.role, decision.step), (20, Default));
    }

    #[test]
    fn the_decision_serializes_for_the_login_event() {
        let decision = run(&Case {
            relay_state: Some("app-managers"),
            idp_initiated_saml: true,
            ..BASE
        });
        let json = serde_json::to_value(&decision).unwrap_or_default();
        assert_eq!(json["step"], "default");
        assert_eq!(json["role"], 10);
        assert_eq!(json["notes"][2]["step"], "relay_state");
        assert_eq!(json["warnings"][0]["code"], "relay_state_above_ceiling");
        for step in [ExternalRoleId, RoleClaim, RelayState, Default, Kept] {
            assert_eq!(serde_json::to_value(step).ok(), Some(serde_json::json!(step.as_str())));
        }
    }
}
