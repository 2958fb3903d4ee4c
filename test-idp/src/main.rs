//! test-idp: the stand-in for Microsoft Entra ID. The SAML IdP, OIDC provider
//! and Graph API arrive with their issues; until then it only says so.
fn main() {
    eprintln!("test-idp: no protocol is served yet (SAML, OIDC and Graph arrive with their issues)");
    std::process::exit(2);
}
