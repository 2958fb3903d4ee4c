//! The authorization code flow: `login` sends the browser to the provider
//! with PKCE, `state` and `nonce` kept in the browser's session; `callback`
//! checks what comes back, exchanges the code, verifies the ID token and
//! hands the identity to the claims engine.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreTokenResponse};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower_sessions::Session;
use uuid::Uuid;

use super::client_assertion;
use super::config::ClientAuth;
use super::identity;
use super::provider::{Metadata, Refetch};
use super::setup::{self, LoadedOidc};
use super::token::{self, Expected, Verdict};
use super::Refused;
use crate::app::AppState;
use crate::model::LoginMethod;
use crate::rules::claims::Protocol;
use crate::signin::{self, ConnectionPolicy, VerifiedIdentity};
use crate::store::connections::ConnectionRecord;
use crate::web::client::ClientIp;
use crate::web::error::{Error, PageError};
use crate::web::redirect::safe_return_path;
use crate::web::session::SsoSession;
use crate::web::sso;

/// How long the provider may take to send the browser back.
const PENDING_TTL_MINUTES: i64 = 10;
/// Sign-ins one browser may have under way at once (tabs).
const MAX_PENDING: usize = 5;
const PENDING_KEY: &str = "oidc_pending";
const MAX_USERINFO_BYTES: usize = 64 * 1024;

/// One sign-in under way, bound to the browser session that started it.
#[derive(Clone, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    pkce_verifier: String,
    connection_id: Uuid,
    return_to: Option<String>,
    expires_at: DateTime<Utc>,
}

type Rp = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

fn relying_party(state: &AppState, l: &LoadedOidc, metadata: &Metadata) -> Result<Rp, Error> {
    let redirect = RedirectUrl::new(state.config.url(&setup::redirect_path(l.record.id))).map_err(Error::internal)?;
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(l.config.client_id.clone()),
        l.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(match l.config.client_auth {
        ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
        // private_key_jwt sends client_id in the body beside the assertion.
        ClientAuth::ClientSecretPost | ClientAuth::PrivateKeyJwt => AuthType::RequestBody,
    }))
}

fn loaded(state: &AppState, record: ConnectionRecord) -> Result<LoadedOidc, Error> {
    Ok(setup::load_record(&state.config, record)?)
}

/// Refuses with a login event; the page shows `message` or a generic text.
async fn refuse(
    state: &AppState,
    l: &LoadedOidc,
    client: &ClientIp,
    refused: Refused,
    message: Option<&str>,
) -> Result<Response, PageError> {
    let event_id = sso::record_refusal(
        state,
        l.record.org_id,
        l.record.id,
        LoginMethod::Oidc,
        client,
        refused.reason,
        refused.detail,
    )
    .await?;
    sso::refused_page(state, message.map(|m| format!("{m} Reference: {event_id}")), event_id)
}

/// Starts a sign-in: PKCE (S256), `state` and `nonce`, all kept in the
/// session, then the redirect to the provider.
pub async fn login(
    state: &AppState,
    record: ConnectionRecord,
    return_to: Option<&str>,
    session: &Session,
    client: &ClientIp,
) -> Result<Response, PageError> {
    let l = loaded(state, record)?;
    let metadata = match state.providers.get(&l.config.issuer).await {
        Ok(m) => m,
        Err(detail) => {
            let unreachable = "Your identity provider could not be reached. Try again in a moment.";
            return refuse(
                state,
                &l,
                client,
                Refused::new("discovery_failed", detail),
                Some(unreachable),
            )
            .await;
        }
    };
    let rp = relying_party(state, &l, &metadata)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    // The crate always asks for `openid`.
    for scope in l.config.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.set_pkce_challenge(challenge).url();

    let mut pending: Vec<Pending> = session.get(PENDING_KEY).await?.unwrap_or_default();
    let now = crate::clock::now();
    pending.retain(|p| p.expires_at > now);
    if pending.len() >= MAX_PENDING {
        pending.remove(0);
    }
    pending.push(Pending {
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        connection_id: l.record.id,
        return_to: return_to.and_then(safe_return_path).map(str::to_owned),
        expires_at: now + Duration::minutes(PENDING_TTL_MINUTES),
    });
    session.insert(PENDING_KEY, &pending).await?;
    Ok(Redirect::to(url.as_str()).into_response())
}

/// Where sign-out should send the browser: the provider's end-session
/// endpoint (OIDC RP-Initiated Logout 1.0) when it publishes one, so the
/// person's session there ends too, then back to our sign-in page.
pub async fn logout_redirect(
    state: &AppState,
    record: ConnectionRecord,
    sso: &SsoSession,
    org_slug: &str,
) -> Option<String> {
    let l = setup::load_record(&state.config, record).ok()?;
    let metadata = state.providers.get(&l.config.issuer).await.ok()?;
    let endpoint = metadata.additional_metadata().end_session_endpoint.as_deref()?;
    let mut url = super::config::check_endpoint("end_session_endpoint", endpoint).ok()?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &l.config.client_id);
        q.append_pair(
            "post_logout_redirect_uri",
            &state.config.url(&format!("/o/{org_slug}/login")),
        );
        if let Some(hint) = &sso.id_token_hint {
            q.append_pair("id_token_hint", hint);
        }
    }
    Some(url.to_string())
}

/// The connection's `private_key_jwt` certificate (public), for the admin
/// to upload at the provider.
pub async fn certificate(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
    let record = crate::connection_setup::record_of_kind(&state.db, id, setup::KIND).await?;
    let pem = setup::parse(&record)
        .and_then(|c| c.client_certificate)
        .ok_or(Error::NotFound)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"gatehouse-oidc-{id}.pem\""),
            ),
        ],
        pem,
    )
        .into_response())
}

/// Removes and returns the session's pending sign-in with this `state`:
/// each is usable once, whatever the outcome.
async fn take_pending(session: &Session, state: &str) -> Result<Option<Pending>, Error> {
    let mut pending: Vec<Pending> = session.get(PENDING_KEY).await?.unwrap_or_default();
    let Some(at) = pending.iter().position(|p| crate::secrets::equal(&p.state, state)) else {
        return Ok(None);
    };
    let found = pending.remove(at);
    session.insert(PENDING_KEY, &pending).await?;
    Ok(Some(found))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// An OAuth error code as safe to show: RFC 6749 limits it to printable
/// ASCII; we show only the usual `[a-z_]` shape and cap it.
fn error_name(error: &str) -> String {
    error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

pub async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
    session: Session,
    client: ClientIp,
) -> Result<Response, PageError> {
    let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
    let record = crate::connection_setup::record_of_kind(&state.db, id, setup::KIND)
        .await
        .map_err(Error::from)?;
    if !record.enabled {
        return Err(Error::NotFound.into());
    }
    let l = loaded(&state, record)?;
    let now = crate::clock::now();

    // 1. The state must name a sign-in this browser started here, once.
    let pending = match q.state.as_deref() {
        Some(s) if !s.is_empty() => take_pending(&session, s).await?,
        _ => None,
    };
    let Some(pending) = pending.filter(|p| p.connection_id == l.record.id) else {
        let detail = if q.state.is_none() {
            "no state parameter"
        } else {
            "state matches no sign-in started in this browser session (forged, replayed, or the session is gone)"
        };
        return refuse(&state, &l, &client, Refused::new("state_unknown", detail), None).await;
    };
    if pending.expires_at <= now {
        let message = "This sign-in took too long. Start again from the sign-in page.";
        return refuse(
            &state,
            &l,
            &client,
            Refused::new("state_expired", "the sign-in started more than 10 minutes ago"),
            Some(message),
        )
        .await;
    }

    // 2. An error from the provider is shown by name.
    if let Some(error) = q.error.as_deref() {
        let name = error_name(error);
        let detail = format!("{name}: {}", clip(q.error_description.as_deref().unwrap_or("")));
        let message = format!("Your identity provider did not sign you in ({name}).");
        return refuse(
            &state,
            &l,
            &client,
            Refused::new("provider_error", detail),
            Some(&message),
        )
        .await;
    }

    let metadata = match state.providers.get(&l.config.issuer).await {
        Ok(m) => m,
        Err(detail) => return refuse(&state, &l, &client, Refused::new("discovery_failed", detail), None).await,
    };

    // 3. RFC 9207: the response names the provider that sent it.
    match q.iss.as_deref() {
        Some(iss) if iss != l.config.issuer => {
            let detail = format!("iss parameter {:?} is not the issuer", clip(iss));
            return refuse(&state, &l, &client, Refused::new("iss_param_mismatch", detail), None).await;
        }
        None if metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported =>
        {
            let detail = "the provider promises an iss parameter and the response has none";
            return refuse(&state, &l, &client, Refused::new("iss_param_missing", detail), None).await;
        }
        _ => {}
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return refuse(
            &state,
            &l,
            &client,
            Refused::new("code_missing", "no code parameter"),
            None,
        )
        .await;
    };

    // 4. The code, with our PKCE verifier and client authentication.
    let rp = relying_party(&state, &l, &metadata)?;
    let mut request = rp
        .exchange_code(AuthorizationCode::new(code))
        .map_err(Error::internal)?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
    if let (Some(key), Some(cert)) = (&l.client_key, &l.config.client_certificate) {
        let token_url = metadata
            .token_endpoint()
            .ok_or_else(|| Error::internal("the provider has no token endpoint"))?;
        let assertion =
            client_assertion::sign(key, cert, &l.config.client_id, token_url.as_str(), now).map_err(Error::internal)?;
        request = request
            .add_extra_param("client_assertion_type", client_assertion::ASSERTION_TYPE)
            .add_extra_param("client_assertion", assertion);
    }
    let exchange = request.request_async(state.providers.http()).await;
    let tokens: CoreTokenResponse = match exchange {
        Ok(t) => t,
        Err(RequestTokenError::ServerResponse(e)) => {
            let detail = format!(
                "{}: {}",
                e.error().as_ref(),
                clip(e.error_description().map(String::as_str).unwrap_or(""))
            );
            return refuse(&state, &l, &client, Refused::new("token_error", detail), None).await;
        }
        Err(e) => {
            let detail = super::provider::describe(&e);
            return refuse(&state, &l, &client, Refused::new("token_request_failed", detail), None).await;
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return refuse(
            &state,
            &l,
            &client,
            Refused::new("id_token_missing", "the token response has no id_token"),
            None,
        )
        .await;
    };

    // 5. The ID token.
    let claims = match verify_id_token(&state, &l, &metadata, id_token, &pending.nonce, now).await {
        Ok(c) => c,
        Err(r) => return refuse(&state, &l, &client, r, None).await,
    };
    let (subject, sub) = match identity::subject(l.config.profile, &l.config.issuer, &claims) {
        Ok(s) => s,
        Err(r) => return refuse(&state, &l, &client, r, None).await,
    };

    // 6. Userinfo, when configured: its `sub` must be the ID token's.
    let userinfo = if l.config.userinfo {
        match fetch_userinfo(&state, &metadata, tokens.access_token().secret(), &sub).await {
            Ok(u) => Some(u),
            Err(r) => return refuse(&state, &l, &client, r, None).await,
        }
    } else {
        None
    };

    let org = state.db.org_by_id(l.record.org_id).await?;
    let identity = VerifiedIdentity {
        connection_id: l.record.id,
        protocol: Protocol::Oidc,
        subject: subject.clone(),
        subject_value: sub,
        raw_claims: identity::raw_claims(&claims, userinfo.as_ref()),
        relay_state: None,
        idp_initiated: false,
        warnings: identity::warnings(&claims),
    };
    let policy = ConnectionPolicy {
        attribute_overrides: l.config.attribute_overrides.clone(),
        verified_domains: l.config.verified_domains.clone(),
        relay_state_roles: false,
        relay_state_ceiling: 0,
    };
    let outcome = signin::sign_in(&state.db, &org, &policy, &identity, client.as_string(), now)
        .await
        .map_err(Error::internal)?;
    let sso_session = SsoSession {
        connection_id: l.record.id,
        name_id: subject,
        name_id_format: None,
        id_token_hint: Some(id_token.to_string()),
    };
    sso::finish(&state, &session, &org, outcome, sso_session, pending.return_to).await
}

/// Verifies with the cached keys; a `kid` they lack makes one (rate-limited)
/// JWKS refetch, so a provider's key rotation needs no restart.
async fn verify_id_token(
    state: &AppState,
    l: &LoadedOidc,
    metadata: &std::sync::Arc<Metadata>,
    id_token: &CoreIdToken,
    nonce: &str,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, Refused> {
    let mut metadata = metadata.clone();
    let mut refetched = false;
    loop {
        let allowed = token::allowed_algs(metadata.id_token_signing_alg_values_supported());
        let expected = Expected {
            issuer: &l.config.issuer,
            client_id: &l.config.client_id,
            nonce,
            trusted_audiences: &l.config.trusted_audiences,
            allowed_algs: &allowed,
            now,
            skew: Duration::seconds(l.config.clock_skew_seconds),
        };
        match token::verify(id_token, metadata.jwks(), &expected) {
            Verdict::Valid(claims) => return Ok(claims),
            Verdict::Refused(r) => return Err(r),
            Verdict::UnknownKid(kid) if refetched => {
                return Err(Refused::new(
                    "unknown_kid",
                    format!("kid {kid:?} is not in the provider's JWKS, even after a refetch"),
                ))
            }
            Verdict::UnknownKid(kid) => {
                refetched = true;
                match state.providers.refetch_jwks(&l.config.issuer).await {
                    Ok(Refetch::Fetched(m)) => metadata = m,
                    Ok(Refetch::RateLimited) => {
                        return Err(Refused::new(
                            "unknown_kid",
                            format!("kid {kid:?} is not in the provider's JWKS, which was refetched moments ago"),
                        ))
                    }
                    Err(e) => return Err(Refused::new("unknown_kid", format!("kid {kid:?} is unknown and {e}"))),
                }
            }
        }
    }
}

async fn fetch_userinfo(
    state: &AppState,
    metadata: &Metadata,
    access_token: &str,
    sub: &str,
) -> Result<Map<String, Value>, Refused> {
    let failed = |detail: String| Refused::new("userinfo_failed", detail);
    let url = metadata
        .userinfo_endpoint()
        .ok_or_else(|| failed("the provider has no userinfo endpoint".into()))?;
    let mut resp = state
        .providers
        .http()
        .get(url.url().clone())
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| failed(super::provider::describe(&e)))?;
    if resp.status() != StatusCode::OK {
        return Err(failed(format!("HTTP {}", resp.status())));
    }
    let json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !json {
        return Err(failed(
            "the response is not application/json (signed userinfo is not supported)".into(),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.to_string()))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_USERINFO_BYTES {
            return Err(failed("the response is larger than 64 KiB".into()));
        }
    }
    let claims: Map<String, Value> =
        serde_json::from_slice(&body).map_err(|e| failed(format!("not a JSON object: {e}")))?;
    match claims.get("sub").and_then(Value::as_str) {
        Some(s) if s == sub => Ok(claims),
        other => Err(Refused::new(
            "userinfo_sub_mismatch",
            format!("userinfo sub {:?} is not the ID token's {sub:?}", other.unwrap_or("")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::error_name;

    #[test]
    fn provider_error_names_are_tamed() {
        let cases = [
            ("access_denied", "access_denied"),
            ("<script>alert(1)</script>", "scriptalert1script"),
            ("interaction required", "interactionrequired"),
        ];
        for (raw, shown) in cases {
            assert_eq!(error_name(raw), shown);
        }
        assert_eq!(error_name(&"x".repeat(500)).len(), 64);
    }
}
