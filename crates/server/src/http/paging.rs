//! Keyset paging over sequence numbers, shared by the lists that page through the audit trail.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiError;

pub const MAX_PAGE: u32 = 200;
const DEFAULT_PAGE: u32 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SeqPage {
    /// The `next` cursor of the previous page.
    pub after: Option<u64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

impl SeqPage {
    pub fn after(&self) -> u64 {
        self.after.unwrap_or(0)
    }

    pub fn limit(&self) -> Result<u32, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if (1..=MAX_PAGE).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::Unprocessable {
                detail: format!("limit is 1 to {MAX_PAGE}"),
            })
        }
    }

    /// The cursor for the page after `found`, when it was a full page.
    pub fn next(found: &[medvault_store::ChainedEntry], limit: u32) -> Option<u64> {
        (found.len() == limit as usize)
            .then(|| found.last().map(|e| e.seq))
            .flatten()
    }
}
