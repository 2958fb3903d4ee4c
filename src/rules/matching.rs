//! SPEC §3 "Finding the user": which existing user a login belongs to, and by
//! which rule. The caller runs one lookup per rule (all within the org) and hands
//! the answers over as [`Candidates`]; this module only decides.

use serde::Serialize;
use uuid::Uuid;

use super::claims::Protocol;
use super::{code, Warning};

/// §3's lookup rules, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// 1. an identity link for (connection, subject).
    IdentityLink,
    /// 2. the `external_id` claim = user.external_id.
    ExternalId,
    /// 3. the username (claim or its §2 default) = user.username.
    Username,
    /// 4. the email = user.email, only where the connection trusts emails.
    Email,
}

impl MatchRule {
    /// §3's order: the first rule that finds a user wins.
    pub const ORDER: [MatchRule; 4] = [
        MatchRule::IdentityLink,
        MatchRule::ExternalId,
        MatchRule::Username,
        MatchRule::Email,
    ];

    /// The name recorded in the login event (§10).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchRule::IdentityLink => "identity_link",
            MatchRule::ExternalId => "external_id",
            MatchRule::Username => "username",
            MatchRule::Email => "email",
        }
    }
}

/// The user each §3 rule found, if any (`None` also when the claim was absent,
/// so the lookup was not run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Candidates {
    pub by_link: Option<Uuid>,
    pub by_external_id: Option<Uuid>,
    pub by_username: Option<Uuid>,
    pub by_email: Option<Uuid>,
}

impl Candidates {
    fn get(&self, rule: MatchRule) -> Option<Uuid> {
        match rule {
            MatchRule::IdentityLink => self.by_link,
            MatchRule::ExternalId => self.by_external_id,
            MatchRule::Username => self.by_username,
            MatchRule::Email => self.by_email,
        }
    }
}

/// §3 rule 4: may this login's email find a user?
///
/// WHY: an email is mutable and, at many OIDC providers, self-asserted; matching
/// on an unverified one would let anyone who can set an address take over the
/// account that has it. SAML connections are trusted by default (the IdP is the
/// org's own directory); OIDC only when `email_verified` is true or the email's
/// domain (case-insensitive, exact — subdomains are not included) is one of the
/// connection's verified domains. A connection-level "do not trust emails"
/// switch, if any, is applied by the caller on top of this.
pub fn email_trusted(
    protocol: Protocol,
    email_verified: Option<bool>,
    email: &str,
    verified_domains: &[String],
) -> bool {
    match protocol {
        Protocol::Saml => true,
        Protocol::Oidc => {
            if email_verified == Some(true) {
                return true;
            }
            let Some((_, domain)) = email.trim().rsplit_once('@') else {
                return false;
            };
            !domain.is_empty()
                && verified_domains.iter().any(|verified| {
                    let verified = verified.trim();
                    let verified = verified.strip_prefix('@').unwrap_or(verified);
                    verified.eq_ignore_ascii_case(domain)
                })
        }
    }
}

/// Which user this login is, by which rule, and what disagreed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchDecision {
    /// `None`: no rule found a user (§3 "No user found": JIT creation or refusal).
    pub matched: Option<(Uuid, MatchRule)>,
    pub warnings: Vec<Warning>,
}

/// §3: the first rule that finds a user wins. Every later rule that points at a
/// *different* user is recorded as `ambiguous_match`, so an admin can see the
/// duplicate (one warning per disagreeing rule, naming both rules and users).
/// An untrusted email that points at some other user never matches, but is
/// recorded too (`untrusted_email_match`): it explains a later "email taken".
pub fn pick(candidates: &Candidates, email_trusted: bool) -> MatchDecision {
    let usable = |rule: MatchRule| rule != MatchRule::Email || email_trusted;
    let matched = MatchRule::ORDER
        .into_iter()
        .filter(|rule| usable(*rule))
        .find_map(|rule| candidates.get(rule).map(|user| (user, rule)));

    let mut warnings = Vec::new();
    for rule in MatchRule::ORDER {
        let Some(other) = candidates.get(rule) else {
            continue;
        };
        match matched {
            Some((user, winner)) if rule > winner && other != user && usable(rule) => {
                warnings.push(Warning::new(
                    code::AMBIGUOUS_MATCH,
                    format!(
                        "{} matched user {user}; {} points at user {other}; the first rule wins",
                        winner.as_str(),
                        rule.as_str()
                    ),
                ));
            }
            _ if !usable(rule) && matched.map(|(user, _)| user) != Some(other) => {
                warnings.push(Warning::new(
                    code::UNTRUSTED_EMAIL_MATCH,
                    format!(
                        "email points at user {other}, but this connection does not trust \
                         emails (§3: unverified email); not matched"
                    ),
                ));
            }
            _ => {}
        }
    }
    MatchDecision { matched, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MatchRule::{Email, ExternalId, IdentityLink, Username};

    const A: Uuid = Uuid::from_u128(0xA);
    const B: Uuid = Uuid::from_u128(0xB);
    const C: Uuid = Uuid::from_u128(0xC);

    fn candidates(
        link: Option<Uuid>,
        external_id: Option<Uuid>,
        username: Option<Uuid>,
        email: Option<Uuid>,
    ) -> Candidates {
        Candidates {
            by_link: link,
            by_external_id: external_id,
            by_username: username,
            by_email: email,
        }
    }

    /// Every combination of "which user does each rule find" over {none, A, B}:
    /// the winner is the first usable rule with a user; each later usable rule
    /// with a different user is one ambiguity, naming both rules.
    #[test]
    fn every_rule_order_and_every_ambiguity() {
        let choices = [None, Some(A), Some(B)];
        let mut combinations = 0;
        for link in choices {
            for external_id in choices {
                for username in choices {
                    for email in choices {
                        for trusted in [true, false] {
                            combinations += 1;
                            let found = [link, external_id, username, email];
                            let c = candidates(link, external_id, username, email);
                            let decision = pick(&c, trusted);

                            let rules = MatchRule::ORDER;
                            let usable = |i: usize| i < 3 || trusted;
                            let expected = (0..4)
                                .filter(|i| usable(*i))
                                .find_map(|i| found[i].map(|user| (user, rules[i])));
                            assert_eq!(decision.matched, expected, "{c:?} trusted={trusted}");

                            let mut expected_codes = Vec::new();
                            for (i, user) in found.iter().enumerate() {
                                let Some(user) = user else { continue };
                                match expected {
                                    Some((winner, rule)) if rules[i] > rule && *user != winner && usable(i) => {
                                        expected_codes.push(code::AMBIGUOUS_MATCH);
                                    }
                                    _ if !usable(i) && expected.map(|(w, _)| w) != Some(*user) => {
                                        expected_codes.push(code::UNTRUSTED_EMAIL_MATCH);
                                    }
                                    _ => {}
                                }
                            }
                            let codes: Vec<_> = decision.warnings.iter().map(|w| w.code).collect();
                            assert_eq!(codes, expected_codes, "{c:?} trusted={trusted}");
                        }
                    }
                }
            }
        }
        assert_eq!(combinations, 162);
    }

    #[test]
    fn named_cases() {
        // (candidates, email trusted, expected match, expected warnings (code, detail contains))
        type Case = (
            Candidates,
            bool,
            Option<(Uuid, MatchRule)>,
            Vec<(&'static str, &'static str)>,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            (candidates(None, None, None, None), true, None, vec![]),
            (candidates(Some(A), None, None, None), true, Some((A, IdentityLink)), vec![]),
            (candidates(None, Some(A), None, None), true, Some((A, ExternalId)), vec![]),
            (candidates(None, None, Some(A), None), true, Some((A, Username)), vec![]),
            (candidates(None, None, None, Some(A)), true, Some((A, Email)), vec![]),
            // An untrusted email never matches (§3 rule 4)…
            (candidates(None, None, None, Some(A)), false, None,
                vec![(code::UNTRUSTED_EMAIL_MATCH, "does not trust")]),
            // …and is not worth a word when an earlier rule found that same user.
            (candidates(None, None, Some(A), Some(A)), false, Some((A, Username)), vec![]),
            // All rules agree: no warning.
            (candidates(Some(A), Some(A), Some(A), Some(A)), true, Some((A, IdentityLink)), vec![]),
            // The link wins over every other rule.
            (candidates(Some(A), Some(B), None, None), true, Some((A, IdentityLink)),
                vec![(code::AMBIGUOUS_MATCH, "identity_link matched")]),
            (candidates(None, Some(A), Some(B), None), true, Some((A, ExternalId)),
                vec![(code::AMBIGUOUS_MATCH, "username points at")]),
            (candidates(None, None, Some(A), Some(B)), true, Some((A, Username)),
                vec![(code::AMBIGUOUS_MATCH, "email points at")]),
            // Three different users: one warning per disagreeing rule.
            (candidates(Some(A), Some(B), Some(C), Some(B)), true, Some((A, IdentityLink)), vec![
                (code::AMBIGUOUS_MATCH, "external_id points at"),
                (code::AMBIGUOUS_MATCH, "username points at"),
                (code::AMBIGUOUS_MATCH, "email points at"),
            ]),
            // A rule disagreeing with a middle rule but agreeing with the winner is fine.
            (candidates(None, Some(A), Some(B), Some(A)), true, Some((A, ExternalId)),
                vec![(code::AMBIGUOUS_MATCH, "username points at")]),
            // An untrusted email pointing elsewhere is recorded, the match stands.
            (candidates(None, None, Some(A), Some(B)), false, Some((A, Username)),
                vec![(code::UNTRUSTED_EMAIL_MATCH, "does not trust")]),
        ];
        for (i, (c, trusted, matched, expected)) in cases.into_iter().enumerate() {
            let decision = pick(&c, trusted);
            assert_eq!(decision.matched, matched, "case {i}");
            assert_eq!(
                decision.warnings.len(),
                expected.len(),
                "case {i}: {:?}",
                decision.warnings
            );
            for (warning, (code, fragment)) in decision.warnings.iter().zip(expected) {
                assert_eq!(warning.code, code, "case {i}");
                assert!(warning.detail.contains(fragment), "case {i}: {}", warning.detail);
            }
        }
    }

    #[test]
    fn ambiguity_names_both_users() {
        let decision = pick(&candidates(Some(A), None, Some(B), None), true);
        let detail = &decision.warnings[0].detail;
        assert!(
            detail.contains(&A.to_string()) && detail.contains(&B.to_string()),
            "{detail}"
        );
    }

    #[test]
    fn email_trust() {
        let domains = vec!["contoso.com".to_owned(), " @Fabrikam.org ".to_owned()];
        // (protocol, email_verified, email, expected)
        let cases: &[(Protocol, Option<bool>, &str, bool)] = &[
            // SAML trusts by default, whatever the token says.
            (Protocol::Saml, None, "ann@elsewhere.net", true),
            (Protocol::Saml, Some(false), "ann@elsewhere.net", true),
            (Protocol::Saml, Some(true), "ann@contoso.com", true),
            // OIDC: email_verified true is enough.
            (Protocol::Oidc, Some(true), "ann@elsewhere.net", true),
            (Protocol::Oidc, Some(true), "", true),
            // OIDC: otherwise only a verified domain.
            (Protocol::Oidc, None, "ann@contoso.com", true),
            (Protocol::Oidc, Some(false), "ann@contoso.com", true),
            (Protocol::Oidc, None, "ann@CONTOSO.COM", true),
            (Protocol::Oidc, None, "ann@fabrikam.org", true),
            (Protocol::Oidc, None, " ann@contoso.com ", true),
            (Protocol::Oidc, None, "ann@elsewhere.net", false),
            (Protocol::Oidc, Some(false), "ann@elsewhere.net", false),
            (Protocol::Oidc, None, "ann@sub.contoso.com", false),
            (Protocol::Oidc, None, "ann@contoso.com.evil.net", false),
            (Protocol::Oidc, None, "ann@evilcontoso.com", false),
            (Protocol::Oidc, None, "contoso.com", false),
            (Protocol::Oidc, None, "ann@", false),
            (Protocol::Oidc, None, "", false),
        ];
        for (protocol, verified, email, expected) in cases {
            assert_eq!(
                email_trusted(*protocol, *verified, email, &domains),
                *expected,
                "{protocol:?} {verified:?} {email:?}"
            );
        }
        assert!(!email_trusted(Protocol::Oidc, None, "ann@contoso.com", &[]));
    }

    #[test]
    fn rules_serialize_as_snake_case() {
        for rule in MatchRule::ORDER {
            assert_eq!(serde_json::to_value(rule).ok(), Some(serde_json::json!(rule.as_str())));
        }
    }
}
