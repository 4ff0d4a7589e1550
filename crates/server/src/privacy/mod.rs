//! The privacy context (GDPR): data subjects' rights. Access and portability (Art. 15
//! and 20) through a streamed export of everything held about the caller, erasure
//! (Art. 17) by crypto-shredding with legal holds, consent withdrawal (Art. 7(3)),
//! and storage limitation and minimisation (Art. 5): retention rules and never-stored
//! elements. Researchers get de-identified exports (HIPAA Safe Harbor) of consenting
//! patients.

pub mod api;
pub mod categories;
mod consents;
pub mod deidentify;
pub mod erasure;
mod erasure_api;
pub mod export;
pub mod report;
mod research;
pub mod retention;
