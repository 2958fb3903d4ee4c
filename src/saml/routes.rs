//! SAML endpoints: SP metadata, SP-initiated login, the ACS (HTTP-POST),
//! and single logout. Handlers stay thin: `verify` decides about the
//! message, the database about single use and replay, `signin` about the
//! user.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Duration;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::setup::{self, LoadedSaml};
use super::sp;
use super::verify::{self, IdpTrust, SpEndpoint};
use crate::app::AppState;
use crate::model::{LoginMethod, Organization};
use crate::rules::claims::Protocol;
use crate::signin::{self, ConnectionPolicy, VerifiedIdentity};
use crate::store::connections::ConnectionRecord;
use crate::web::client::ClientIp;
use crate::web::error::{Error, PageError};
use crate::web::redirect::safe_return_path;
use crate::web::session::{self, SsoSession};
use crate::web::sso;

/// How long an AuthnRequest may wait for its response.
const REQUEST_TTL_MINUTES: i64 = 10;
/// The largest SAMLResponse accepted (base64 text).
pub const MAX_RESPONSE_BYTES: usize = 192 * 1024;

async fn loaded(state: &AppState, id: &str) -> Result<LoadedSaml, Error> {
    let id = Uuid::try_parse(id).map_err(|_| Error::NotFound)?;
    Ok(setup::load(&state.db, &state.config, id).await?)
}

pub async fn metadata(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let l = loaded(&state, &id).await?;
    let xml = sp::metadata_xml(&l.urls, &l.config.sp_certificate, l.config.sign_authn_requests);
    Ok((
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"gatehouse-sp-{}.xml\"", l.record.id),
            ),
        ],
        xml,
    )
        .into_response())
}

/// SP-initiated: record the AuthnRequest server-side, redirect to the IdP.
pub async fn login(
    state: &AppState,
    org: &Organization,
    record: ConnectionRecord,
    return_to: Option<&str>,
) -> Result<Response, PageError> {
    let l = setup::load_record(&state.config, record).map_err(Error::from)?;
    let now = crate::clock::now();
    let request_id = sp::new_request_id();
    let return_to = return_to.and_then(safe_return_path);
    state
        .db
        .save_saml_request(
            &request_id,
            org.id,
            l.record.id,
            return_to,
            now,
            now + Duration::minutes(REQUEST_TTL_MINUTES),
        )
        .await?;
    let xml = sp::authn_request_xml(&request_id, &l.urls, &l.config.idp.sso_url, now);
    let key = l.config.sign_authn_requests.then_some(&l.sp_key);
    // RelayState is an opaque key: the request id, whose row holds the return path.
    let url = sp::redirect_url(&l.config.idp.sso_url, "SAMLRequest", &xml, Some(&request_id), key)
        .map_err(Error::internal)?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// A refused response: the event keeps the precise reason, the person sees
/// a generic page with a reference an admin can look up.
async fn refuse(
    state: &AppState,
    l: &LoadedSaml,
    client: &ClientIp,
    reason: &str,
    detail: String,
) -> Result<Response, PageError> {
    let status = (reason == "status_not_success").then(|| detail.clone());
    let event_id = sso::record_refusal(
        state,
        l.record.org_id,
        l.record.id,
        LoginMethod::Saml,
        client,
        reason,
        detail,
    )
    .await?;
    let message = status
        .map(|status| format!("Your identity provider did not sign you in (status: {status}). Reference: {event_id}"));
    sso::refused_page(state, message, event_id)
}

pub async fn acs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    session: Session,
    client: ClientIp,
    Form(form): Form<AcsForm>,
) -> Result<Response, PageError> {
    let l = loaded(&state, &id).await?;
    if !l.record.enabled {
        return Err(Error::NotFound.into());
    }
    let now = crate::clock::now();
    let Some(encoded) = form.saml_response.filter(|s| !s.is_empty()) else {
        return refuse(&state, &l, &client, "malformed_base64", "no SAMLResponse".into()).await;
    };
    if encoded.len() > MAX_RESPONSE_BYTES {
        return refuse(
            &state,
            &l,
            &client,
            "body_too_large",
            format!("{} bytes", encoded.len()),
        )
        .await;
    }
    let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let Ok(bytes) = STANDARD.decode(compact) else {
        return refuse(
            &state,
            &l,
            &client,
            "malformed_base64",
            "SAMLResponse is not base64".into(),
        )
        .await;
    };
    let Ok(xml) = String::from_utf8(bytes) else {
        return refuse(&state, &l, &client, "malformed_xml", "SAMLResponse is not UTF-8".into()).await;
    };

    // libxmlsec1 work is CPU-bound: off the async workers.
    let skew = Duration::seconds(l.config.clock_skew_seconds);
    let (l, verdict) = tokio::task::spawn_blocking(move || {
        let verdict = verify::verify(
            &xml,
            &IdpTrust {
                entity_id: &l.config.idp.entity_id,
                certificates: &l.certificates,
                allow_sha1: l.config.allow_sha1,
            },
            &SpEndpoint {
                entity_id: &l.urls.entity_id,
                acs_url: &l.urls.acs,
                decryption_key: Some(&l.sp_key),
            },
            now,
            skew,
        );
        (l, verdict)
    })
    .await
    .map_err(Error::internal)?;
    let assertion = match verdict {
        Ok(a) => a,
        Err(r) => return refuse(&state, &l, &client, r.reason, r.detail).await,
    };

    // Replay cache first: a captured response is a replay whatever else it claims.
    if !state
        .db
        .remember_assertion(l.record.id, &assertion.assertion_id, assertion.remember_until)
        .await?
    {
        return refuse(
            &state,
            &l,
            &client,
            "replayed_assertion",
            format!("assertion {} was already used", assertion.assertion_id),
        )
        .await;
    }
    let (return_to, idp_initiated) = match &assertion.in_response_to {
        Some(request_id) => match state.db.consume_saml_request(l.record.id, request_id, now).await? {
            Ok(return_to) => (return_to, false),
            Err(refusal) => {
                return refuse(
                    &state,
                    &l,
                    &client,
                    refusal.reason(),
                    format!("InResponseTo {request_id}"),
                )
                .await
            }
        },
        None if l.config.idp_initiated => (None, true),
        None => {
            return refuse(
                &state,
                &l,
                &client,
                "unsolicited_not_allowed",
                "IdP-initiated sign-in is off for this connection".into(),
            )
            .await
        }
    };

    let org: Organization = state.db.org_by_id(l.record.org_id).await?;
    let format = assertion.name_id_format.clone().unwrap_or_default();
    let identity = VerifiedIdentity {
        connection_id: l.record.id,
        protocol: Protocol::Saml,
        subject: format!("{format}|{}", assertion.name_id),
        subject_value: assertion.name_id.clone(),
        raw_claims: assertion.attributes.clone(),
        // Unsigned, so only ever a candidate for the opt-in §4 rule.
        relay_state: if idp_initiated {
            form.relay_state.clone().filter(|r| !r.is_empty())
        } else {
            None
        },
        idp_initiated,
        warnings: Vec::new(),
    };
    let policy = ConnectionPolicy {
        attribute_overrides: l.config.attribute_overrides.clone(),
        verified_domains: Vec::new(),
        relay_state_roles: l.config.relay_state_roles,
        relay_state_ceiling: l.config.relay_state_ceiling,
    };
    let outcome = signin::sign_in(&state.db, &org, &policy, &identity, client.as_string(), now)
        .await
        .map_err(Error::internal)?;
    let sso_session = SsoSession {
        connection_id: l.record.id,
        name_id: assertion.name_id,
        name_id_format: assertion.name_id_format,
        id_token_hint: None,
    };
    sso::finish(&state, &session, &org, outcome, sso_session, return_to).await
}

/// The IdP answering our LogoutRequest, or starting a logout itself: either
/// way the local session ends here.
pub async fn slo(
    State(state): State<AppState>,
    Path(id): Path<String>,
    session: Session,
) -> Result<Response, PageError> {
    let l = loaded(&state, &id).await?;
    session::end(&session).await?;
    let org = state.db.org_by_id(l.record.org_id).await?;
    sso::page(
        &state,
        StatusCode::OK,
        "Signed out",
        "You are signed out.",
        Some((format!("/o/{}/login", org.slug), "Sign in again")),
    )
}

/// Where sign-out should send the browser: the IdP's SLO endpoint with a
/// LogoutRequest when the session came from a SAML connection that has one.
pub fn logout_redirect(state: &AppState, record: ConnectionRecord, sso: &SsoSession) -> Option<String> {
    let l = setup::load_record(&state.config, record).ok()?;
    let slo_url = l.config.idp.slo_url.clone()?;
    let xml = sp::logout_request_xml(
        &sp::new_request_id(),
        &l.urls,
        &slo_url,
        &sso.name_id,
        sso.name_id_format.as_deref(),
        crate::clock::now(),
    );
    let key = l.config.sign_authn_requests.then_some(&l.sp_key);
    sp::redirect_url(&slo_url, "SAMLRequest", &xml, None, key).ok()
}
