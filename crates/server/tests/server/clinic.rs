//! A realm with a physician signed in and helpers to speak FHIR: the fixture the record
//! store tests share.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::realm::Realm;

pub const FHIR_JSON: &str = "application/fhir+json";

pub struct Clinic {
    pub realm: Realm,
    /// A physician's access token. Patients the physician registers get a care team with
    /// them on it, so the physician treats every patient these tests create.
    pub doctor: String,
    /// The physician's Practitioner id.
    pub practitioner: String,
    /// An admin's token (the admin keeps the directory).
    pub registrar: String,
}

/// A FHIR answer: status, headers and JSON body (`Null` when empty).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The ids of a Bundle's entries' resources.
    pub fn ids(&self) -> Vec<String> {
        self.body["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn next_link(&self) -> Option<String> {
        self.body["link"]
            .as_array()?
            .iter()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str().map(str::to_owned))
    }

    /// The OperationOutcome's diagnostics.
    pub fn diagnostics(&self) -> String {
        assert_eq!(
            self.body["resourceType"], "OperationOutcome",
            "{}",
            self.body
        );
        self.body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Clinic {
    pub async fn start(args: &[&str]) -> Self {
        Self::within(Realm::start(args).await).await
    }

    pub async fn within(realm: Realm) -> Self {
        realm.add_user("registrar@example.org", &["admin"]);
        let (registrar, _) = realm.tokens("registrar@example.org").await;
        let mut clinic = Self {
            realm,
            doctor: String::new(),
            practitioner: String::new(),
            registrar,
        };
        let (practitioner, doctor) = clinic
            .clinician("doctor@example.org", "physician", None)
            .await;
        clinic.doctor = doctor;
        clinic.practitioner = practitioner;
        clinic
    }

    /// A clinic whose physician is already signed in (e.g. from `--demo`).
    pub fn signed_in(realm: Realm, doctor: String) -> Self {
        Self {
            realm,
            doctor,
            practitioner: String::new(),
            registrar: String::new(),
        }
    }

    /// A staff user who is a new Practitioner in the directory (and works for
    /// `organization`), signed in: their Practitioner id and access token.
    pub async fn clinician(
        &self,
        email: &str,
        role: &str,
        organization: Option<&str>,
    ) -> (String, String) {
        let practitioner = json!({"resourceType": "Practitioner", "active": true,
            "name": [{"family": email.split('@').next().unwrap_or("Staff"), "prefix": ["Dr."]}]});
        let answer = self
            .post("/fhir/Practitioner", &self.registrar, practitioner)
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let id = answer.body["id"].as_str().unwrap().to_owned();
        let mut args = vec![
            "user",
            "add",
            "--email",
            email,
            "--role",
            role,
            "--practitioner-id",
            &id,
            "--password-stdin",
        ];
        if let Some(organization) = organization {
            args.extend(["--organization", organization]);
        }
        let (ok, _, stderr) = self.realm.run_cli(&args, crate::realm::PASSWORD);
        assert!(ok, "{stderr}");
        (id.clone(), self.realm.tokens(email).await.0)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.realm.url(path)
        };
        let mut request = self.realm.client.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", FHIR_JSON)
                .body(body.to_string());
        }
        Self::answer(request.send().await.unwrap()).await
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Creates `resource` as the physician (directory entries as the admin, who keeps
    /// the directory, and Consents as the admin on the patient's behalf); returns its id.
    pub async fn create(&self, resource: Value) -> String {
        let resource_type = resource["resourceType"].as_str().unwrap();
        let path = format!("/fhir/{resource_type}");
        let author = match resource_type {
            "Practitioner" | "Organization" | "Consent" => &self.registrar,
            _ => &self.doctor,
        };
        let answer = self.post(&path, author, resource).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    pub async fn patient(
        &self,
        family: &str,
        given: &str,
        birth_date: &str,
        gender: &str,
    ) -> String {
        self.create(json!({
            "resourceType": "Patient",
            "identifier": [{"system": "urn:mrn", "value": format!("MRN-{family}-{given}")}],
            "name": [{"family": family, "given": [given]}],
            "birthDate": birth_date,
            "gender": gender,
        }))
        .await
    }

    pub async fn observation(
        &self,
        patient: &str,
        loinc: &str,
        when: &str,
        status: &str,
    ) -> String {
        self.create(json!({
            "resourceType": "Observation",
            "status": status,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "effectiveDateTime": when,
            "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
        }))
        .await
    }

    /// A patient user linked to `patient`, signed in; returns their access token.
    pub async fn patient_user(&self, email: &str, patient: &str) -> String {
        let args = [
            "user",
            "add",
            "--email",
            email,
            "--role",
            "patient",
            "--patient-id",
            patient,
            "--password-stdin",
        ];
        let (ok, _, stderr) = self.realm.run_cli(&args, crate::realm::PASSWORD);
        assert!(ok, "{stderr}");
        self.realm.tokens(email).await.0
    }

    pub async fn user(&self, email: &str, role: &str) -> String {
        self.realm.add_user(email, &[role]);
        self.realm.tokens(email).await.0
    }
}
