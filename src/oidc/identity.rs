//! From verified ID token (and userinfo) claims to what the claims engine
//! takes: the identity-link subject, the raw claims, and protocol warnings.
//! Pure: no I/O, table-tested.

use serde_json::{Map, Value};

use super::config::Profile;
use super::Refused;
use crate::rules::claims::RawClaims;
use crate::rules::Warning;

/// Warning code: Entra ID sent a group overage indicator instead of `groups`.
pub const GROUPS_OVERAGE: &str = "groups_overage";

/// Token mechanics, not facts about the person: kept out of the claims
/// (and so out of the login event).
const PROTOCOL_CLAIMS: [&str; 9] = [
    "nonce",
    "at_hash",
    "c_hash",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "uti",
    "rh",
];

/// The identity-link key and the `sub` value (§2's username fallback).
pub fn subject(profile: Profile, issuer: &str, claims: &Map<String, Value>) -> Result<(String, String), Refused> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let Some(sub) = text("sub") else {
        return Err(Refused::new("subject_missing", "the ID token has no sub"));
    };
    let key = match profile {
        // Entra's `sub` differs per app registration; `tid`+`oid` names the
        // person in the tenant whatever app they sign in through.
        Profile::Entra => match (text("tid"), text("oid")) {
            (Some(tid), Some(oid)) => format!("{tid}|{oid}"),
            _ => {
                return Err(Refused::new(
                    "subject_missing",
                    "an Entra ID token without tid and oid (is the profile right for this provider?)",
                ))
            }
        },
        Profile::Generic => format!("{issuer}|{sub}"),
    };
    Ok((key, sub.to_string()))
}

fn values(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) => Some(items.iter().filter_map(one).collect()),
        Value::Null | Value::Object(_) => None,
        v => one(v).map(|s| vec![s]),
    }
}

/// Every claim as strings (booleans `"true"`/`"false"`, arrays as several
/// values). Userinfo fills claims the ID token lacks; where both carry a
/// claim, the ID token's signed value wins.
pub fn raw_claims(id_token: &Map<String, Value>, userinfo: Option<&Map<String, Value>>) -> RawClaims {
    let mut raw = RawClaims::new();
    let sources = std::iter::once(id_token).chain(userinfo);
    for source in sources {
        for (name, value) in source {
            if PROTOCOL_CLAIMS.contains(&name.as_str()) || name.starts_with('_') || raw.contains_key(name) {
                continue;
            }
            if let Some(v) = values(value) {
                raw.insert(name.clone(), v);
            }
        }
    }
    raw
}

/// Entra ID replaces `groups` with a pointer to Graph when a user is in too
/// many groups (`_claim_names.groups`, or `hasgroups`); say so, because group
/// mappings will silently not apply.
pub fn warnings(claims: &Map<String, Value>) -> Vec<Warning> {
    let pointer = claims
        .get("_claim_names")
        .and_then(Value::as_object)
        .is_some_and(|names| names.contains_key("groups"));
    let has_groups = claims.get("hasgroups").and_then(Value::as_bool) == Some(true);
    if (pointer || has_groups) && !claims.contains_key("groups") {
        vec![Warning::new(
            GROUPS_OVERAGE,
            "Entra ID sent a group overage indicator instead of the groups claim: group-based role mappings were not applied. Assign app roles, or filter the groups claim to the groups assigned to the application.",
        )]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn subjects() {
        let iss = "https://idp.example";
        type Case = (Profile, Value, Result<(&'static str, &'static str), &'static str>);
        let cases: Vec<Case> = vec![
            (
                Profile::Generic,
                json!({"sub": "s1"}),
                Ok(("https://idp.example|s1", "s1")),
            ),
            (
                Profile::Generic,
                json!({"sub": "s1", "tid": "t", "oid": "o"}),
                Ok(("https://idp.example|s1", "s1")),
            ),
            (
                Profile::Entra,
                json!({"sub": "s1", "tid": "t", "oid": "o"}),
                Ok(("t|o", "s1")),
            ),
            (Profile::Entra, json!({"sub": "s1", "tid": "t"}), Err("subject_missing")),
            (Profile::Entra, json!({"sub": "s1", "oid": " "}), Err("subject_missing")),
            (Profile::Generic, json!({"sub": ""}), Err("subject_missing")),
            (Profile::Generic, json!({"sub": 7}), Err("subject_missing")),
            (Profile::Generic, json!({}), Err("subject_missing")),
        ];
        for (profile, claims, expected) in cases {
            let got = subject(profile, iss, &map(claims.clone()));
            match (got, expected) {
                (Ok((key, sub)), Ok((k, s))) => assert_eq!((key.as_str(), sub.as_str()), (k, s), "{claims}"),
                (Err(r), Err(reason)) => assert_eq!(r.reason, reason, "{claims}"),
                (got, want) => panic!("{claims}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn claims_are_stringified_and_the_id_token_wins() {
        let id = map(json!({
            "sub": "s", "email": "a@x.org", "email_verified": true, "roles": ["A", "B"],
            "nonce": "n", "exp": 1, "iat": 1, "_claim_names": {"groups": "src1"},
            "address": {"street": "x"}, "age": 42, "nothing": null,
        }));
        let info = map(json!({"sub": "s", "email": "other@x.org", "given_name": "Ann"}));
        let raw = raw_claims(&id, Some(&info));
        let get = |k: &str| raw.get(k).cloned();
        assert_eq!(get("email"), Some(vec!["a@x.org".into()]));
        assert_eq!(get("email_verified"), Some(vec!["true".into()]));
        assert_eq!(get("roles"), Some(vec!["A".into(), "B".into()]));
        assert_eq!(get("given_name"), Some(vec!["Ann".into()]));
        assert_eq!(get("age"), Some(vec!["42".into()]));
        for absent in ["nonce", "exp", "iat", "_claim_names", "address", "nothing"] {
            assert_eq!(get(absent), None, "{absent}");
        }
    }

    #[test]
    fn group_overage() {
        let cases = [
            (json!({"_claim_names": {"groups": "src1"}}), true),
            (json!({"hasgroups": true}), true),
            (json!({"hasgroups": false}), false),
            (json!({"groups": ["g1"]}), false),
            (json!({"_claim_names": {"groups": "src1"}, "groups": []}), false),
            (json!({}), false),
        ];
        for (claims, overage) in cases {
            let w = warnings(&map(claims.clone()));
            assert_eq!(w.iter().any(|w| w.code == GROUPS_OVERAGE), overage, "{claims}");
        }
    }
}
