//! The provider's HTTP endpoints.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::{Fault, Grant, OidcProvider};
use crate::saml::response::escape;

pub fn router(p: OidcProvider) -> Router {
    let t = p.tenant().to_string();
    Router::new()
        .route(&format!("/{t}/v2.0/.well-known/openid-configuration"), get(discovery))
        .route(&format!("/{t}/oauth2/v2.0/authorize"), get(authorize).post(login))
        .route(&format!("/{t}/oauth2/v2.0/token"), post(token))
        .route(&format!("/{t}/discovery/v2.0/keys"), get(jwks))
        .route(&format!("/{t}/oauth2/v2.0/logout"), get(end_session))
        .route("/oidc/userinfo", get(userinfo))
        .with_state(p)
}

async fn discovery(State(p): State<OidcProvider>) -> Json<serde_json::Value> {
    Json(p.discovery())
}

async fn jwks(State(p): State<OidcProvider>) -> Json<serde_json::Value> {
    p.count_jwks_request();
    Json(p.jwks())
}

#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, msg.to_string()).into_response()
}

fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value))
}

async fn authorize(State(p): State<OidcProvider>, Query(a): Query<AuthorizeParams>) -> Response {
    let Some(client) = p.client(&a.client_id) else {
        return bad("unknown client_id");
    };
    if !client.redirect_uris.contains(&a.redirect_uri) {
        // Never redirect to an unregistered URI.
        return bad("redirect_uri is not registered for this client");
    }
    if a.response_type.as_deref() != Some("code") {
        return bad("only response_type=code");
    }
    if a.code_challenge.is_some() && a.code_challenge_method.as_deref() != Some("S256") {
        return bad("only code_challenge_method=S256");
    }
    Html(format!(
        "<!doctype html><html><body><h1>test-idp (OIDC)</h1><form method=\"post\">{}{}{}{}{}\
<label>Username <input name=\"username\"></label><label>Password <input name=\"password\" type=\"password\"></label>\
<button type=\"submit\">Sign in</button></form></body></html>",
        hidden("client_id", &a.client_id),
        hidden("redirect_uri", &a.redirect_uri),
        hidden("state", a.state.as_deref().unwrap_or("")),
        hidden("nonce", a.nonce.as_deref().unwrap_or("")),
        hidden("code_challenge", a.code_challenge.as_deref().unwrap_or("")),
    ))
    .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    username: String,
    password: String,
}

async fn login(State(p): State<OidcProvider>, Form(f): Form<LoginForm>) -> Response {
    let Some(client) = p.client(&f.client_id) else {
        return bad("unknown client_id");
    };
    if !client.redirect_uris.contains(&f.redirect_uri) {
        return bad("redirect_uri is not registered for this client");
    }
    let mut target = url::Url::parse(&f.redirect_uri).expect("registered redirect URIs are URLs");
    if p.fault() == Fault::AccessDenied {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user denied access")
            .append_pair("state", &f.state);
        return Redirect::to(target.as_str()).into_response();
    }
    match p.user(&f.username) {
        Some(u) if u.password == f.password => {}
        _ => return bad("wrong username or password"),
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    p.store_code(
        &code,
        Grant {
            client_id: f.client_id,
            redirect_uri: f.redirect_uri,
            username: f.username,
            nonce: (!f.nonce.is_empty()).then_some(f.nonce),
            code_challenge: (!f.code_challenge.is_empty()).then_some(f.code_challenge),
        },
    );
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &f.state)
        .append_pair("iss", &p.issuer());
    Redirect::to(target.as_str()).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// RFC 7523 client authentication, checked the way Entra ID does: RS256,
/// `x5t` naming the registered certificate, iss = sub = client id, aud =
/// the token endpoint, unexpired, `jti` single use. Returns the client id.
fn verify_client_assertion(p: &OidcProvider, assertion: &str, now: i64) -> Result<String, String> {
    let decode = |s: &str| -> Option<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, b, sig] = parts[..] else {
        return Err("client_assertion is not a compact JWS".into());
    };
    let (Some(header), Some(body)) = (decode(h), decode(b)) else {
        return Err("client_assertion header or payload is not JSON".into());
    };
    let text = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
        m.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    if text(&header, "alg") != "RS256" {
        return Err("client_assertion must be RS256".into());
    }
    let client_id = text(&body, "iss");
    let client = p.client(&client_id).ok_or("unknown client")?;
    let pem = client.certificate_pem.ok_or("client has no certificate credential")?;
    let cert = openssl::x509::X509::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let thumbprint = cert
        .digest(openssl::hash::MessageDigest::sha1())
        .map_err(|e| e.to_string())?;
    if text(&header, "x5t") != URL_SAFE_NO_PAD.encode(thumbprint) {
        return Err("x5t does not name the registered certificate".into());
    }
    let key = cert.public_key().map_err(|e| e.to_string())?;
    let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| "signature is not base64url")?;
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).map_err(|e| e.to_string())?;
    verifier
        .update(format!("{h}.{b}").as_bytes())
        .map_err(|e| e.to_string())?;
    if !verifier.verify(&signature).unwrap_or(false) {
        return Err("client_assertion signature is invalid".into());
    }
    if text(&body, "sub") != client_id {
        return Err("sub must equal iss".into());
    }
    let aud_ok = match body.get("aud") {
        Some(serde_json::Value::String(a)) => *a == p.token_url(),
        Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&p.token_url())),
        _ => false,
    };
    if !aud_ok {
        return Err("aud must be the token endpoint".into());
    }
    if body.get("exp").and_then(|v| v.as_i64()).is_none_or(|exp| exp <= now) {
        return Err("client_assertion expired".into());
    }
    let jti = text(&body, "jti");
    if jti.is_empty() || !p.first_use_of_assertion(&jti) {
        return Err("client_assertion jti missing or reused".into());
    }
    Ok(client_id)
}

fn oauth_error(code: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response()
}

async fn token(State(p): State<OidcProvider>, headers: HeaderMap, Form(f): Form<TokenForm>) -> Response {
    if f.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type", "only authorization_code");
    }
    let now = crate::now().timestamp();
    if let Some(assertion) = &f.client_assertion {
        if f.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return oauth_error("invalid_client", "unsupported client_assertion_type");
        }
        let id = match verify_client_assertion(&p, assertion, now) {
            Ok(id) => id,
            Err(why) => return oauth_error("invalid_client", &why),
        };
        if f.client_id.as_deref().is_some_and(|c| c != id) {
            return oauth_error("invalid_client", "client_id does not match the assertion");
        }
        return issue_tokens(&p, id, &f.code, &f.redirect_uri, f.code_verifier.as_deref(), now);
    }
    // client_secret_basic, else client_secret_post.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.split_once(':').map(|(a, b)| (decode_form(a), decode_form(b))));
    let (id, secret) = match (basic, f.client_id, f.client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => return oauth_error("invalid_client", "client authentication required"),
    };
    match p.client(&id) {
        Some(c) if c.certificate_pem.is_some() => {
            return oauth_error("invalid_client", "this client authenticates with a certificate")
        }
        Some(c) if c.client_secret == secret => {}
        _ => return oauth_error("invalid_client", "unknown client or wrong secret"),
    }
    issue_tokens(&p, id, &f.code, &f.redirect_uri, f.code_verifier.as_deref(), now)
}

fn issue_tokens(
    p: &OidcProvider,
    id: String,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    now: i64,
) -> Response {
    let Some(grant) = p.take_code(code) else {
        return oauth_error("invalid_grant", "unknown or used code");
    };
    if grant.client_id != id || grant.redirect_uri != redirect_uri {
        return oauth_error("invalid_grant", "code was issued to another client or redirect_uri");
    }
    if let Some(challenge) = &grant.code_challenge {
        let verifier = code_verifier.unwrap_or_default();
        let computed = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
        if &computed != challenge {
            return oauth_error("invalid_grant", "PKCE verification failed");
        }
    }
    let fault = p.fault();
    let claims = p.id_token_claims(&grant, fault, now);
    let id_token = p.sign(&claims, fault);
    let access_token = uuid::Uuid::new_v4().simple().to_string();
    p.store_token(&access_token, &grant.username, &grant.client_id);
    Json(json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": 3600, "id_token": id_token, "scope": "openid profile email" }))
        .into_response()
}

/// client_secret_basic encodes id and secret with form-urlencoding (RFC 6749 §2.3.1).
fn decode_form(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn userinfo(State(p): State<OidcProvider>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some((username, client_id)) = token.and_then(|t| p.token_user(t)) else {
        return (StatusCode::UNAUTHORIZED, "invalid token").into_response();
    };
    let Some(user) = p.user(&username) else {
        return (StatusCode::UNAUTHORIZED, "no such user").into_response();
    };
    let mut claims = user.oidc.clone();
    let sub = if p.fault() == Fault::UserinfoOtherSub {
        "somebody-else".to_string()
    } else {
        p.subject_for(user, &client_id)
    };
    claims.insert("sub".into(), json!(sub));
    Json(serde_json::Value::Object(claims)).into_response()
}

#[derive(Deserialize)]
struct EndSession {
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
}

/// RP-initiated logout. Like Entra, the return address must belong to the
/// client (here: the origin of one of its redirect URIs).
async fn end_session(State(p): State<OidcProvider>, Query(q): Query<EndSession>) -> Response {
    let Some(client) = q.client_id.as_deref().and_then(|id| p.client(id)) else {
        return bad("unknown client_id");
    };
    let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
    match q.post_logout_redirect_uri {
        Some(back) => {
            let allowed = client
                .redirect_uris
                .iter()
                .any(|r| origin(r).is_some() && origin(r) == origin(&back));
            if !allowed {
                return bad("post_logout_redirect_uri is not registered for this client");
            }
            Redirect::to(&back).into_response()
        }
        None => Html("<!doctype html><html><body><h1>test-idp: signed out</h1></body></html>").into_response(),
    }
}
