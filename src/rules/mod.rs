//! The pure rules of a sign-in (SPEC §2–§4): data in, decisions out.
//!
//! Nothing here touches a database, the network, a clock or a random source, so
//! every decision a login makes about claims, matching, field ownership and roles
//! can be read — and tested with tables of cases — without reading SQL or HTTP
//! (DESIGN, "Pure rules apart from I/O"). `signin.rs` gathers the data, calls these
//! functions in order, and applies their plans in one transaction.
//!
//! - [`claims`]: §2 — raw attributes/claims → canonical, tri-state [`claims::Claims`].
//! - [`matching`]: §3 "Finding the user" — which user, by which rule.
//! - [`ownership`]: §3 field table — which fields SSO may write for this user.
//! - [`roles`]: §4 — which step sets the role, and why the earlier ones did not.
//!
//! Decisions are not errors: a rule that ignores part of its input says so with a
//! [`Warning`], which the login event keeps (§10) so an admin can answer "why".

pub mod claims;
pub mod matching;
pub mod ownership;
pub mod roles;

use serde::Serialize;

/// Something a rule ignored or overrode, kept in the login event (SPEC §10).
///
/// WHY a code plus free text: admins filter events by the stable `code`
/// (one of [`code`]), and read the `detail`, which names the claim, value or rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// One of [`code`]: stable, for filtering.
    pub code: &'static str,
    /// For a human: which claim, value, rule or user.
    pub detail: String,
}

impl Warning {
    /// A warning with a stable `code` and a human `detail`.
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// The stable warning codes, in one place so events, docs and tests agree.
pub mod code {
    /// §2: `language` is not one of the supported codes (after folding `fr-CA` → `fr`).
    pub const UNKNOWN_LANGUAGE: &str = "unknown_language";
    /// §2: a `locations` id that is not one of the org's locations.
    pub const UNKNOWN_LOCATION: &str = "unknown_location";
    /// §2: a `group` id that is not one of the org's staff groups.
    pub const UNKNOWN_GROUP: &str = "unknown_group";
    /// §2/§4: a role code that is not an integer in the role catalog.
    pub const UNKNOWN_ROLE_CODE: &str = "unknown_role_code";
    /// §4 step 1: an `externalRoleId` value absent from the role mapping.
    pub const UNMAPPED_EXTERNAL_ROLE: &str = "unmapped_external_role";
    /// §4 step 3: a RelayState role above the connection's ceiling was refused.
    pub const RELAY_STATE_ABOVE_CEILING: &str = "relay_state_above_ceiling";
    /// §4 step 3: the RelayState maps to a role but the connection has not opted in.
    pub const RELAY_STATE_ROLES_DISABLED: &str = "relay_state_roles_disabled";
    /// §3: two lookup rules point at different users; the first rule won.
    pub const AMBIGUOUS_MATCH: &str = "ambiguous_match";
    /// §3: the email points at a user, but the connection does not trust emails.
    pub const UNTRUSTED_EMAIL_MATCH: &str = "untrusted_email_match";
    /// §3: `force` sync would take an email another user already has.
    pub const EMAIL_TAKEN: &str = "email_taken";
    /// §3: `force` sync would take a username another user already has.
    pub const USERNAME_TAKEN: &str = "username_taken";
    /// §2: a single-valued claim carried several different values; the first won.
    pub const MULTIPLE_VALUES: &str = "multiple_values";
    /// §2: a higher-precedence attribute (override, canonical name) shadowed an alias
    /// that carried a different value.
    pub const SHADOWED_CLAIM: &str = "shadowed_claim";
    /// §2: an email claim that is not email-shaped was ignored.
    pub const INVALID_EMAIL: &str = "invalid_email";
    /// §2: a connection override names a claim that does not exist.
    pub const UNKNOWN_OVERRIDE_TARGET: &str = "unknown_override_target";
    /// §3: `email`/`username` present but empty: a required field cannot be cleared.
    pub const EMPTY_REQUIRED_CLAIM: &str = "empty_required_claim";
}

/// Caps attacker-influenced text (claim values, RelayState) before it is copied
/// into a warning or note, so one login cannot bloat the event log (§10).
fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 80;
    if value.chars().count() <= MAX_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX_CHARS).collect();
        format!("{head:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_quotes_and_caps_values() {
        let cases: &[(&str, &str)] = &[("abc", "\"abc\""), ("", "\"\""), ("a\"b", "\"a\\\"b\"")];
        for (input, expected) in cases {
            assert_eq!(shown(input), *expected, "input {input:?}");
        }
        let long = "x".repeat(200);
        let out = shown(&long);
        assert!(out.ends_with('…'));
        assert_eq!(out.chars().count(), 80 + 3);
    }

    #[test]
    fn warning_serializes_code_and_detail() {
        let w = Warning::new(code::UNKNOWN_GROUP, "group \"x\"");
        assert_eq!(
            serde_json::to_value(&w).ok(),
            Some(serde_json::json!({"code": "unknown_group", "detail": "group \"x\""}))
        );
    }
}
