//! Validation of admin-entered organization settings and catalog entries
//! (SPEC §5). Pure: the caller passes the role catalog.

use std::collections::BTreeSet;

use crate::model::{OrgSettings, ProfileSync, SettingsPatch};

/// The new settings, or the field and the reason it was refused. Nothing is
/// applied unless every field is valid.
pub fn validate(
    patch: &SettingsPatch,
    current: &OrgSettings,
    catalog: &BTreeSet<i32>,
) -> Result<OrgSettings, (&'static str, String)> {
    if let Some(code) = patch.default_sso_role {
        if !catalog.contains(&code) {
            let known: Vec<String> = catalog.iter().map(i32::to_string).collect();
            return Err((
                "default_sso_role",
                format!("{code} is not in the role catalog ({})", known.join(", ")),
            ));
        }
    }
    if let Some(mode) = &patch.profile_sync {
        if ProfileSync::parse(mode).is_none() {
            return Err(("profile_sync", format!("{mode:?} is not import or force")));
        }
    }
    Ok(patch.apply(current))
}

/// External role names are matched case-sensitively against IdP values.
pub fn check_external_role(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
        return Err("must be 1 to 255 characters without control characters".to_string());
    }
    Ok(())
}

/// External ids and names of locations and staff groups.
pub fn check_catalog_text(field: &'static str, s: &str) -> Result<String, (&'static str, String)> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 255 || t.chars().any(char::is_control) {
        return Err((
            field,
            "must be 1 to 255 characters without control characters".to_string(),
        ));
    }
    if field == "external_id" && t.contains(',') {
        // `locations` claims are comma-separated lists of these (SPEC §2).
        return Err((field, "must not contain a comma".to_string()));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> BTreeSet<i32> {
        [10, 20, 30, 40].into_iter().collect()
    }

    #[test]
    fn validates_each_field() {
        let cur = OrgSettings::default();
        let cases: Vec<(SettingsPatch, Result<(), &str>)> = vec![
            (SettingsPatch::default(), Ok(())),
            (
                SettingsPatch {
                    default_sso_role: Some(20),
                    ..Default::default()
                },
                Ok(()),
            ),
            (
                SettingsPatch {
                    default_sso_role: Some(15),
                    ..Default::default()
                },
                Err("default_sso_role"),
            ),
            (
                SettingsPatch {
                    profile_sync: Some("force".into()),
                    ..Default::default()
                },
                Ok(()),
            ),
            (
                SettingsPatch {
                    profile_sync: Some("always".into()),
                    ..Default::default()
                },
                Err("profile_sync"),
            ),
            (
                SettingsPatch {
                    jit_creation: Some(true),
                    default_sso_role: Some(99),
                    ..Default::default()
                },
                Err("default_sso_role"),
            ),
        ];
        for (patch, want) in cases {
            let got = validate(&patch, &cur, &catalog());
            match want {
                Ok(()) => assert!(got.is_ok(), "{patch:?}: {got:?}"),
                Err(field) => assert_eq!(got.expect_err("refused").0, field),
            }
        }
    }

    #[test]
    fn patch_applies_only_given_fields() {
        let cur = OrgSettings::default();
        let next = validate(
            &SettingsPatch {
                jit_creation: Some(true),
                ..Default::default()
            },
            &cur,
            &catalog(),
        )
        .expect("valid");
        assert!(next.jit_creation);
        assert_eq!(next.default_sso_role, cur.default_sso_role);
        assert_eq!(next.profile_sync, ProfileSync::Import);
    }

    #[test]
    fn catalog_text() {
        assert!(check_catalog_text("external_id", "LOC-1").is_ok());
        assert!(check_catalog_text("external_id", "a,b").is_err());
        assert!(check_catalog_text("name", "  ").is_err());
        assert!(check_external_role("Admins").is_ok());
        assert!(check_external_role("").is_err());
    }
}
