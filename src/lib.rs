//! Gatehouse: a multi-tenant single-sign-on service provider.
//! See docs/architecture.md for how the modules fit together.

pub mod app;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connection_setup;
pub mod demo;
pub mod login_events;
pub mod model;
pub mod oidc;
pub mod password;
pub mod password_signin;
pub mod rules;
pub mod saml;
pub mod sealed;
pub mod secrets;
pub mod settings;
pub mod signin;
pub mod store;
pub mod user_input;
pub mod web;

pub use app::App;
pub use config::Config;
