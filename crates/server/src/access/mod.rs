//! Authorization (DESIGN.md §1 "access", issue #6): policies as data, evaluated by Cedar
//! against the facts medvault computes about each caller and patient (care teams,
//! consents, organizations, break-the-glass). The PHI gate asks; this module answers.

pub mod api;
pub mod break_glass;
pub mod consent;
pub mod engine;
pub mod facts;
pub mod policies;

pub use engine::{Action, Engine, Facts, Verdict};
