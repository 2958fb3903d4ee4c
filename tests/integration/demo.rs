//! The README's first command, `gatehouse demo`, run as a process: it
//! prints its URLs and credentials, and a person can sign in with a
//! password, and through test-idp with SAML and with OpenID Connect.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::harness::browser;

struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field(html: &str, name: &str) -> String {
    crate::harness::form_field(html, name).unwrap_or_else(|| panic!("{name} in {html}"))
}

#[tokio::test]
async fn the_demo_starts_and_signs_people_in_with_saml_and_oidc() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env("GATEHOUSE_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo(child);
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.starts_with("Press Ctrl-C"))
            .collect()
    })
    .await
    .expect("read");
    let find = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let login = find("sign-in page:").expect("sign-in URL printed");
    let admin = find("administrator:").expect("admin credentials printed");
    let (user, password) = admin.split_once(" / ").expect("user / password");
    assert_eq!(user, "admin");

    // Password sign-in works with the printed credentials.
    let client = browser();
    let page = client
        .get(&login)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Sign in with test-idp (SAML)"), "{page}");
    let csrf = crate::harness::csrf_from(&page);
    let resp = client
        .post(&login)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // SSO: the button, the IdP's form, the auto-post back.
    let sso_link = sso_button(&page, "test-idp (SAML)");
    let base = login.split("/o/").next().expect("base").to_string();
    let person = browser();
    let to_idp = person.get(format!("{base}{sso_link}")).send().await.expect("sso");
    assert_eq!(to_idp.status(), StatusCode::SEE_OTHER);
    let idp_url = to_idp.headers()["location"].to_str().expect("location").to_string();
    let form = person
        .get(&idp_url)
        .send()
        .await
        .expect("idp")
        .text()
        .await
        .expect("html");
    let idp_base = idp_url.split("/saml/").next().expect("idp base").to_string();
    let posted = person
        .post(format!("{idp_base}/saml/login"))
        .form(&[
            ("request_id", field(&form, "request_id")),
            ("acs", field(&form, "acs")),
            ("relay_state", field(&form, "relay_state")),
            ("username", "alice".into()),
            ("password", "alice-password".into()),
        ])
        .send()
        .await
        .expect("idp login")
        .text()
        .await
        .expect("html");
    let acs = {
        let start = posted.find("action=\"").expect("action") + 8;
        posted[start..start + posted[start..].find('"').expect("end")].to_string()
    };
    let back = person
        .post(&acs)
        .form(&[
            ("SAMLResponse", field(&posted, "SAMLResponse")),
            ("RelayState", field(&posted, "RelayState")),
        ])
        .send()
        .await
        .expect("acs");
    assert_eq!(
        back.status(),
        StatusCode::SEE_OTHER,
        "{}",
        back.text().await.unwrap_or_default()
    );
    let home = crate::harness::page_text(&person, &format!("{base}/o/demo/")).await;
    assert!(home.contains("Alice Martin"), "{home}");

    // OpenID Connect: the button, the provider's form, the redirect back.
    let person = browser();
    let oidc_link = sso_button(&page, "test-idp (OpenID Connect)");
    let to_idp = person.get(format!("{base}{oidc_link}")).send().await.expect("sso");
    assert_eq!(to_idp.status(), StatusCode::SEE_OTHER);
    let authorize = to_idp.headers()["location"].to_str().expect("location").to_string();
    let form = person
        .get(&authorize)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("html");
    let back_to_us = person
        .post(authorize.split('?').next().expect("authorize endpoint"))
        .form(&[
            ("client_id", field(&form, "client_id")),
            ("redirect_uri", field(&form, "redirect_uri")),
            ("state", field(&form, "state")),
            ("nonce", field(&form, "nonce")),
            ("code_challenge", field(&form, "code_challenge")),
            ("username", "bob".into()),
            ("password", "bob-password".into()),
        ])
        .send()
        .await
        .expect("provider login");
    let callback = back_to_us.headers()["location"].to_str().expect("location").to_string();
    let back = person.get(&callback).send().await.expect("callback");
    assert_eq!(
        back.status(),
        StatusCode::SEE_OTHER,
        "{}",
        back.text().await.unwrap_or_default()
    );
    let home = crate::harness::page_text(&person, &format!("{base}/o/demo/")).await;
    assert!(home.contains("Bob Stone"), "{home}");
    drop(demo);
}

/// The href of the sign-in page's button for a connection.
fn sso_button(page: &str, name: &str) -> String {
    let label = format!("Sign in with {name}</a>");
    let end = page.find(&label).unwrap_or_else(|| panic!("{name} button in {page}"));
    let marker = "href=\"";
    let start = page[..end].rfind(marker).expect("href") + marker.len();
    page[start..start + page[start..].find('"').expect("href end")].replace("&#x2f;", "/")
}
