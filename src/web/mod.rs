//! HTTP: thin handlers over the library. Routes are assembled in `app.rs`.

pub mod admin_api;
pub mod auth;
pub mod client;
pub mod console;
pub mod error;
pub mod ops;
pub mod redirect;
pub mod session;
pub mod sso;
pub mod templates;
