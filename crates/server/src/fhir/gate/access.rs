//! Who may touch which records, until policies as data arrive (issue #6): simple role
//! rules. Patients see their own compartment and the directory, and write their own
//! Consents and Communications; physicians and nurses
//! see and write everything; directors read; admin, auditor and researcher get no
//! clinical data (the admin manages the directory).

use medvault_domain::{Compartment, FhirId, PatientId, ResourceType, Role, SessionId, UserId};

use crate::identity::Principal;

/// The signed-in user a record interaction is for.
#[derive(Debug, Clone)]
pub struct Accessor {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<Role>,
    /// The Patient a patient user is.
    pub patient: Option<PatientId>,
    /// The Practitioner a clinician is (care-team rules will use it).
    pub practitioner: Option<FhirId>,
    /// medvault's operator at the CLI (e.g. exporting on a patient's behalf), who holds the
    /// master key anyway: reads any record, audited as the system. Never from a token.
    pub operator: bool,
    /// An OAuth client acting for itself (client credentials), with its `system/` scopes:
    /// what the scopes grant, and nothing else. `user_id` and `session_id` are then nil.
    pub client: Option<ClientGrant>,
}

/// A machine client's token: who it is and what its scopes allow.
#[derive(Debug, Clone)]
pub struct ClientGrant {
    pub client_id: String,
    pub scopes: Vec<crate::oauth::scopes::ResourceScope>,
}

/// The SMART permissions a client's scope may grant, by their place in `cruds`.
const READ: usize = 1;
const SEARCH: usize = 4;

impl ClientGrant {
    /// Until issue #6's policies: a client reads (`r`) and searches (`s`, each result
    /// still needing `r`) what its `system/` scopes name, in every compartment, and
    /// writes nothing yet.
    fn grants(&self, permission: usize, resource_type: ResourceType) -> bool {
        use crate::oauth::scopes::Context;
        self.scopes.iter().any(|scope| {
            scope.context == Context::System
                && scope.resource.is_none_or(|r| r == resource_type)
                && scope.permissions[permission]
        })
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
            operator: false,
            client: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    /// Refused in a way that reveals nothing: the record answers as if it did not exist.
    Hidden,
    /// Refused because of the role: the caller could know the rule anyway.
    Forbidden,
    Permit,
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
            operator: true,
            client: None,
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

    pub fn decide(
        &self,
        access: Access,
        resource_type: ResourceType,
        compartment: Compartment,
    ) -> Decision {
        if self.operator && access == Access::Read {
            return Decision::Permit;
        }
        if let Some(grant) = &self.client {
            return match access == Access::Read && grant.grants(READ, resource_type) {
                true => Decision::Permit,
                false => Decision::Forbidden,
            };
        }
        self.roles
            .iter()
            .map(|role| self.decide_as(*role, access, resource_type, compartment))
            .max()
            .unwrap_or(Decision::Forbidden)
    }

    fn decide_as(
        &self,
        role: Role,
        access: Access,
        resource_type: ResourceType,
        compartment: Compartment,
    ) -> Decision {
        match (role, access) {
            (Role::Physician | Role::Nurse, _) => Decision::Permit,
            (Role::Director, Access::Read) => Decision::Permit,
            (Role::Admin, _) if resource_type.is_directory() => Decision::Permit,
            (Role::Patient, Access::Read) if resource_type.is_directory() => Decision::Permit,
            (Role::Patient, Access::Read) => self.own(compartment),
            // Patients write their own consents and messages to their care team.
            (Role::Patient, Access::Write)
                if matches!(
                    resource_type,
                    ResourceType::Consent | ResourceType::Communication
                ) =>
            {
                self.own(compartment)
            }
            _ => Decision::Forbidden,
        }
    }

    /// Permit in the patient user's own compartment; elsewhere answer as if nothing existed.
    fn own(&self, compartment: Compartment) -> Decision {
        match (self.patient, compartment) {
            (Some(own), Compartment::Patient(p)) if own == p => Decision::Permit,
            _ => Decision::Hidden,
        }
    }

    /// Which compartment a search of `resource_type` may cover: all (`None`) or one.
    pub fn search_scope(
        &self,
        resource_type: ResourceType,
    ) -> Result<Option<Compartment>, Decision> {
        // A patient's own-compartment rule never permits the system compartment, so this
        // asks whether some role (or the client's scopes) reads every record of the type.
        if let Some(grant) = &self.client {
            return match grant.grants(SEARCH, resource_type) {
                true => Ok(None),
                false => Err(Decision::Forbidden),
            };
        }
        let everything = self.roles.iter().any(|role| {
            self.decide_as(*role, Access::Read, resource_type, Compartment::System)
                == Decision::Permit
        });
        if everything {
            return Ok(None);
        }
        match self.patient {
            Some(own) if self.roles.contains(&Role::Patient) && !resource_type.is_directory() => {
                Ok(Some(Compartment::Patient(own)))
            }
            _ => Err(Decision::Forbidden),
        }
    }
}
