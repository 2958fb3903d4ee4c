//! `test-idp --listen 127.0.0.1:8081 --users users.json`: serves the
//! stand-in IdP for manual use (the Gatehouse demo runs it in-process).

use std::path::PathBuf;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:8081".into());
    let users_path = PathBuf::from(arg(&args, "--users").unwrap_or_else(|| "test-idp/users.json".into()));
    let users = match test_idp::load_users(&users_path) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("test-idp: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("test-idp: cannot listen on {listen}: {e}");
            std::process::exit(2);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or(listen);
    let base = arg(&args, "--base-url").unwrap_or_else(|| format!("http://{addr}"));
    let idp = test_idp::SamlIdp::new(
        &test_idp::SamlIdp::entra_entity_id(test_idp::DEMO_TENANT),
        &base,
        users.clone(),
    );
    let oidc = test_idp::OidcProvider::new(test_idp::DEMO_TENANT, &base, users);
    println!("test-idp SAML metadata: {}", idp.metadata_url());
    println!("SAML entity id:         {}", idp.entity_id());
    println!("OIDC issuer:            {}", oidc.issuer());
    let _ = axum::serve(listener, idp.router().merge(oidc.router())).await;
}
