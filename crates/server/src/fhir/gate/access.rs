//! Who asks the gate, and what a decision proves. The decisions themselves are made by the
//! access policies (`crate::access`) from facts the gate computes (`decide.rs`).

use medvault_domain::{
    Compartment, FhirId, PatientId, PurposeOfUse, ResourceType, Role, SessionId, UserId,
};

use crate::access::engine::Asker;
use crate::access::facts::Subject;
pub use crate::access::Action;
use crate::identity::Principal;

/// The signed-in user (or client, or operator) a record interaction is for.
#[derive(Debug, Clone)]
pub struct Accessor {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<Role>,
    /// The Patient a patient user is.
    pub patient: Option<PatientId>,
    /// The Practitioner a clinician is (care teams and consents name it).
    pub practitioner: Option<FhirId>,
    /// The Organization a staff user works for.
    pub organization: Option<FhirId>,
    /// medvault's operator at the CLI (e.g. exporting on a patient's behalf), who holds the
    /// master key anyway: reads any record, audited as the system. Never from a token.
    pub operator: bool,
    /// An OAuth client acting for itself (client credentials), with its `system/` scopes.
    /// `user_id` and `session_id` are then nil.
    pub client: Option<ClientGrant>,
    /// An OAuth client acting for this user (authorization code): the user's access,
    /// narrowed to the SMART scopes the user granted it (scope AND policy).
    pub delegated: Option<DelegatedGrant>,
}

/// What a user granted an OAuth client: `patient/` scopes reach the launch patient only,
/// `user/` scopes whatever the user may reach.
#[derive(Debug, Clone)]
pub struct DelegatedGrant {
    pub client_id: String,
    pub scopes: Vec<crate::oauth::scopes::ResourceScope>,
    pub patient: Option<PatientId>,
}

/// A machine client's token: who it is and what its scopes allow.
#[derive(Debug, Clone)]
pub struct ClientGrant {
    pub client_id: String,
    pub scopes: Vec<crate::oauth::scopes::ResourceScope>,
}

/// The SMART permissions a scope may grant, by their place in `cruds`.
const CREATE: usize = 0;
const READ: usize = 1;
const UPDATE: usize = 2;
const DELETE: usize = 3;
const SEARCH: usize = 4;

/// Whether one of `scopes` in a context `within` accepts grants `permission` on the type.
fn granted(
    scopes: &[crate::oauth::scopes::ResourceScope],
    permission: usize,
    resource_type: ResourceType,
    within: impl Fn(crate::oauth::scopes::Context) -> bool,
) -> bool {
    scopes.iter().any(|scope| {
        within(scope.context)
            && scope.resource.is_none_or(|r| r == resource_type)
            && scope.permissions[permission]
    })
}

impl ClientGrant {
    /// What the client's `system/` scopes allow; the policies must permit it as well
    /// (scope AND policy). Clients write nothing yet, whatever their scopes.
    pub fn allows(&self, action: Action, resource_type: ResourceType) -> bool {
        action == Action::Read && self.grants(READ, resource_type)
    }

    pub fn searches(&self, resource_type: ResourceType) -> bool {
        self.grants(SEARCH, resource_type)
    }

    fn grants(&self, permission: usize, resource_type: ResourceType) -> bool {
        use crate::oauth::scopes::Context;
        granted(&self.scopes, permission, resource_type, |c| {
            c == Context::System
        })
    }
}

impl DelegatedGrant {
    /// What the granted scopes allow on a record of `compartment`; the user's policies
    /// must permit it as well.
    pub fn allows(
        &self,
        action: Action,
        resource_type: ResourceType,
        compartment: Compartment,
    ) -> bool {
        use crate::oauth::scopes::Context;
        let permission = match action {
            Action::Create => CREATE,
            Action::Read => READ,
            Action::Update => UPDATE,
            Action::Delete => DELETE,
            // A de-identified research export is no app's business.
            Action::Research => return false,
        };
        let launched = self
            .patient
            .is_some_and(|p| compartment == Compartment::Patient(p));
        granted(&self.scopes, permission, resource_type, |c| match c {
            Context::User => true,
            Context::Patient => launched,
            Context::System => false,
        })
    }

    /// Whether the scopes allow searching the type at all, and if so whether only within
    /// the launch patient's compartment (`patient/` scopes alone).
    pub fn searches(&self, resource_type: ResourceType) -> Option<bool> {
        use crate::oauth::scopes::Context;
        if granted(&self.scopes, SEARCH, resource_type, |c| c == Context::User) {
            Some(false)
        } else if self.patient.is_some()
            && granted(&self.scopes, SEARCH, resource_type, |c| {
                c == Context::Patient
            })
        {
            Some(true)
        } else {
            None
        }
    }
}

impl From<Principal> for Accessor {
    fn from(p: Principal) -> Self {
        Self {
            user_id: p.user_id,
            session_id: p.session_id,
            roles: p.roles,
            patient: p.patient,
            practitioner: p.practitioner,
            organization: p.organization,
            operator: false,
            client: None,
            delegated: None,
        }
    }
}

impl Accessor {
    /// The operator at the CLI (see [`Accessor::operator`]).
    pub fn operator() -> Self {
        Self {
            user_id: UserId::from_u128(0),
            session_id: SessionId::from_u128(0),
            roles: Vec::new(),
            patient: None,
            practitioner: None,
            organization: None,
            operator: true,
            client: None,
            delegated: None,
        }
    }

    /// A machine client with its scopes (see [`ClientGrant`]).
    pub fn client(grant: ClientGrant) -> Self {
        Self {
            client: Some(grant),
            operator: false,
            ..Self::operator()
        }
    }

    pub(super) fn asker(&self) -> Asker<'_> {
        match &self.client {
            Some(grant) => Asker::Client {
                id: &grant.client_id,
            },
            None => Asker::User {
                id: self.user_id,
                roles: &self.roles,
            },
        }
    }

    pub(super) fn subject(&self) -> Subject<'_> {
        Subject {
            user: self.client.is_none().then_some(self.user_id),
            patient: self.patient,
            practitioner: self.practitioner.as_ref(),
            organization: self.organization.as_ref(),
            client: self.client.as_ref().map(|g| g.client_id.as_str()),
        }
    }
}

/// Proof that the gate permitted one interaction with one record, and what to audit
/// about it. Only the gate makes one, so a write cannot be committed unauthorized.
#[derive(Debug, Clone)]
pub struct Permit {
    pub(super) action: Action,
    pub(super) resource_type: ResourceType,
    pub(super) id: FhirId,
    pub(super) compartment: Compartment,
    /// The policies that permitted it.
    pub(super) policies: Vec<String>,
    pub(super) purpose: PurposeOfUse,
}

impl Permit {
    pub(super) fn covers(
        &self,
        action: Action,
        resource_type: ResourceType,
        id: &FhirId,
        compartment: Compartment,
    ) -> bool {
        self.action == action
            && self.resource_type == resource_type
            && &self.id == id
            && self.compartment == compartment
    }
}
