//! The one integration-test binary (DESIGN: it links once). Every test
//! speaks HTTP to a real server on 127.0.0.1 with a real database; the
//! backend is chosen by DATABASE_URL (see harness.rs).

mod admin_api;
mod cli;
mod demo;
mod harness;
mod oidc;
mod password_login;
mod saml;
mod signin;
mod store_conformance;
