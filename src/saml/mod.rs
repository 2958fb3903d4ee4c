//! SAML 2.0 service provider (SPEC §6). samael's types stay inside this module.

pub mod config;
pub mod decrypt;
pub mod routes;
pub mod setup;
pub mod sp;
pub mod verify;
pub mod xml_guard;
