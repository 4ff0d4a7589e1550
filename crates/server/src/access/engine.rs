//! The policy engine: Cedar policies, validated against medvault's schema, deciding each
//! record access from the facts medvault computes (see [`Facts`]).
//!
//! Cedar was chosen as issue #6 recommends: its evaluator and validator are formally
//! verified, `forbid` overrides `permit` by construction, and a decision names the
//! policies that made it, which the audit trail records.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use medvault_domain::{ResourceType, Role, UserId};

/// The schema every policy set is validated against.
pub const SCHEMA: &str = include_str!("policy/schema.cedarschema");

/// The policy set in force until an admin loads another.
pub const DEFAULT_POLICIES: &str = include_str!("policy/default.cedar");

/// What is asked of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read = 0,
    Create = 1,
    Update = 2,
    Delete = 3,
    /// Export a patient's records de-identified, for research.
    Research = 4,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Self::Read,
        Self::Create,
        Self::Update,
        Self::Delete,
        Self::Research,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Research => "research",
        }
    }

    /// The write a new body (`false`: a deletion) over a current version (`false`: none
    /// yet) is.
    pub fn of_write(body: bool, current: bool) -> Self {
        match (body, current) {
            (false, _) => Self::Delete,
            (true, false) => Self::Create,
            (true, true) => Self::Update,
        }
    }

    pub fn writes(self) -> bool {
        matches!(self, Self::Create | Self::Update | Self::Delete)
    }
}

/// What a patient's Consents say about an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConsentVerdict {
    #[default]
    None,
    Permit,
    Deny,
}

impl ConsentVerdict {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Permit => "permit",
            Self::Deny => "deny",
        }
    }
}

/// The relationship facts between the caller and a record's patient, computed by
/// medvault from care teams, consents, grants and the records themselves. Policies read
/// them as the request's context (see `policy/schema.cedarschema`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Facts {
    pub own: bool,
    pub care_team: bool,
    pub consent: ConsentVerdict,
    pub break_glass: bool,
    pub same_organization: bool,
    pub self_reported: bool,
    pub registering: bool,
}

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub enum Asker<'a> {
    User { id: UserId, roles: &'a [Role] },
    Client { id: &'a str },
}

/// One question for the engine.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub asker: Asker<'a>,
    pub action: Action,
    pub resource_type: ResourceType,
    pub facts: Facts,
}

/// The engine's answer and the `@id`s of the policies that decided it: the permits that
/// matched, or (when refused) the forbids that matched, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub permit: bool,
    pub policies: Vec<String>,
}

/// Why a policy set was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyProblem {
    pub message: String,
    /// 1-based line and column in the submitted text, when the problem has a place.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The `@id` of the policy at fault, when known.
    pub policy: Option<String>,
}

/// A validated policy set, the text it came from, and the decisions it has made.
#[derive(Debug)]
pub struct Policies {
    pub version: u64,
    pub text: String,
    set: PolicySet,
    /// A decision depends only on the question, so each is made once per set in force;
    /// a change of care team or consent changes the facts, hence the question.
    decided: Mutex<HashMap<MemoKey, Verdict>>,
}

/// Past this many remembered decisions the memo starts over.
const MEMO_CAPACITY: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MemoKey {
    asker: AskerKey,
    action: Action,
    resource_type: ResourceType,
    facts: Facts,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum AskerKey {
    /// The user and their roles, as bits.
    User(UserId, u8),
    Client(String),
}

impl Policies {
    fn new(version: u64, text: String, set: PolicySet) -> Self {
        Self {
            version,
            text,
            set,
            decided: Mutex::new(HashMap::new()),
        }
    }
}

#[derive(Debug)]
pub struct Engine {
    schema: Schema,
    authorizer: Authorizer,
    names: Names,
    contexts: Mutex<HashMap<Facts, Context>>,
    current: RwLock<Arc<Policies>>,
}

impl Engine {
    /// An engine enforcing the default policy set (version 0).
    pub fn new() -> Self {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).expect("the built-in schema is valid");
        let mut engine = Self {
            schema,
            authorizer: Authorizer::new(),
            names: Names::new().expect("the built-in entity names are valid"),
            contexts: Mutex::new(HashMap::new()),
            current: RwLock::new(Arc::new(Policies::new(0, String::new(), PolicySet::new()))),
        };
        let set = engine
            .check(DEFAULT_POLICIES)
            .expect("the default policy set validates");
        engine.current = RwLock::new(Arc::new(Policies::new(0, DEFAULT_POLICIES.to_owned(), set)));
        engine
    }

    /// Parses `text` and validates it against the schema (strict mode). Every policy needs
    /// a unique `@id("...")`: it names the policy in audit events.
    pub fn check(&self, text: &str) -> Result<PolicySet, Vec<PolicyProblem>> {
        let parsed = PolicySet::from_str(text).map_err(|errors| {
            errors
                .iter()
                .map(|e| problem(text, e, None))
                .collect::<Vec<_>>()
        })?;
        let mut named = PolicySet::new();
        let mut problems = Vec::new();
        for policy in parsed.policies() {
            let Some(id) = policy.annotation("id").filter(|id| !id.trim().is_empty()) else {
                // Parsed policies are named policy0, policy1, ... in the order written.
                let n = policy.id().to_string();
                let n = n
                    .trim_start_matches("policy")
                    .parse::<usize>()
                    .map_or(0, |n| n + 1);
                problems.push(PolicyProblem {
                    message: format!(
                        "policy number {n} has no @id(\"...\"); every policy needs one"
                    ),
                    ..located(text, None)
                });
                continue;
            };
            let id = id.to_owned();
            if named.add(policy.new_id(PolicyId::new(&id))).is_err() {
                // Point at the second use of the id.
                let mark = format!("@id(\"{id}\")");
                let second = text.match_indices(&mark).nth(1).map(|(offset, _)| offset);
                problems.push(PolicyProblem {
                    message: format!("the @id {id:?} is used twice"),
                    policy: Some(id),
                    ..located(text, second)
                });
            }
        }
        if parsed.templates().next().is_some() {
            problems.push(PolicyProblem {
                message: "templates are not supported; write each policy out".to_owned(),
                ..located(text, None)
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let result = Validator::new(self.schema.clone()).validate(&named, ValidationMode::Strict);
        let problems: Vec<PolicyProblem> = result
            .validation_errors()
            .map(|e| problem(text, e, Some(e.policy_id().to_string())))
            .collect();
        if problems.is_empty() {
            Ok(named)
        } else {
            Err(problems)
        }
    }

    /// Puts a checked set in force, unless a newer one already is (a slow refresh must
    /// not undo a load that overtook it).
    pub fn install(&self, version: u64, text: String, set: PolicySet) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if version > current.version {
            *current = Arc::new(Policies::new(version, text, set));
        }
    }

    pub fn current(&self) -> Arc<Policies> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Decides one question. Anything the engine cannot evaluate is refused (fail closed).
    pub fn decide(&self, question: &Question<'_>) -> Verdict {
        let policies = self.current();
        let key = MemoKey {
            asker: match question.asker {
                Asker::User { id, roles } => {
                    AskerKey::User(id, roles.iter().fold(0, |bits, r| bits | 1 << (*r as u8)))
                }
                Asker::Client { id } => AskerKey::Client(id.to_owned()),
            },
            action: question.action,
            resource_type: question.resource_type,
            facts: question.facts,
        };
        let lock = || policies.decided.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(verdict) = lock().get(&key) {
            return verdict.clone();
        }
        let verdict = self.evaluate(&policies, question);
        let mut decided = lock();
        if decided.len() >= MEMO_CAPACITY {
            decided.clear();
        }
        decided.insert(key, verdict.clone());
        verdict
    }

    /// Decides with Cedar, bypassing the memo (see [`Engine::decide`]).
    pub fn evaluate(&self, policies: &Policies, question: &Question<'_>) -> Verdict {
        let refused = Verdict {
            permit: false,
            policies: Vec::new(),
        };
        let Ok((request, entities)) = self.request(question) else {
            tracing::error!("an access question did not fit the policy schema");
            return refused;
        };
        let response = self
            .authorizer
            .is_authorized(&request, &policies.set, &entities);
        let diagnostics = response.diagnostics();
        if diagnostics.errors().next().is_some() {
            // Cedar skips a policy that errs, so an erring `forbid` would let a `permit`
            // stand: any error refuses (fail closed), naming the policies that erred.
            let mut erred: Vec<String> = diagnostics
                .errors()
                .map(|e| match e {
                    cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                        format!("error:{}", e.policy_id())
                    }
                })
                .collect();
            erred.sort();
            tracing::error!(policies = ?erred, "access policies failed to evaluate; refused");
            return Verdict {
                permit: false,
                policies: erred,
            };
        }
        let mut policies: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
        policies.sort();
        Verdict {
            permit: response.decision() == Decision::Allow,
            policies,
        }
    }

    /// The request context of `facts`, built once per distinct combination (there are a
    /// few hundred at most).
    fn context(&self, facts: Facts) -> Result<Context, Box<dyn std::error::Error>> {
        let lock = || self.contexts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(context) = lock().get(&facts) {
            return Ok(context.clone());
        }
        let f = facts;
        let context = Context::from_pairs([
            ("own".to_owned(), RestrictedExpression::new_bool(f.own)),
            (
                "careTeam".to_owned(),
                RestrictedExpression::new_bool(f.care_team),
            ),
            (
                "consent".to_owned(),
                RestrictedExpression::new_string(f.consent.as_str().to_owned()),
            ),
            (
                "breakGlass".to_owned(),
                RestrictedExpression::new_bool(f.break_glass),
            ),
            (
                "sameOrganization".to_owned(),
                RestrictedExpression::new_bool(f.same_organization),
            ),
            (
                "selfReported".to_owned(),
                RestrictedExpression::new_bool(f.self_reported),
            ),
            (
                "registering".to_owned(),
                RestrictedExpression::new_bool(f.registering),
            ),
        ])?;
        lock().insert(facts, context.clone());
        Ok(context)
    }

    fn request(&self, q: &Question<'_>) -> Result<(Request, Entities), Box<dyn std::error::Error>> {
        let names = &self.names;
        let (principal, parents) = match q.asker {
            Asker::User { id, roles } => (
                EntityUid::from_type_name_and_id(names.user.clone(), EntityId::new(id.to_string())),
                roles
                    .iter()
                    .map(|r| {
                        EntityUid::from_type_name_and_id(
                            names.role.clone(),
                            EntityId::new(r.as_str()),
                        )
                    })
                    .collect::<HashSet<_>>(),
            ),
            Asker::Client { id } => (
                EntityUid::from_type_name_and_id(names.client.clone(), EntityId::new(id)),
                HashSet::new(),
            ),
        };
        let record = names
            .records
            .get(&q.resource_type)
            .ok_or("a resource type without its entity")?;
        let entities = Entities::from_entities(
            [
                Entity::new_no_attrs(principal.clone(), parents),
                record.clone(),
            ],
            None,
        )?;
        let context = self.context(q.facts)?;
        let action = names.actions[q.action as usize].clone();
        // Built from typed values that match the schema (the tests hold them to it), so
        // the request is not validated again on every decision.
        let request = Request::new(principal, action, record.uid(), context, None)?;
        Ok((request, entities))
    }
}

/// Entity type names and entities that never change, built once: parsing names and
/// evaluating attributes on every decision would cost more than the decision.
#[derive(Debug)]
struct Names {
    user: EntityTypeName,
    role: EntityTypeName,
    client: EntityTypeName,
    actions: [EntityUid; 5],
    records: HashMap<ResourceType, Entity>,
}

impl Names {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let name =
            |kind: &str| EntityTypeName::from_str(&format!("Medvault::{kind}")).map_err(Box::new);
        let action = name("Action")?;
        let record = name("Record")?;
        let mut records = HashMap::new();
        for t in ResourceType::ALL {
            let attrs = HashMap::from([
                (
                    "resourceType".to_owned(),
                    RestrictedExpression::new_string(t.as_str().to_owned()),
                ),
                (
                    "directory".to_owned(),
                    RestrictedExpression::new_bool(t.is_directory()),
                ),
            ]);
            let uid = EntityUid::from_type_name_and_id(record.clone(), EntityId::new(t.as_str()));
            records.insert(*t, Entity::new(uid, attrs, HashSet::new())?);
        }
        Ok(Self {
            user: name("User")?,
            role: name("Role")?,
            client: name("Client")?,
            actions: Action::ALL.map(|a| {
                EntityUid::from_type_name_and_id(action.clone(), EntityId::new(a.as_str()))
            }),
            records,
        })
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

/// A diagnostic as a problem at its first labelled place in `text`.
fn problem(text: &str, error: &dyn miette::Diagnostic, policy: Option<String>) -> PolicyProblem {
    let offset = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset());
    let mut message = error.to_string();
    if let Some(help) = error.help() {
        message = format!("{message} ({help})");
    }
    PolicyProblem {
        message,
        policy,
        ..located(text, offset)
    }
}

fn located(text: &str, offset: Option<usize>) -> PolicyProblem {
    let (line, column) = match offset {
        Some(offset) => {
            let before = text.get(..offset).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    PolicyProblem {
        message: String::new(),
        line,
        column,
        policy: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(engine: &Engine, roles: &[Role], facts: Facts) -> Verdict {
        engine.decide(&Question {
            asker: Asker::User {
                id: UserId::from_u128(7),
                roles,
            },
            action: Action::Read,
            resource_type: ResourceType::Observation,
            facts,
        })
    }

    #[test]
    fn an_erring_forbid_refuses_rather_than_letting_a_permit_stand() {
        let engine = Engine::new();
        let text = "@id(\"open\")\npermit (principal, action, resource);\n\
                    @id(\"boom\")\nforbid (principal, action, resource) \
                    when { 9223372036854775807 + 1 > 0 };\n";
        let set = engine
            .check(text)
            .expect("validates: the overflow only shows at run time");
        engine.install(1, text.to_owned(), set);
        let verdict = ask(&engine, &[Role::Physician], Facts::default());
        assert_eq!(
            verdict,
            Verdict {
                permit: false,
                policies: vec!["error:boom".to_owned()]
            }
        );
    }

    #[test]
    fn a_set_never_goes_back_to_an_older_version() {
        let engine = Engine::new();
        let open = "@id(\"open\")\npermit (principal, action, resource);\n";
        engine.install(2, open.to_owned(), engine.check(open).expect("valid"));
        let closed = "@id(\"closed\")\nforbid (principal, action, resource);\n";
        engine.install(1, closed.to_owned(), engine.check(closed).expect("valid"));
        assert_eq!(engine.current().version, 2);
        assert!(ask(&engine, &[Role::Admin], Facts::default()).permit);
    }

    #[test]
    fn the_default_set_names_what_decided() {
        let engine = Engine::new();
        let treating = Facts {
            care_team: true,
            ..Facts::default()
        };
        assert_eq!(
            ask(&engine, &[Role::Physician], treating).policies,
            vec!["clinician-treats-care-team-patients".to_owned()]
        );
        assert!(!ask(&engine, &[Role::Admin], treating).permit);
        // Asked again: the remembered answer is the same.
        assert!(ask(&engine, &[Role::Physician], treating).permit);
    }
}
