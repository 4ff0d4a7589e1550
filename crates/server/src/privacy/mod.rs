//! The privacy context (GDPR): data subjects' rights. So far: access and portability
//! (Art. 15 and 20) through a streamed export of everything held about the caller, and
//! consent withdrawal (Art. 7(3)).

pub mod api;
pub mod categories;
mod consents;
pub mod export;
pub mod report;
