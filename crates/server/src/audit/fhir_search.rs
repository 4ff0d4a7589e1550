//! `GET /fhir/AuditEvent`: the auditor's view of the trail, as FHIR R4 AuditEvent resources.
//! Auditors see events (who, what, when, why), never the records they refer to.

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use medvault_domain::{Outcome, Role, UnixMillis};
use medvault_store::AuditFilter;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::fhir_render::render;
use crate::fhir::render::query_string as encode;
use crate::fhir::OperationOutcome;
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

const DEFAULT_COUNT: u32 = 100;
const MAX_COUNT: u32 = 1000;

/// Search audit events (auditor role only). Parameters: `patient`, `agent`, `date`
/// (`ge`, `gt`, `le`, `lt`, `eq`; repeatable), `action` (C, R, U, D, E), `subtype`
/// (medvault action code), `outcome` (0, 4, 8), `_count`; pages follow the Bundle's `next` link.
#[utoipa::path(get, path = "/fhir/AuditEvent", tag = "audit", security(("bearer" = [])), responses(
    (status = 200, description = "A searchset Bundle of AuditEvent", content_type = "application/fhir+json"),
    (status = 400, description = "Unsupported or malformed parameter", content_type = "application/fhir+json"),
    (status = 403, description = "Caller is not an auditor", content_type = "application/fhir+json"),
))]
async fn search(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<impl IntoResponse, OperationOutcome> {
    principal?.require(Role::Auditor)?;
    let mut search = Search::parse(&params)?;
    let keys = state.fhir.gate.keys();
    if let Some(patient) = &search.filter.patient {
        search.filter.patient = Some(super::subjects::search_value(keys, patient).await?);
    }
    let entries = state
        .store
        .search_audit_entries(&search.filter, search.after, search.count + 1)
        .await?;
    let more = entries.len() > search.count as usize;
    let shown = &entries[..entries.len().min(search.count as usize)];
    let patients = super::subjects::resolve(keys, shown).await?;

    let base = &state.identity.config.issuer;
    let self_url = format!("{base}/fhir/AuditEvent?{}", encode(&params));
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let (true, Some(last)) = (more, shown.last()) {
        let mut next: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "_after")
            .cloned()
            .collect();
        next.push(("_after".into(), last.seq.to_string()));
        links.push(
            json!({"relation": "next", "url": format!("{base}/fhir/AuditEvent?{}", encode(&next))}),
        );
    }
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": shown.iter().map(|entry| json!({
            "fullUrl": format!("{base}/fhir/AuditEvent/{}", entry.seq),
            "resource": render(entry, &patients),
            "search": {"mode": "match"},
        })).collect::<Vec<Value>>(),
    });
    Ok((
        [(CONTENT_TYPE, crate::fhir::CONTENT_TYPE)],
        bundle.to_string(),
    ))
}

struct Search {
    filter: AuditFilter,
    after: u64,
    count: u32,
}

impl Search {
    fn parse(params: &[(String, String)]) -> Result<Self, OperationOutcome> {
        let mut search = Search {
            filter: AuditFilter::default(),
            after: 0,
            count: DEFAULT_COUNT,
        };
        let mut actions: Option<Vec<&'static str>> = None;
        let mut narrow = |codes: Vec<&'static str>| {
            actions = Some(match actions.take() {
                Some(existing) => existing.into_iter().filter(|c| codes.contains(c)).collect(),
                None => codes,
            });
        };
        for (name, value) in params {
            match name.as_str() {
                "patient" => search.filter.patient = Some(reference_id(value, "Patient")?),
                "agent" => search.filter.agent = Some(reference_id(value, "Practitioner")?),
                "date" => apply_date(&mut search.filter, value)?,
                "action" => narrow(actions_with_code(value)?),
                "subtype" => {
                    let code = value.rsplit('|').next().unwrap_or_default();
                    let action =
                        medvault_domain::AuditAction::from_code(code).ok_or_else(|| {
                            OperationOutcome::invalid(format!("unknown subtype {code:?}"))
                        })?;
                    narrow(vec![action.code()]);
                }
                "outcome" => {
                    search.filter.outcome = Some(match value.as_str() {
                        "0" => Outcome::Success.code(),
                        "4" => Outcome::Denied.code(),
                        "8" => Outcome::Error.code(),
                        _ => return Err(OperationOutcome::invalid("outcome is 0, 4 or 8")),
                    })
                }
                "_count" => {
                    search.count = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_COUNT).contains(n))
                        .ok_or_else(|| {
                            OperationOutcome::invalid(format!("_count is 1 to {MAX_COUNT}"))
                        })?;
                }
                "_after" => {
                    search.after = value
                        .parse()
                        .map_err(|_| OperationOutcome::invalid("_after is a sequence number"))?;
                }
                other => {
                    return Err(OperationOutcome::not_supported(format!(
                        "search parameter {other:?} is not supported for AuditEvent"
                    )))
                }
            }
        }
        if let Some(actions) = actions {
            // An empty intersection matches nothing, never everything.
            search.filter.actions = if actions.is_empty() {
                vec!["-"]
            } else {
                actions
            };
        }
        Ok(search)
    }
}

/// `Patient/123`, or just `123`.
fn reference_id(value: &str, kind: &str) -> Result<String, OperationOutcome> {
    let id = value
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(value);
    let id = id.rsplit('/').next().unwrap_or(id);
    if id.is_empty() || id.len() > 64 {
        return Err(OperationOutcome::invalid(format!(
            "{value:?} is not a reference"
        )));
    }
    Ok(id.to_owned())
}

fn actions_with_code(value: &str) -> Result<Vec<&'static str>, OperationOutcome> {
    let code = value.chars().next().filter(|_| value.len() == 1);
    let code = code
        .filter(|c| "CRUDE".contains(*c))
        .ok_or_else(|| OperationOutcome::invalid("action is C, R, U, D or E"))?;
    Ok(medvault_domain::AuditAction::ALL
        .into_iter()
        .filter(|a| a.fhir_action() == code)
        .map(|a| a.code())
        .collect())
}

/// FHIR date search (R4 §3.1.1.4.2): a prefix, then a date or a dateTime with its precision.
fn apply_date(filter: &mut AuditFilter, value: &str) -> Result<(), OperationOutcome> {
    let (prefix, text) = match value.get(..2) {
        Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let (start, end) = instant_range(text).ok_or_else(|| {
        OperationOutcome::invalid(format!("{text:?} is not a date (YYYY-MM-DD) or dateTime"))
    })?;
    let raise = |bound: &mut Option<UnixMillis>, at: i64| {
        *bound = Some(UnixMillis(bound.map_or(at, |b| b.0.max(at))))
    };
    let lower = |bound: &mut Option<UnixMillis>, at: i64| {
        *bound = Some(UnixMillis(bound.map_or(at, |b| b.0.min(at))))
    };
    match prefix {
        "ge" => raise(&mut filter.since, start),
        "gt" => raise(&mut filter.since, end + 1),
        "le" => lower(&mut filter.until, end),
        "lt" => lower(&mut filter.until, start - 1),
        _ => {
            raise(&mut filter.since, start);
            lower(&mut filter.until, end);
        }
    }
    Ok(())
}

/// The first and last millisecond a date or dateTime covers.
pub(crate) fn instant_range(text: &str) -> Option<(i64, i64)> {
    use time::format_description::well_known::Rfc3339;
    use time::{Date, OffsetDateTime};
    let millis = |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        let at = millis(at)?;
        return Some((at, at));
    }
    let mut parts = text.splitn(3, '-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    let day = Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let start = millis(day.midnight().assume_utc())?;
    Some((start, start + 86_400_000 - 1))
}
