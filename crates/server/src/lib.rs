//! The medvault server: an axum app with one module per bounded context (DESIGN.md §1),
//! and the `medvault` CLI that starts it.

pub mod access;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod fhir;
pub mod hex;
pub mod http;
pub mod identity;
pub mod keyring;
pub mod mfa;
pub mod oauth;
pub mod ops;
pub mod privacy;
pub mod protect;
pub mod redact;
pub mod serve;
pub mod storage;
pub mod telemetry;
pub mod tls;

pub use app::AppState;
pub use error::ApiError;
