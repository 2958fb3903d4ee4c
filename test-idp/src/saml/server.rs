//! The IdP's HTTP side: what a browser sees of Entra ID, reduced to a
//! login form.

use std::io::Read;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use super::response::{escape, Encryption};
use super::SamlIdp;

pub fn router(idp: SamlIdp) -> Router {
    Router::new()
        .route("/saml/metadata", get(metadata))
        .route("/saml/sso", get(sso_redirect).post(sso_post))
        .route("/saml/login", post(login))
        .route("/saml/idp-initiated", get(idp_initiated))
        .route("/saml/slo", get(slo))
        .with_state(idp)
}

async fn metadata(State(idp): State<SamlIdp>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        idp.metadata_xml(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SsoParams {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, msg.to_string()).into_response()
}

/// (request id, ACS URL) from an AuthnRequest, by its attributes.
fn read_request(xml: &str) -> Option<(String, String)> {
    let attr = |name: &str| {
        let at = xml.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = xml[at..].find('"')? + at;
        Some(xml[at..end].replace("&amp;", "&"))
    };
    Some((attr("ID")?, attr("AssertionConsumerServiceURL")?))
}

fn login_form(idp: &SamlIdp, request_id: &str, acs: &str, relay_state: &str, error: &str) -> Response {
    let _ = idp;
    Html(format!(
        "<!doctype html><html><head><title>test-idp sign in</title></head><body style=\"font-family:sans-serif;max-width:24rem;margin:4rem auto\">\
<h1>test-idp</h1><p>Stand-in for Microsoft Entra ID.</p><p style=\"color:#a00\">{error}</p>\
<form method=\"post\" action=\"/saml/login\"><input type=\"hidden\" name=\"request_id\" value=\"{rid}\">\
<input type=\"hidden\" name=\"acs\" value=\"{acs}\"><input type=\"hidden\" name=\"relay_state\" value=\"{rs}\">\
<label>Username <input name=\"username\" autofocus></label><br><label>Password <input name=\"password\" type=\"password\"></label><br>\
<button type=\"submit\">Sign in</button></form></body></html>",
        error = escape(error),
        rid = escape(request_id),
        acs = escape(acs),
        rs = escape(relay_state),
    ))
    .into_response()
}

fn inflate(encoded: &str) -> Option<String> {
    let raw = STANDARD.decode(encoded).ok()?;
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}

async fn sso_redirect(State(idp): State<SamlIdp>, Query(p): Query<SsoParams>) -> Response {
    let Some(xml) = p.saml_request.as_deref().and_then(inflate) else {
        return bad("SAMLRequest missing or not deflated base64");
    };
    answer_request(&idp, &xml, p.relay_state.as_deref().unwrap_or(""))
}

async fn sso_post(State(idp): State<SamlIdp>, Form(p): Form<SsoParams>) -> Response {
    let Some(xml) = p
        .saml_request
        .as_deref()
        .and_then(|r| STANDARD.decode(r).ok())
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return bad("SAMLRequest missing or not base64");
    };
    answer_request(&idp, &xml, p.relay_state.as_deref().unwrap_or(""))
}

fn answer_request(idp: &SamlIdp, xml: &str, relay_state: &str) -> Response {
    let Some((id, acs)) = read_request(xml) else {
        return bad("not an AuthnRequest with ID and AssertionConsumerServiceURL");
    };
    if idp.sp_by_acs(&acs).is_none() {
        return bad("unknown AssertionConsumerServiceURL: register the SP first");
    }
    login_form(idp, &id, &acs, relay_state, "")
}

#[derive(Deserialize)]
struct IdpInitiated {
    sp: String,
    relay_state: Option<String>,
}

async fn idp_initiated(State(idp): State<SamlIdp>, Query(q): Query<IdpInitiated>) -> Response {
    let Some(sp) = idp.sp(&q.sp) else {
        return bad("unknown SP entity id");
    };
    login_form(&idp, "", &sp.acs_url, q.relay_state.as_deref().unwrap_or(""), "")
}

#[derive(Deserialize)]
struct LoginForm {
    request_id: String,
    acs: String,
    relay_state: String,
    username: String,
    password: String,
}

async fn login(State(idp): State<SamlIdp>, Form(f): Form<LoginForm>) -> Response {
    let Some(sp) = idp.sp_by_acs(&f.acs) else {
        return bad("unknown ACS");
    };
    match idp.user(&f.username) {
        Some(u) if u.password == f.password => {}
        _ => {
            return login_form(
                &idp,
                &f.request_id,
                &f.acs,
                &f.relay_state,
                "Wrong username or password.",
            )
        }
    }
    let mut spec = idp.spec_for(&f.username, &sp);
    spec.in_response_to = (!f.request_id.is_empty()).then(|| f.request_id.clone());
    let options = idp.flow_options();
    spec.signing = options.signing;
    if options.encrypt && sp.encryption_cert_pem.is_some() {
        spec.encryption = Encryption::Aes256Gcm;
    }
    let encoded = STANDARD.encode(idp.response(&spec));
    let relay = if f.relay_state.is_empty() {
        String::new()
    } else {
        format!(
            "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
            escape(&f.relay_state)
        )
    };
    Html(format!(
        "<!doctype html><html><body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{acs}\">\
<input type=\"hidden\" name=\"SAMLResponse\" value=\"{encoded}\">{relay}<noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
        acs = escape(&sp.acs_url),
    ))
    .into_response()
}

async fn slo(State(idp): State<SamlIdp>) -> Response {
    let _ = idp;
    Html("<!doctype html><html><body><h1>test-idp</h1><p>You are signed out of test-idp.</p></body></html>")
        .into_response()
}
