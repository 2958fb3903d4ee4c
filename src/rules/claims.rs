//! SPEC §2: from the attributes/claims an IdP sent to canonical, tri-state [`Claims`].
//!
//! How an attribute finds its claim, highest precedence first (WHY: what an admin
//! configured explicitly must beat what we guess):
//! 1. the connection's **override** for that attribute name (it then feeds only
//!    that claim, even if its name is also a canonical name or an alias);
//! 2. the **canonical name** itself (`first_name`, `email`, `externalRoleId`, …;
//!    `display_name` too, since §3 lets SSO write that field);
//! 3. a built-in **alias**: Entra ID's default claim URIs on SAML connections,
//!    the standard claim names on OIDC connections (each protocol only sees its own,
//!    so a SAML attribute called `name` is never taken for a display name), and
//!    `jobtitle` on both.
//!
//! The highest-precedence attribute that *exists* decides, even when it is empty
//! (an explicit empty `first_name` clears, whatever `givenname` says). Attribute
//! names are compared exactly (case-sensitive), as SAML and OIDC define them.
//! Unknown attributes are ignored silently: Entra sends many (tenant id, auth
//! methods) that are none of our business.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{code, shown, Warning};

/// Attribute/claim name → values exactly as received. OIDC non-string claims are
/// stringified by the caller (booleans as `"true"`/`"false"`).
pub type RawClaims = BTreeMap<String, Vec<String>>;

/// Which protocol produced the claims: aliases and defaults differ (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Saml,
    Oidc,
}

/// §2's tri-state: *absent* leaves the field unchanged, *present but empty* exists
/// with only empty (or whitespace) values and clears what can be cleared
/// (`locations`, `group`, optional text), *present* carries a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum Claim<T> {
    #[default]
    Absent,
    Empty,
    Present(T),
}

impl<T> Claim<T> {
    /// Not sent: leave the field unchanged.
    pub fn is_absent(&self) -> bool {
        matches!(self, Claim::Absent)
    }

    /// Sent with only empty values: clear what can be cleared.
    pub fn is_empty(&self) -> bool {
        matches!(self, Claim::Empty)
    }

    /// Sent with a value.
    pub fn is_present(&self) -> bool {
        matches!(self, Claim::Present(_))
    }

    /// The value, when there is one.
    pub fn as_present(&self) -> Option<&T> {
        match self {
            Claim::Present(value) => Some(value),
            Claim::Absent | Claim::Empty => None,
        }
    }

    /// The value, when there is one, by value.
    pub fn into_present(self) -> Option<T> {
        match self {
            Claim::Present(value) => Some(value),
            Claim::Absent | Claim::Empty => None,
        }
    }
}

/// The UI languages of §2. Parsing is the only way in, so an unsupported code
/// cannot reach the user table (DESIGN, "Parse, don't validate").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// §2: `language` defaults to `en` at creation.
    #[default]
    En,
    Fr,
    Es,
    De,
    Nl,
    Pt,
}

impl Language {
    /// Every supported language, in §2's order.
    pub const ALL: [Language; 6] = [
        Language::En,
        Language::Fr,
        Language::Es,
        Language::De,
        Language::Nl,
        Language::Pt,
    ];

    /// §2: region variants fold to the base (`fr-CA`, `fr_CA`, `FR` → `fr`);
    /// anything else is `None`, which the caller reports as a warning.
    pub fn parse_folding(value: &str) -> Option<Language> {
        let base = value.trim().split(['-', '_']).next()?;
        Language::ALL
            .into_iter()
            .find(|language| base.eq_ignore_ascii_case(language.code()))
    }

    /// The code stored and shown (`en`, `fr`, …).
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::De => "de",
            Language::Nl => "nl",
            Language::Pt => "pt",
        }
    }
}

/// Everything [`normalize`] needs; all of it comes from the verified identity and
/// the org/connection settings, none of it from a database.
#[derive(Debug, Clone, Copy)]
pub struct NormalizeInput<'a> {
    pub raw: &'a RawClaims,
    pub protocol: Protocol,
    /// The SAML NameID value, or the OIDC `sub`: the source of §2's defaults.
    pub subject: &'a str,
    /// The connection's attribute name → canonical claim name (§2: "each
    /// connection may add its own overrides").
    pub overrides: &'a BTreeMap<String, String>,
    /// The org setting *use Microsoft ID as external ID* (§2, §5).
    pub ms_id_as_external_id: bool,
}

/// The canonical claims of one login, with §2's defaults already applied to
/// `username` and `email`. Roles are kept raw here and judged in `roles.rs` (§4),
/// locations and group in `ownership.rs` (they need the org's catalog).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Claims {
    pub first_name: Claim<String>,
    pub last_name: Claim<String>,
    pub display_name: Claim<String>,
    pub email: Claim<String>,
    pub external_id: Claim<String>,
    pub job_title: Claim<String>,
    pub language: Claim<Language>,
    /// Location external ids: trimmed, without empties or duplicates, in the
    /// order received.
    pub locations: Claim<Vec<String>>,
    /// The raw `role` claim; §4 step 2 decides whether it is a code in the catalog.
    pub role: Claim<String>,
    /// A staff group external id.
    pub group: Claim<String>,
    pub username: Claim<String>,
    /// Every non-empty `externalRoleId` value (trimmed, deduplicated): §4 step 1
    /// needs them all, since the highest mapped role wins.
    pub external_role_ids: Vec<String>,
    /// OIDC `email_verified` (§3: decides whether email may match a user);
    /// `None` on SAML or when the claim is missing or not a boolean.
    pub email_verified: Option<bool>,
}

/// The claims an attribute can feed: the canonical names of §2 plus `display_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    FirstName,
    LastName,
    DisplayName,
    Email,
    ExternalId,
    JobTitle,
    Language,
    Locations,
    Role,
    Group,
    Username,
    ExternalRoleId,
}

impl Target {
    fn from_canonical(name: &str) -> Option<Target> {
        Some(match name {
            "first_name" => Target::FirstName,
            "last_name" => Target::LastName,
            "display_name" => Target::DisplayName,
            "email" => Target::Email,
            "external_id" => Target::ExternalId,
            "job_title" => Target::JobTitle,
            "language" => Target::Language,
            "locations" => Target::Locations,
            "role" => Target::Role,
            "group" => Target::Group,
            "username" => Target::Username,
            "externalRoleId" => Target::ExternalRoleId,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Target::FirstName => "first_name",
            Target::LastName => "last_name",
            Target::DisplayName => "display_name",
            Target::Email => "email",
            Target::ExternalId => "external_id",
            Target::JobTitle => "job_title",
            Target::Language => "language",
            Target::Locations => "locations",
            Target::Role => "role",
            Target::Group => "group",
            Target::Username => "username",
            Target::ExternalRoleId => "externalRoleId",
        }
    }
}

/// Entra ID's `…/claims/name` carries the UPN; it only counts as an email when it
/// looks like one (§2).
const SAML_NAME_URI: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
const SAML_OBJECT_ID_URI: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/// Built-in aliases, in precedence order within a claim (the earlier entry wins
/// when two aliases of one claim are both sent: `emailaddress` is Entra's mail
/// attribute, `name` only its UPN).
const SAML_ALIASES: &[(&str, Target)] = &[
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        Target::FirstName,
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        Target::LastName,
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        Target::Email,
    ),
    (SAML_NAME_URI, Target::Email),
    (
        "http://schemas.microsoft.com/identity/claims/displayname",
        Target::DisplayName,
    ),
    ("jobtitle", Target::JobTitle),
    (SAML_OBJECT_ID_URI, Target::ExternalId),
];

const OIDC_ALIASES: &[(&str, Target)] = &[
    ("given_name", Target::FirstName),
    ("family_name", Target::LastName),
    ("name", Target::DisplayName),
    ("jobtitle", Target::JobTitle),
    ("oid", Target::ExternalId),
];

/// Where an attribute's claim came from; lower ranks win (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Override,
    Canonical,
    Alias(usize),
}

struct Source<'a> {
    rank: Rank,
    attribute: &'a str,
    values: Vec<&'a str>,
}

/// Trimmed, non-empty values: §2's "present but empty" is "only empty values".
fn non_empty(values: &[String]) -> Vec<&str> {
    values
        .iter()
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .collect()
}

/// A deliberately simple check (one `@`, non-empty local part, a dotted domain,
/// no whitespace), enough to tell an email from a UPN-less NameID or an opaque id;
/// the IdP, not us, owns the address.
pub fn is_email_shaped(value: &str) -> bool {
    let mut parts = value.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace)
}

fn alias_for(name: &str, input: &NormalizeInput) -> Option<(Target, usize)> {
    let table = match input.protocol {
        Protocol::Saml => SAML_ALIASES,
        Protocol::Oidc => OIDC_ALIASES,
    };
    let (order, (_, target)) = table.iter().enumerate().find(|(_, (alias, _))| *alias == name)?;
    // §2: the Microsoft object id is an external id only when the org says so.
    if *target == Target::ExternalId && !input.ms_id_as_external_id {
        return None;
    }
    Some((*target, order))
}

/// Groups every attribute by the claim it feeds, best source first.
fn collect_sources<'a>(input: &NormalizeInput<'a>, warnings: &mut Vec<Warning>) -> BTreeMap<Target, Vec<Source<'a>>> {
    let mut by_target: BTreeMap<Target, Vec<Source<'a>>> = BTreeMap::new();
    for (attribute, raw_values) in input.raw {
        let values = non_empty(raw_values);
        let (target, rank) = if let Some(target_name) = input.overrides.get(attribute) {
            match Target::from_canonical(target_name) {
                Some(target) => (target, Rank::Override),
                None => {
                    warnings.push(Warning::new(
                        code::UNKNOWN_OVERRIDE_TARGET,
                        format!(
                            "attribute {} is mapped to {}, which is not a claim; ignored",
                            shown(attribute),
                            shown(target_name)
                        ),
                    ));
                    continue;
                }
            }
        } else if let Some(target) = Target::from_canonical(attribute) {
            (target, Rank::Canonical)
        } else if let Some((target, order)) = alias_for(attribute, input) {
            // §2: `…/claims/name` is an email alias only when it holds an email.
            if attribute == SAML_NAME_URI && !values.first().is_some_and(|v| is_email_shaped(v)) {
                continue;
            }
            (target, Rank::Alias(order))
        } else {
            continue;
        };
        by_target.entry(target).or_default().push(Source {
            rank,
            attribute,
            values,
        });
    }
    for sources in by_target.values_mut() {
        // Stable: equal ranks (two overrides onto one claim) keep attribute-name order.
        sources.sort_by_key(|source| source.rank);
    }
    by_target
}

/// The winning source's values, warning when an explicitly configured attribute
/// (override or canonical name) hid a different value sent under another name.
/// Alias-vs-alias shadowing is silent: Entra routinely sends a UPN that differs
/// from the mail address, and that is not news.
fn winner<'a>(target: Target, sources: &[Source<'a>], warnings: &mut Vec<Warning>) -> Option<(&'a str, Vec<&'a str>)> {
    let (first, rest) = sources.split_first()?;
    if !matches!(first.rank, Rank::Alias(_)) {
        for loser in rest.iter().filter(|loser| loser.values != first.values) {
            warnings.push(Warning::new(
                code::SHADOWED_CLAIM,
                format!(
                    "{}: attribute {} ignored, {} takes precedence",
                    target.name(),
                    shown(loser.attribute),
                    shown(first.attribute)
                ),
            ));
        }
    }
    Some((first.attribute, first.values.clone()))
}

/// The attributes of one login grouped by claim, consumed claim by claim.
struct Found<'a> {
    sources: BTreeMap<Target, Vec<Source<'a>>>,
    warnings: Vec<Warning>,
}

impl<'a> Found<'a> {
    fn take(&mut self, target: Target) -> Option<(&'a str, Vec<&'a str>)> {
        let sources = self.sources.remove(&target)?;
        winner(target, &sources, &mut self.warnings)
    }

    fn text(&mut self, target: Target) -> Claim<String> {
        let found = self.take(target);
        single(target, found, &mut self.warnings)
    }
}

/// A single-valued claim: the first non-empty value, with `multiple_values` when
/// the IdP sent several different ones (§2 claims are single-valued except
/// `locations` and `externalRoleId`).
fn single(target: Target, found: Option<(&str, Vec<&str>)>, warnings: &mut Vec<Warning>) -> Claim<String> {
    let Some((attribute, values)) = found else {
        return Claim::Absent;
    };
    let Some(first) = values.first() else {
        return Claim::Empty;
    };
    let distinct: BTreeSet<&str> = values.iter().copied().collect();
    if distinct.len() > 1 {
        warnings.push(Warning::new(
            code::MULTIPLE_VALUES,
            format!(
                "{} (attribute {}) has {} different values; the first, {}, is used",
                target.name(),
                shown(attribute),
                distinct.len(),
                shown(first)
            ),
        ));
    }
    Claim::Present((*first).to_owned())
}

/// Values in order, without duplicates.
fn dedup_in_order<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values
        .into_iter()
        .filter(|value| seen.insert(*value))
        .map(str::to_owned)
        .collect()
}

/// §2 `locations`: a comma-separated list and/or a multi-valued attribute.
fn locations(found: Option<(&str, Vec<&str>)>) -> Claim<Vec<String>> {
    let Some((_, values)) = found else {
        return Claim::Absent;
    };
    let ids = dedup_in_order(
        values
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|id| !id.is_empty()),
    );
    if ids.is_empty() {
        Claim::Empty
    } else {
        Claim::Present(ids)
    }
}

/// §2 `language`: fold the region; an unsupported code is ignored (absent) with a
/// warning rather than refusing the login.
fn language(found: Option<(&str, Vec<&str>)>, warnings: &mut Vec<Warning>) -> Claim<Language> {
    match single(Target::Language, found, warnings) {
        Claim::Absent => Claim::Absent,
        Claim::Empty => Claim::Empty,
        Claim::Present(value) => match Language::parse_folding(&value) {
            Some(language) => Claim::Present(language),
            None => {
                warnings.push(Warning::new(
                    code::UNKNOWN_LANGUAGE,
                    format!(
                        "language {} is not one of en, fr, es, de, nl, pt; ignored",
                        shown(&value)
                    ),
                ));
                Claim::Absent
            }
        },
    }
}

/// An email claim that is not an address is dropped, so it can neither be stored
/// nor used to match a user (§3 rule 4).
fn email(found: Option<(&str, Vec<&str>)>, warnings: &mut Vec<Warning>) -> Claim<String> {
    match single(Target::Email, found, warnings) {
        Claim::Present(value) if !is_email_shaped(&value) => {
            warnings.push(Warning::new(
                code::INVALID_EMAIL,
                format!("email {} is not an email address; ignored", shown(&value)),
            ));
            Claim::Absent
        }
        other => other,
    }
}

fn first_non_empty<'a>(raw: &'a RawClaims, name: &str) -> Option<&'a str> {
    raw.get(name)?
        .iter()
        .map(|value| value.trim())
        .find(|value| !value.is_empty())
}

/// §2, turning raw attributes into canonical claims plus warnings.
///
/// Defaults (§2) fill `username` and `email` whenever the claim is not present
/// with a value (absent *or* empty — neither can be cleared):
/// - SAML: `username` = NameID; `email` = NameID when it is email-shaped;
/// - OIDC: `username` = `preferred_username`, else `sub`; no email default.
pub fn normalize(input: &NormalizeInput) -> (Claims, Vec<Warning>) {
    let mut warnings = Vec::new();
    let sources = collect_sources(input, &mut warnings);
    let mut found = Found { sources, warnings };

    let first_name = found.text(Target::FirstName);
    let last_name = found.text(Target::LastName);
    let display_name = found.text(Target::DisplayName);
    let external_id = found.text(Target::ExternalId);
    let job_title = found.text(Target::JobTitle);
    let role = found.text(Target::Role);
    let group = found.text(Target::Group);
    let mut username = found.text(Target::Username);
    let email_source = found.take(Target::Email);
    let mut email = email(email_source, &mut found.warnings);
    let language_source = found.take(Target::Language);
    let language = language(language_source, &mut found.warnings);
    let locations = locations(found.take(Target::Locations));
    let external_role_ids = found
        .take(Target::ExternalRoleId)
        .map(|(_, values)| dedup_in_order(values))
        .unwrap_or_default();
    let warnings = found.warnings;

    let subject = input.subject.trim();
    let email_verified = match input.protocol {
        Protocol::Saml => {
            if !email.is_present() && is_email_shaped(subject) {
                email = Claim::Present(subject.to_owned());
            }
            if !username.is_present() && !subject.is_empty() {
                username = Claim::Present(subject.to_owned());
            }
            None
        }
        Protocol::Oidc => {
            if !username.is_present() {
                let fallback =
                    first_non_empty(input.raw, "preferred_username").or(Some(subject).filter(|sub| !sub.is_empty()));
                if let Some(value) = fallback {
                    username = Claim::Present(value.to_owned());
                }
            }
            match first_non_empty(input.raw, "email_verified") {
                Some(value) if value.eq_ignore_ascii_case("true") => Some(true),
                Some(value) if value.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            }
        }
    };

    let claims = Claims {
        first_name,
        last_name,
        display_name,
        email,
        external_id,
        job_title,
        language,
        locations,
        role,
        group,
        username,
        external_role_ids,
        email_verified,
    };
    (claims, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIVENNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
    const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
    const EMAILADDRESS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
    const NAME: &str = SAML_NAME_URI;
    const DISPLAYNAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
    const OBJECTID: &str = SAML_OBJECT_ID_URI;

    use Protocol::{Oidc, Saml};

    fn raw(pairs: &[(&str, &[&str])]) -> RawClaims {
        pairs
            .iter()
            .map(|(name, values)| {
                let values = values.iter().map(|v| (*v).to_owned()).collect();
                ((*name).to_owned(), values)
            })
            .collect()
    }

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()))
            .collect()
    }

    struct Run<'a> {
        protocol: Protocol,
        subject: &'a str,
        raw: &'a [(&'a str, &'a [&'a str])],
        overrides: &'a [(&'a str, &'a str)],
        ms_id: bool,
    }

    impl Run<'_> {
        fn go(&self) -> (Claims, Vec<Warning>) {
            let raw = raw(self.raw);
            let overrides = overrides(self.overrides);
            normalize(&NormalizeInput {
                raw: &raw,
                protocol: self.protocol,
                subject: self.subject,
                overrides: &overrides,
                ms_id_as_external_id: self.ms_id,
            })
        }
    }

    /// Shorthand for the common case: no overrides, ms id off, opaque subject.
    fn plain(protocol: Protocol, raw: &[(&str, &[&str])]) -> (Claims, Vec<Warning>) {
        Run {
            protocol,
            subject: "opaque-subject",
            raw,
            overrides: &[],
            ms_id: false,
        }
        .go()
    }

    fn codes(warnings: &[Warning]) -> Vec<&'static str> {
        warnings.iter().map(|w| w.code).collect()
    }

    fn present(value: &str) -> Claim<String> {
        Claim::Present(value.to_owned())
    }

    /// Any claim as a `Claim<String>`, so one table can cover all of them.
    fn field(claims: &Claims, name: &str) -> Claim<String> {
        fn text(claim: &Claim<String>) -> Claim<String> {
            claim.clone()
        }
        match name {
            "first_name" => text(&claims.first_name),
            "last_name" => text(&claims.last_name),
            "display_name" => text(&claims.display_name),
            "email" => text(&claims.email),
            "external_id" => text(&claims.external_id),
            "job_title" => text(&claims.job_title),
            "role" => text(&claims.role),
            "group" => text(&claims.group),
            "username" => text(&claims.username),
            "language" => match &claims.language {
                Claim::Absent => Claim::Absent,
                Claim::Empty => Claim::Empty,
                Claim::Present(language) => present(language.code()),
            },
            "locations" => match &claims.locations {
                Claim::Absent => Claim::Absent,
                Claim::Empty => Claim::Empty,
                Claim::Present(ids) => Claim::Present(ids.join(",")),
            },
            "externalRoleId" => match claims.external_role_ids.as_slice() {
                [] => Claim::Absent,
                ids => Claim::Present(ids.join(",")),
            },
            other => panic!("no such field {other}"),
        }
    }

    #[test]
    fn language_folding() {
        let cases: &[(&str, Option<Language>)] = &[
            ("en", Some(Language::En)),
            ("fr", Some(Language::Fr)),
            ("es", Some(Language::Es)),
            ("de", Some(Language::De)),
            ("nl", Some(Language::Nl)),
            ("pt", Some(Language::Pt)),
            ("FR", Some(Language::Fr)),
            ("Fr", Some(Language::Fr)),
            ("fr-CA", Some(Language::Fr)),
            ("fr_CA", Some(Language::Fr)),
            ("FR-ca", Some(Language::Fr)),
            ("en-US", Some(Language::En)),
            ("en-GB", Some(Language::En)),
            ("es-419", Some(Language::Es)),
            ("pt-BR", Some(Language::Pt)),
            ("nl-BE", Some(Language::Nl)),
            ("de-CH-1996", Some(Language::De)),
            ("zh-Hant-TW", None),
            ("  de  ", Some(Language::De)),
            ("fr-", Some(Language::Fr)),
            ("-fr", None),
            ("", None),
            ("   ", None),
            ("french", None),
            ("fra", None),
            ("f", None),
            ("it", None),
            ("zh", None),
            ("en US", None),
        ];
        for (input, expected) in cases {
            assert_eq!(Language::parse_folding(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn language_codes_round_trip_and_default_is_en() {
        for language in Language::ALL {
            assert_eq!(Language::parse_folding(language.code()), Some(language));
            assert_eq!(
                serde_json::to_value(language).ok(),
                Some(serde_json::json!(language.code()))
            );
        }
        assert_eq!(Language::default(), Language::En);
    }

    #[test]
    fn email_shape() {
        let cases: &[(&str, bool)] = &[
            ("ann@example.com", true),
            ("ann.lee+tag@sub.example.co.uk", true),
            ("ANN@EXAMPLE.COM", true),
            ("ann@example", false),
            ("@example.com", false),
            ("ann@", false),
            ("ann", false),
            ("", false),
            ("ann@@example.com", false),
            ("ann@b@example.com", false),
            ("ann @example.com", false),
            ("ann@exa mple.com", false),
            ("ann@example.com\n", false),
            ("ann@.example.com", false),
            ("ann@example.com.", false),
            ("00000000-0000-0000-0000-000000000001", false),
        ];
        for (input, expected) in cases {
            assert_eq!(is_email_shaped(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn claim_helpers() {
        let absent: Claim<String> = Claim::Absent;
        let empty: Claim<String> = Claim::Empty;
        let value = present("v");
        assert_eq!(Claim::<String>::default(), Claim::Absent);
        assert!(absent.is_absent() && !absent.is_empty() && !absent.is_present());
        assert!(!empty.is_absent() && empty.is_empty() && !empty.is_present());
        assert!(!value.is_absent() && !value.is_empty() && value.is_present());
        assert_eq!(absent.as_present(), None);
        assert_eq!(empty.as_present(), None);
        assert_eq!(value.as_present().map(String::as_str), Some("v"));
        assert_eq!(value.into_present().as_deref(), Some("v"));
        assert_eq!(empty.into_present(), None);
    }

    #[test]
    fn every_canonical_name_works_on_both_protocols() {
        let cases: &[(&str, &str, &str)] = &[
            // (claim name, value sent, expected field value)
            ("first_name", "Ann", "Ann"),
            ("last_name", "Lee", "Lee"),
            ("display_name", "Ann Lee", "Ann Lee"),
            ("email", "ann@example.com", "ann@example.com"),
            ("external_id", "E-1", "E-1"),
            ("job_title", "Nurse", "Nurse"),
            ("language", "nl", "nl"),
            ("locations", "L1", "L1"),
            ("role", "30", "30"),
            ("group", "G1", "G1"),
            ("username", "ann.lee", "ann.lee"),
            ("externalRoleId", "Managers", "Managers"),
        ];
        for protocol in [Saml, Oidc] {
            for (name, value, expected) in cases {
                let (claims, warnings) = plain(protocol, &[(name, &[value])]);
                assert_eq!(field(&claims, name), present(expected), "{protocol:?} {name}");
                assert_eq!(warnings, vec![], "{protocol:?} {name}");
            }
        }
    }

    #[test]
    fn every_alias_maps_on_its_own_protocol_only() {
        // (protocol, attribute, value, ms id switch, field, expected)
        type Case<'a> = (Protocol, &'a str, &'a str, bool, &'a str, Claim<String>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (Saml, GIVENNAME, "Ann", false, "first_name", present("Ann")),
            (Saml, SURNAME, "Lee", false, "last_name", present("Lee")),
            (Saml, EMAILADDRESS, "ann@x.org", false, "email", present("ann@x.org")),
            (Saml, NAME, "ann@t.onmicrosoft.com", false, "email", present("ann@t.onmicrosoft.com")),
            (Saml, NAME, "Ann Lee", false, "email", Claim::Absent),
            (Saml, NAME, "Ann Lee", false, "display_name", Claim::Absent),
            (Saml, DISPLAYNAME, "Ann Lee", false, "display_name", present("Ann Lee")),
            (Saml, "jobtitle", "Nurse", false, "job_title", present("Nurse")),
            (Oidc, "given_name", "Ann", false, "first_name", present("Ann")),
            (Oidc, "family_name", "Lee", false, "last_name", present("Lee")),
            (Oidc, "name", "Ann Lee", false, "display_name", present("Ann Lee")),
            (Oidc, "name", "ann@x.org", false, "email", Claim::Absent),
            (Oidc, "jobtitle", "Nurse", false, "job_title", present("Nurse")),
            // Each protocol sees only its own aliases.
            (Saml, "given_name", "Ann", false, "first_name", Claim::Absent),
            (Saml, "family_name", "Lee", false, "last_name", Claim::Absent),
            (Saml, "name", "Ann Lee", false, "display_name", Claim::Absent),
            (Oidc, GIVENNAME, "Ann", false, "first_name", Claim::Absent),
            (Oidc, SURNAME, "Lee", false, "last_name", Claim::Absent),
            (Oidc, EMAILADDRESS, "ann@x.org", false, "email", Claim::Absent),
            (Oidc, NAME, "ann@x.org", false, "email", Claim::Absent),
            (Oidc, DISPLAYNAME, "Ann Lee", false, "display_name", Claim::Absent),
            // Aliases are exact names.
            (Saml, "JobTitle", "Nurse", false, "job_title", Claim::Absent),
            (Oidc, "Given_Name", "Ann", false, "first_name", Claim::Absent),
            (Saml, "First_Name", "Ann", false, "first_name", Claim::Absent),
            // The Microsoft object id, both ways of the switch.
            (Saml, OBJECTID, "oid-1", true, "external_id", present("oid-1")),
            (Saml, OBJECTID, "oid-1", false, "external_id", Claim::Absent),
            (Oidc, "oid", "oid-1", true, "external_id", present("oid-1")),
            (Oidc, "oid", "oid-1", false, "external_id", Claim::Absent),
            (Saml, "oid", "oid-1", true, "external_id", Claim::Absent),
            (Oidc, OBJECTID, "oid-1", true, "external_id", Claim::Absent),
        ];
        for (protocol, attribute, value, ms_id, name, expected) in cases {
            let (claims, warnings) = Run {
                protocol: *protocol,
                subject: "opaque-subject",
                raw: &[(attribute, &[value])],
                overrides: &[],
                ms_id: *ms_id,
            }
            .go();
            assert_eq!(
                field(&claims, name),
                *expected,
                "{protocol:?} {attribute} ms_id={ms_id} → {name}"
            );
            assert_eq!(warnings, vec![], "{protocol:?} {attribute}");
        }
    }

    #[test]
    fn canonical_names_beat_aliases_even_when_empty() {
        // (protocol, canonical, canonical values, alias, alias value, field, expected, warned)
        type Case<'a> = (Protocol, &'a str, &'a [&'a str], &'a str, &'a str, Claim<String>, bool);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (Saml, "first_name", &["Ann"], GIVENNAME, "Anne", present("Ann"), true),
            (Saml, "last_name", &["Lee"], SURNAME, "Li", present("Lee"), true),
            (Saml, "email", &["a@x.org"], EMAILADDRESS, "b@x.org", present("a@x.org"), true),
            (Saml, "email", &["a@x.org"], NAME, "upn@x.org", present("a@x.org"), true),
            (Saml, "display_name", &["Ann L"], DISPLAYNAME, "Ann Lee", present("Ann L"), true),
            (Saml, "job_title", &["Nurse"], "jobtitle", "RN", present("Nurse"), true),
            (Oidc, "first_name", &["Ann"], "given_name", "Anne", present("Ann"), true),
            (Oidc, "last_name", &["Lee"], "family_name", "Li", present("Lee"), true),
            (Oidc, "display_name", &["Ann L"], "name", "Ann Lee", present("Ann L"), true),
            (Oidc, "job_title", &["Nurse"], "jobtitle", "RN", present("Nurse"), true),
            (Oidc, "external_id", &["E-1"], "oid", "oid-1", present("E-1"), true),
            (Saml, "external_id", &["E-1"], OBJECTID, "oid-1", present("E-1"), true),
            // The same value under both names is not worth a warning.
            (Oidc, "first_name", &["Ann"], "given_name", "Ann", present("Ann"), false),
            (Saml, "email", &["a@x.org"], EMAILADDRESS, " a@x.org ", present("a@x.org"), false),
            // An explicit empty canonical claim decides: it clears.
            (Saml, "first_name", &[""], GIVENNAME, "Anne", Claim::Empty, true),
            (Oidc, "job_title", &["  "], "jobtitle", "RN", Claim::Empty, true),
        ];
        for (protocol, canonical, values, alias, alias_value, expected, warned) in cases {
            let (claims, warnings) = Run {
                protocol: *protocol,
                subject: "opaque-subject",
                raw: &[(canonical, values), (alias, &[alias_value])],
                overrides: &[],
                ms_id: true,
            }
            .go();
            assert_eq!(
                field(&claims, canonical),
                *expected,
                "{protocol:?} {canonical} vs {alias}"
            );
            let expected_codes = if *warned { vec![code::SHADOWED_CLAIM] } else { vec![] };
            assert_eq!(codes(&warnings), expected_codes, "{protocol:?} {canonical} vs {alias}");
        }
    }

    #[test]
    fn emailaddress_beats_the_upn_alias_silently() {
        let (claims, warnings) = plain(
            Saml,
            &[(NAME, &["upn@tenant.onmicrosoft.com"]), (EMAILADDRESS, &["ann@x.org"])],
        );
        assert_eq!(claims.email, present("ann@x.org"));
        assert_eq!(warnings, vec![]);
        // …and when the mail attribute is empty, it still decides (Empty), the UPN
        // does not sneak in; the NameID default then applies only if email-shaped.
        let (claims, _) = plain(Saml, &[(NAME, &["upn@x.org"]), (EMAILADDRESS, &[""])]);
        assert_eq!(claims.email, Claim::Empty);
        // A UPN that is not an email does not hide anything.
        let (claims, _) = plain(Saml, &[(NAME, &["ANN"]), (EMAILADDRESS, &["ann@x.org"])]);
        assert_eq!(claims.email, present("ann@x.org"));
    }

    #[test]
    fn overrides_win_and_consume_their_attribute() {
        // (protocol, raw, overrides, field, expected, warning codes)
        type Case<'a> = (
            Protocol,
            &'a [(&'a str, &'a [&'a str])],
            &'a [(&'a str, &'a str)],
            &'a str,
            Claim<String>,
            &'a [&'static str],
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // An override feeds a claim nothing else would.
            (Saml, &[("mail", &["m@x.org"])], &[("mail", "email")], "email", present("m@x.org"), &[]),
            (Oidc, &[("title", &["RN"])], &[("title", "job_title")], "job_title", present("RN"), &[]),
            (Oidc, &[("roles", &["Admins"])], &[("roles", "externalRoleId")],
                "externalRoleId", present("Admins"), &[]),
            (Saml, &[("dept", &["G1"])], &[("dept", "group")], "group", present("G1"), &[]),
            // Override beats the canonical name…
            (Saml, &[("mail", &["m@x.org"]), ("email", &["e@x.org"])], &[("mail", "email")],
                "email", present("m@x.org"), &[code::SHADOWED_CLAIM]),
            // …and beats an alias.
            (Saml, &[("fn", &["Fiona"]), (GIVENNAME, &["Ann"])], &[("fn", "first_name")],
                "first_name", present("Fiona"), &[code::SHADOWED_CLAIM]),
            (Oidc, &[("nick", &["Annie"]), ("name", &["Ann Lee"])], &[("nick", "display_name")],
                "display_name", present("Annie"), &[code::SHADOWED_CLAIM]),
            // An overridden attribute feeds only its override target.
            (Saml, &[(NAME, &["ann@x.org"])], &[(NAME, "username")], "email", Claim::Absent, &[]),
            (Saml, &[(NAME, &["ann@x.org"])], &[(NAME, "username")],
                "username", present("ann@x.org"), &[]),
            (Oidc, &[("email", &["ann@x.org"])], &[("email", "username")], "email", Claim::Absent, &[]),
            (Oidc, &[("first_name", &["Ann"])], &[("first_name", "last_name")],
                "last_name", present("Ann"), &[]),
            (Oidc, &[("first_name", &["Ann"])], &[("first_name", "last_name")],
                "first_name", Claim::Absent, &[]),
            // An override needs no org switch: it is the org's own configuration.
            (Oidc, &[("oid", &["oid-1"])], &[("oid", "external_id")],
                "external_id", present("oid-1"), &[]),
            // An empty overridden attribute still decides.
            (Oidc, &[("surname_x", &[""]), ("family_name", &["Lee"])], &[("surname_x", "last_name")],
                "last_name", Claim::Empty, &[code::SHADOWED_CLAIM]),
            // Two overrides onto one claim: attribute-name order decides.
            (Saml, &[("b_mail", &["b@x.org"]), ("a_mail", &["a@x.org"])],
                &[("a_mail", "email"), ("b_mail", "email")],
                "email", present("a@x.org"), &[code::SHADOWED_CLAIM]),
            // An override naming no claim is reported and the attribute ignored.
            (Saml, &[("first_name", &["Ann"])], &[("first_name", "firstName")],
                "first_name", Claim::Absent, &[code::UNKNOWN_OVERRIDE_TARGET]),
        ];
        for (i, (protocol, raw, overrides, name, expected, expected_codes)) in cases.iter().enumerate() {
            let (claims, warnings) = Run {
                protocol: *protocol,
                subject: "",
                raw,
                overrides,
                ms_id: false,
            }
            .go();
            assert_eq!(field(&claims, name), *expected, "case {i}: {name}");
            assert_eq!(codes(&warnings), expected_codes.to_vec(), "case {i}: {name}");
        }
    }

    #[test]
    fn tri_state_for_every_claim() {
        let names = [
            ("first_name", "Ann"),
            ("last_name", "Lee"),
            ("display_name", "Ann Lee"),
            ("email", "ann@x.org"),
            ("external_id", "E-1"),
            ("job_title", "Nurse"),
            ("language", "de"),
            ("locations", "L1"),
            ("role", "20"),
            ("group", "G1"),
            ("username", "ann"),
        ];
        for protocol in [Saml, Oidc] {
            for (name, value) in names {
                let padded = format!("  {value}\t");
                // (values sent; None = attribute absent, expected)
                let cases: Vec<(Option<Vec<&str>>, Claim<String>)> = vec![
                    (None, Claim::Absent),
                    (Some(vec![]), Claim::Empty),
                    (Some(vec![""]), Claim::Empty),
                    (Some(vec!["   "]), Claim::Empty),
                    (Some(vec!["", " \t"]), Claim::Empty),
                    (Some(vec![value]), present(value)),
                    (Some(vec![padded.as_str()]), present(value)),
                    (Some(vec!["", value]), present(value)),
                ];
                for (values, expected) in cases {
                    let values_slice = values.clone().unwrap_or_default();
                    let sent: Vec<(&str, &[&str])> = match &values {
                        None => vec![],
                        Some(_) => vec![(name, values_slice.as_slice())],
                    };
                    // No subject, no preferred_username: defaults cannot hide the state.
                    let (claims, warnings) = Run {
                        protocol,
                        subject: "",
                        raw: &sent,
                        overrides: &[],
                        ms_id: false,
                    }
                    .go();
                    assert_eq!(field(&claims, name), expected, "{protocol:?} {name} {values:?}");
                    assert_eq!(warnings, vec![], "{protocol:?} {name} {values:?}");
                }
            }
        }
    }

    #[test]
    fn external_role_ids_keep_every_value() {
        let cases: &[(Option<&[&str]>, &[&str])] = &[
            (None, &[]),
            (Some(&[]), &[]),
            (Some(&["", "  "]), &[]),
            (Some(&["Managers"]), &["Managers"]),
            (Some(&["B", "A", "B", "", " C "]), &["B", "A", "C"]),
            // Case-sensitive: the role mapping is (§1), so both spellings are kept.
            (Some(&["admins", "Admins"]), &["admins", "Admins"]),
            // Not split on commas: a role name may contain one.
            (Some(&["Sales, EMEA"]), &["Sales, EMEA"]),
        ];
        for (values, expected) in cases {
            let sent: Vec<(&str, &[&str])> = values.iter().map(|v| ("externalRoleId", *v)).collect();
            let (claims, warnings) = plain(Oidc, &sent);
            assert_eq!(claims.external_role_ids, expected.to_vec(), "{values:?}");
            assert_eq!(warnings, vec![], "{values:?}");
        }
    }

    #[test]
    fn single_valued_claims_take_the_first_value() {
        // (values, expected, warned)
        let cases: &[(&[&str], &str, bool)] = &[
            (&["Ann", "Bob"], "Ann", true),
            (&["", "Bob", "Ann"], "Bob", true),
            (&["Ann", "Ann"], "Ann", false),
            (&["Ann", " Ann "], "Ann", false),
            (&["Ann", ""], "Ann", false),
        ];
        for name in [
            "first_name",
            "last_name",
            "display_name",
            "external_id",
            "job_title",
            "role",
            "group",
            "username",
        ] {
            for (values, expected, warned) in cases {
                let (claims, warnings) = plain(Oidc, &[(name, values)]);
                assert_eq!(field(&claims, name), present(expected), "{name} {values:?}");
                let expected_codes = if *warned { vec![code::MULTIPLE_VALUES] } else { vec![] };
                assert_eq!(codes(&warnings), expected_codes, "{name} {values:?}");
            }
        }
        let (claims, warnings) = plain(Saml, &[("email", &["a@x.org", "b@x.org"])]);
        assert_eq!(claims.email, present("a@x.org"));
        assert_eq!(codes(&warnings), vec![code::MULTIPLE_VALUES]);
        let (claims, warnings) = plain(Saml, &[("language", &["fr-CA", "en"])]);
        assert_eq!(claims.language, Claim::Present(Language::Fr));
        assert_eq!(codes(&warnings), vec![code::MULTIPLE_VALUES]);
    }

    #[test]
    fn locations_lists() {
        let cases: &[(&[&str], Claim<Vec<String>>)] = &[
            (&["L1"], Claim::Present(vec!["L1".into()])),
            (&["L1,L2"], Claim::Present(vec!["L1".into(), "L2".into()])),
            (&["L2,L1"], Claim::Present(vec!["L2".into(), "L1".into()])),
            (&["L1", "L2"], Claim::Present(vec!["L1".into(), "L2".into()])),
            (
                &["L1,L2", "L3"],
                Claim::Present(vec!["L1".into(), "L2".into(), "L3".into()]),
            ),
            (&[" L1 , , L2 ,"], Claim::Present(vec!["L1".into(), "L2".into()])),
            (&["L1,L1", "L2", "L1"], Claim::Present(vec!["L1".into(), "L2".into()])),
            (&["", "L1"], Claim::Present(vec!["L1".into()])),
            (&["Main Street"], Claim::Present(vec!["Main Street".into()])),
            (&[","], Claim::Empty),
            (&[" , ,, "], Claim::Empty),
            (&["", " "], Claim::Empty),
            (&[""], Claim::Empty),
            (&[], Claim::Empty),
        ];
        for protocol in [Saml, Oidc] {
            for (values, expected) in cases {
                let (claims, warnings) = plain(protocol, &[("locations", values)]);
                assert_eq!(claims.locations, *expected, "{protocol:?} {values:?}");
                assert_eq!(warnings, vec![], "{protocol:?} {values:?}");
            }
        }
    }

    #[test]
    fn language_claim() {
        let cases: &[(&[&str], Claim<Language>, &[&str])] = &[
            (&["fr-CA"], Claim::Present(Language::Fr), &[]),
            (&["fr_CA"], Claim::Present(Language::Fr), &[]),
            (&["FR"], Claim::Present(Language::Fr), &[]),
            (&["pt-BR"], Claim::Present(Language::Pt), &[]),
            (&["klingon"], Claim::Absent, &[code::UNKNOWN_LANGUAGE]),
            (&["it-IT"], Claim::Absent, &[code::UNKNOWN_LANGUAGE]),
            (&[""], Claim::Empty, &[]),
            (&[], Claim::Empty, &[]),
        ];
        for (values, expected, expected_codes) in cases {
            let (claims, warnings) = plain(Oidc, &[("language", values)]);
            assert_eq!(claims.language, *expected, "{values:?}");
            assert_eq!(codes(&warnings), expected_codes.to_vec(), "{values:?}");
        }
    }

    #[test]
    fn username_and_email_defaults() {
        // (protocol, subject, raw, expected username, expected email, warning codes)
        type Case<'a> = (
            Protocol,
            &'a str,
            &'a [(&'a str, &'a [&'a str])],
            Claim<String>,
            Claim<String>,
            &'a [&'static str],
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // SAML: both default to an email-shaped NameID.
            (Saml, "ann@x.org", &[], present("ann@x.org"), present("ann@x.org"), &[]),
            (Saml, " ann@x.org ", &[], present("ann@x.org"), present("ann@x.org"), &[]),
            // SAML: an opaque NameID is a username, never an email.
            (Saml, "AbC123", &[], present("AbC123"), Claim::Absent, &[]),
            (Saml, "", &[], Claim::Absent, Claim::Absent, &[]),
            // SAML: claims win over the NameID.
            (Saml, "ann@x.org", &[("username", &["ann"]), ("email", &["ann.lee@x.org"])],
                present("ann"), present("ann.lee@x.org"), &[]),
            (Saml, "ann@x.org", &[(EMAILADDRESS, &["mail@x.org"])],
                present("ann@x.org"), present("mail@x.org"), &[]),
            // SAML: an empty claim cannot clear a required field; the default fills it.
            (Saml, "ann@x.org", &[("username", &[""]), ("email", &[" "])],
                present("ann@x.org"), present("ann@x.org"), &[]),
            (Saml, "AbC123", &[("email", &[""])], present("AbC123"), Claim::Empty, &[]),
            // SAML: an invalid email claim is dropped; the NameID default applies.
            (Saml, "ann@x.org", &[("email", &["ann"])],
                present("ann@x.org"), present("ann@x.org"), &[code::INVALID_EMAIL]),
            (Saml, "AbC123", &[("email", &["ann"])],
                present("AbC123"), Claim::Absent, &[code::INVALID_EMAIL]),
            // OIDC: username = username claim, else preferred_username, else sub.
            (Oidc, "sub-1", &[("username", &["ann"]), ("preferred_username", &["ann@x.org"])],
                present("ann"), Claim::Absent, &[]),
            (Oidc, "sub-1", &[("preferred_username", &["ann@x.org"])],
                present("ann@x.org"), Claim::Absent, &[]),
            (Oidc, "sub-1", &[("preferred_username", &["", " p "])], present("p"), Claim::Absent, &[]),
            (Oidc, "sub-1", &[("preferred_username", &[" "])], present("sub-1"), Claim::Absent, &[]),
            (Oidc, "sub-1", &[], present("sub-1"), Claim::Absent, &[]),
            (Oidc, "sub-1", &[("username", &[""])], present("sub-1"), Claim::Absent, &[]),
            (Oidc, "", &[], Claim::Absent, Claim::Absent, &[]),
            // OIDC: no email default, even from an email-shaped sub or preferred_username.
            (Oidc, "ann@x.org", &[("preferred_username", &["ann@x.org"])],
                present("ann@x.org"), Claim::Absent, &[]),
            (Oidc, "sub-1", &[("email", &["ann@x.org"])], present("sub-1"), present("ann@x.org"), &[]),
            (Oidc, "sub-1", &[("email", &["not-an-email"])],
                present("sub-1"), Claim::Absent, &[code::INVALID_EMAIL]),
        ];
        for (i, (protocol, subject, raw, username, email, expected_codes)) in cases.iter().enumerate() {
            let (claims, warnings) = Run {
                protocol: *protocol,
                subject,
                raw,
                overrides: &[],
                ms_id: false,
            }
            .go();
            assert_eq!(claims.username, *username, "case {i}: username");
            assert_eq!(claims.email, *email, "case {i}: email");
            assert_eq!(codes(&warnings), expected_codes.to_vec(), "case {i}");
        }
    }

    #[test]
    fn email_verified_is_read_on_oidc_only() {
        type Case<'a> = (Protocol, Option<&'a [&'a str]>, Option<bool>);
        let cases: &[Case] = &[
            (Oidc, Some(&["true"]), Some(true)),
            (Oidc, Some(&["TRUE"]), Some(true)),
            (Oidc, Some(&["false"]), Some(false)),
            (Oidc, Some(&["False"]), Some(false)),
            (Oidc, Some(&["1"]), None),
            (Oidc, Some(&["yes"]), None),
            (Oidc, Some(&[""]), None),
            (Oidc, None, None),
            (Saml, Some(&["true"]), None),
            (Saml, None, None),
        ];
        for (protocol, values, expected) in cases {
            let sent: Vec<(&str, &[&str])> = values.iter().map(|v| ("email_verified", *v)).collect();
            let (claims, _) = plain(*protocol, &sent);
            assert_eq!(claims.email_verified, *expected, "{protocol:?} {values:?}");
        }
    }

    #[test]
    fn an_entra_saml_assertion_end_to_end() {
        let (claims, warnings) = Run {
            protocol: Saml,
            subject: "ann@contoso.com",
            raw: &[
                ("http://schemas.microsoft.com/identity/claims/tenantid", &["t-1"]),
                (OBJECTID, &["oid-1"]),
                (DISPLAYNAME, &["Ann Lee"]),
                (GIVENNAME, &["Ann"]),
                (SURNAME, &["Lee"]),
                (EMAILADDRESS, &["ann.lee@contoso.com"]),
                (NAME, &["ann@contoso.com"]),
                ("language", &["fr-CA"]),
                ("locations", &["L1,L2"]),
                ("externalRoleId", &["Nurses", "Managers"]),
            ],
            overrides: &[],
            ms_id: true,
        }
        .go();
        assert_eq!(warnings, vec![]);
        let expected = Claims {
            first_name: present("Ann"),
            last_name: present("Lee"),
            display_name: present("Ann Lee"),
            email: present("ann.lee@contoso.com"),
            external_id: present("oid-1"),
            job_title: Claim::Absent,
            language: Claim::Present(Language::Fr),
            locations: Claim::Present(vec!["L1".into(), "L2".into()]),
            role: Claim::Absent,
            group: Claim::Absent,
            username: present("ann@contoso.com"),
            external_role_ids: vec!["Nurses".into(), "Managers".into()],
            email_verified: None,
        };
        assert_eq!(claims, expected);
    }

    #[test]
    fn claims_serialize_for_the_login_event() {
        let claims = Claims {
            first_name: present("Ann"),
            last_name: Claim::Empty,
            language: Claim::Present(Language::Fr),
            ..Claims::default()
        };
        let json = serde_json::to_value(&claims).ok();
        let json = json.as_ref();
        assert_eq!(
            json.and_then(|j| j.get("first_name")),
            Some(&serde_json::json!({"state": "present", "value": "Ann"}))
        );
        assert_eq!(
            json.and_then(|j| j.get("last_name")),
            Some(&serde_json::json!({"state": "empty"}))
        );
        assert_eq!(
            json.and_then(|j| j.get("email")),
            Some(&serde_json::json!({"state": "absent"}))
        );
        assert_eq!(
            json.and_then(|j| j.get("language")),
            Some(&serde_json::json!({"state": "present", "value": "fr"}))
        );
    }
}
