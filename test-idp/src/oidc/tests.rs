//! The provider end to end over HTTP, as a relying party would use it:
//! discovery, the login form, the code exchange with PKCE, JWKS, userinfo,
//! and what each fault does to the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use serde_json::{json, Value};

use super::*;

fn user() -> User {
    let mut oidc = serde_json::Map::new();
    oidc.insert("oid".into(), json!("aaaaaaaa-0000-0000-0000-000000000001"));
    oidc.insert("preferred_username".into(), json!("alice@contoso.example"));
    oidc.insert("email".into(), json!("alice@contoso.example"));
    User {
        username: "alice".into(),
        password: "pw".into(),
        name_id: "alice@contoso.example".into(),
        claims: Default::default(),
        oidc,
    }
}

struct Running {
    p: OidcProvider,
    client: reqwest::Client,
}

async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let p = OidcProvider::new("tenant-1", &base, vec![user()]);
    p.register_client(Client {
        client_id: "app".into(),
        client_secret: "s3cret".into(),
        redirect_uris: vec!["http://rp.example/cb".into()],
        certificate_pem: None,
    });
    let router = p.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Running { p, client }
}

const VERIFIER: &str = "a-code-verifier-of-sufficient-length-0123456789";

/// Logs alice in and returns the redirect's query pairs.
async fn authorize(r: &Running) -> Vec<(String, String)> {
    let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(VERIFIER.as_bytes()));
    let resp = r
        .client
        .post(r.p.authorize_url())
        .form(&[
            ("client_id", "app"),
            ("redirect_uri", "http://rp.example/cb"),
            ("state", "st"),
            ("nonce", "n0nce"),
            ("code_challenge", challenge.as_str()),
            ("username", "alice"),
            ("password", "pw"),
        ])
        .send()
        .await
        .expect("login");
    let location = resp.headers()["location"].to_str().expect("location").to_string();
    url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn exchange(r: &Running, code: &str, verifier: &str) -> (u16, Value) {
    let resp = r
        .client
        .post(r.p.token_url())
        .basic_auth("app", Some("s3cret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://rp.example/cb"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

fn parts(jwt: &str) -> (Value, Value) {
    let mut it = jwt.split('.');
    let h = URL_SAFE_NO_PAD.decode(it.next().expect("header")).expect("b64");
    let c = URL_SAFE_NO_PAD.decode(it.next().expect("claims")).expect("b64");
    (
        serde_json::from_slice(&h).expect("json"),
        serde_json::from_slice(&c).expect("json"),
    )
}

/// Verifies RS256 with the JWKS key of the token's kid.
fn verifies(jwt: &str, jwks: &Value) -> bool {
    let (header, _) = parts(jwt);
    let Some(key) = jwks["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kid"] == header["kid"]))
    else {
        return false;
    };
    let n = BigNum::from_slice(
        &URL_SAFE_NO_PAD
            .decode(key["n"].as_str().unwrap_or(""))
            .unwrap_or_default(),
    )
    .expect("n");
    let e = BigNum::from_slice(
        &URL_SAFE_NO_PAD
            .decode(key["e"].as_str().unwrap_or(""))
            .unwrap_or_default(),
    )
    .expect("e");
    let pkey = PKey::from_rsa(Rsa::from_public_components(n, e).expect("rsa")).expect("pkey");
    let (input, sig) = jwt.rsplit_once('.').expect("sig");
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
    let mut v = Verifier::new(MessageDigest::sha256(), &pkey).expect("verifier");
    v.update(input.as_bytes()).expect("update");
    v.verify(&sig).unwrap_or(false)
}

#[tokio::test]
async fn discovery_code_flow_with_pkce_jwks_and_userinfo() {
    let r = start().await;
    let disco: Value = r
        .client
        .get(r.p.discovery_url())
        .send()
        .await
        .expect("d")
        .json()
        .await
        .expect("json");
    assert_eq!(disco["issuer"], json!(r.p.issuer()));
    assert!(r.p.issuer().ends_with("/tenant-1/v2.0"), "Entra's tenant issuer shape");
    let q = authorize(&r).await;
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some("st"));
    assert_eq!(get("iss"), Some(r.p.issuer()), "RFC 9207");
    let code = get("code").expect("code");
    // Wrong verifier: refused, and the code is burnt.
    let (status, err) = exchange(&r, &code, "wrong").await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")));
    let code = get_code(&r).await;
    let (status, tokens) = exchange(&r, &code, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().expect("id token");
    let jwks: Value = r
        .client
        .get(r.p.jwks_url())
        .send()
        .await
        .expect("j")
        .json()
        .await
        .expect("json");
    assert!(verifies(id_token, &jwks));
    let (_, claims) = parts(id_token);
    assert_eq!(claims["aud"], "app");
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["tid"], "tenant-1");
    assert_eq!(claims["oid"], "aaaaaaaa-0000-0000-0000-000000000001");
    // The code is single use.
    let (status, _) = exchange(&r, &code, VERIFIER).await;
    assert_eq!(status, 400);
    // Userinfo's sub equals the ID token's.
    let info: Value = r
        .client
        .get(r.p.userinfo_url())
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["sub"], claims["sub"]);
}

async fn get_code(r: &Running) -> String {
    authorize(r)
        .await
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .expect("code")
}

#[tokio::test]
async fn each_fault_changes_the_token_as_named() {
    let r = start().await;
    let jwks = || async {
        r.client
            .get(r.p.jwks_url())
            .send()
            .await
            .expect("j")
            .json::<Value>()
            .await
            .expect("json")
    };
    let token_with = |fault: Fault| {
        let r = &r;
        async move {
            r.p.set_fault(fault);
            let code = get_code(r).await;
            let (_, t) = exchange(r, &code, VERIFIER).await;
            r.p.set_fault(Fault::None);
            t["id_token"].as_str().expect("id token").to_string()
        }
    };
    let keys = jwks().await;
    assert!(verifies(&token_with(Fault::None).await, &keys));
    assert!(!verifies(&token_with(Fault::BadSignature).await, &keys));
    assert_eq!(parts(&token_with(Fault::WrongAudience).await).1["aud"], "someone-else");
    assert_eq!(parts(&token_with(Fault::WrongNonce).await).1["nonce"], "not-the-nonce");
    assert!(parts(&token_with(Fault::Expired).await).1["exp"].as_i64() < Some(crate::now().timestamp()));
    assert_eq!(parts(&token_with(Fault::AlgNone).await).0["alg"], "none");
    assert_eq!(parts(&token_with(Fault::Hs256WithPublicKey).await).0["alg"], "HS256");
    assert_eq!(
        parts(&token_with(Fault::ExtraAudienceNoAzp).await).1["aud"],
        json!(["app", "another-api"])
    );
    // Unknown kid: not in the JWKS until published; then it verifies.
    let unknown = token_with(Fault::UnknownKid).await;
    assert!(!verifies(&unknown, &jwks().await));
    r.p.publish_pending_key();
    assert!(verifies(&unknown, &jwks().await));
    // Rotation keeps the old key published.
    let before = token_with(Fault::None).await;
    r.p.rotate_key();
    let keys = jwks().await;
    assert!(verifies(&before, &keys) && verifies(&token_with(Fault::None).await, &keys));
    // access_denied comes back as an error redirect with the state.
    r.p.set_fault(Fault::AccessDenied);
    let q = authorize(&r).await;
    assert!(q.contains(&("error".into(), "access_denied".into())) && q.contains(&("state".into(), "st".into())));
}
