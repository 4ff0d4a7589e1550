//! The privacy context (GDPR): data subjects' rights. So far: access and portability
//! (Art. 15 and 20) through a streamed export of everything held about the caller.

pub mod api;
pub mod export;
