//! Integration tests: the real `medvault` binary on port 0 with a temp data dir,
//! driven over HTTP and the CLI.

// Test helpers fail the test on any surprise; that is what unwrap is for here.
#![allow(clippy::unwrap_used)]

mod clinic;
mod realm;
mod research;
mod support;

mod access;
mod audit_queries;
mod audit_trail;
mod breached;
mod erasure;
mod errors;
mod fhir_bundles;
mod fhir_crud;
mod fhir_demo;
mod fhir_rotation;
mod fhir_search;
mod fhir_security;
mod identity_admin;
mod identity_cli;
mod identity_login;
mod identity_sessions;
mod identity_tokens;
mod logs;
mod mfa;
mod oauth;
mod oauth_flows;
mod ops;
mod passkeys;
mod postgres;
mod privacy;
mod protect;
mod shutdown;
mod startup;
mod tls;
