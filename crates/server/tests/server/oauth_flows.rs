//! The authorization code flow with PKCE through the hosted pages, as an app and a browser
//! see it: sign-in, consent, SSO, ID tokens checked against the JWKS, SMART scopes AND
//! policies on the FHIR API, refresh rotation, code replay, logout, and the exact errors
//! for bad requests.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::clinic::Clinic;
use crate::realm::{Realm, PASSWORD};

pub(crate) const REDIRECT: &str = "http://127.0.0.1:7777/callback";
pub(crate) const VERIFIER: &str =
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-longer-than-43-characters";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A browser: keeps cookies, follows no redirects.
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    /// Where the browser goes next: a redirect (GET answers), or the page that returns to
    /// the app by itself (form answers: `<meta http-equiv="refresh">`, never a form's
    /// redirect, which CSP `form-action` would govern).
    pub(crate) fn location(&self) -> String {
        if let Some(location) = self.headers.get(LOCATION) {
            return location.to_str().unwrap().to_owned();
        }
        let Some((_, rest)) = self
            .body
            .split_once("http-equiv=\"refresh\" content=\"0; url=")
        else {
            return String::new();
        };
        unescape(rest.split_once('"').unwrap().0)
    }

    /// The query parameters of the redirect.
    pub(crate) fn redirect_params(&self) -> HashMap<String, String> {
        let location = self.location();
        assert!(
            location.starts_with(REDIRECT),
            "not a redirect to the app: {} {}",
            self.status,
            self.body
        );
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The hidden fields of the page's form, unescaped.
    fn hidden(&self) -> Vec<(String, String)> {
        self.body
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .map(|rest| {
                let (name, rest) = rest.split_once("\" value=\"").unwrap();
                let value = unescape(rest.split_once('"').unwrap().0);
                (name.to_owned(), value)
            })
            .collect()
    }

    pub(crate) fn is_form(&self, action: &str) -> bool {
        self.body.contains(&format!("action=\"{action}\""))
    }
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = request
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, url: String) -> Page {
        let request = self.http.get(url);
        self.send(request).await
    }

    /// Submits the page's form to `action` with its hidden fields and `fields`.
    pub(crate) async fn submit(
        &mut self,
        realm: &Realm,
        page: &Page,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        assert!(
            page.is_form(action),
            "expected a form for {action}: {} {}",
            page.status,
            page.body
        );
        // Filled-in fields replace hidden ones of the same name, as a page's script does.
        let mut form = page.hidden();
        form.retain(|(name, _)| !fields.iter().any(|(k, _)| k == name));
        form.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let request = self.http.post(realm.url(action)).form(&form);
        self.send(request).await
    }

    /// Signs in on a sign-in page.
    async fn sign_in(&mut self, realm: &Realm, page: &Page, email: &str) -> Page {
        self.submit(
            realm,
            page,
            "/oauth2/authorize/login",
            &[("email", email), ("password", PASSWORD)],
        )
        .await
    }
}

pub(crate) struct App {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
    id_token_alg: jsonwebtoken::Algorithm,
}

pub(crate) async fn register(realm: &Realm, admin: &str, metadata: Value) -> App {
    let response = realm
        .client
        .post(realm.url("/api/v1/admin/clients"))
        .bearer_auth(admin)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    App {
        id: body["client_id"].as_str().unwrap().to_owned(),
        secret: body["client_secret"].as_str().map(str::to_owned),
        id_token_alg: match body["id_token_signed_response_alg"].as_str() {
            Some("RS256") => jsonwebtoken::Algorithm::RS256,
            _ => jsonwebtoken::Algorithm::ES256,
        },
    }
}

async fn public_app(realm: &Realm, admin: &str, scope: &str) -> App {
    register(
        realm,
        admin,
        json!({"client_name": "Pocket Health", "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none", "scope": scope}),
    )
    .await
}

/// A clinic with a public app registered for `scope`.
pub(crate) async fn clinic_with_app(scope: &str) -> (Clinic, App) {
    let clinic = Clinic::start(&[]).await;
    let app = public_app(&clinic.realm, &clinic.registrar, scope).await;
    (clinic, app)
}

pub(crate) fn authorize_url(
    realm: &Realm,
    app: &App,
    scope: &str,
    extra: &[(&str, &str)],
) -> String {
    let challenge = challenge(VERIFIER);
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("response_type", "code"),
        ("client_id", app.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ] {
        if !extra.iter().any(|(name, _)| *name == k) {
            query.append_pair(k, v);
        }
    }
    for (k, v) in extra {
        if !v.is_empty() {
            query.append_pair(k, v);
        }
    }
    realm.url(&format!("/oauth2/authorize?{}", query.finish()))
}

async fn token(realm: &Realm, app: &App, params: &[(&str, &str)]) -> (u16, Value) {
    let mut form: Vec<(&str, &str)> = params.to_vec();
    let mut request = realm.client.post(realm.url("/oauth2/token"));
    match &app.secret {
        Some(secret) => request = request.basic_auth(&app.id, Some(secret)),
        None => form.push(("client_id", &app.id)),
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn exchange(realm: &Realm, app: &App, code: &str) -> (u16, Value) {
    token(
        realm,
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// The ID token's claims, its ES256 signature checked against the published JWKS.
async fn verified_id_token(realm: &Realm, app: &App, id_token: &str) -> Value {
    let discovery: Value = realm
        .client
        .get(realm.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = discovery["issuer"].as_str().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = realm
        .client
        .get(realm.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, app.id_token_alg);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(app.id_token_alg);
    validation.set_audience(&[&app.id]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .unwrap()
        .claims
}

/// Signs in through the pages and approves: the authorization response's parameters.
pub(crate) async fn approve(
    browser: &mut Browser,
    realm: &Realm,
    url: String,
    email: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut page = browser.get(url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Signed in already (SSO), the consent page comes first.
    if page.is_form("/oauth2/authorize/login") {
        page = browser.sign_in(realm, &page, email).await;
        // Consent remembered for a confidential client: no consent page.
        if !page.location().is_empty() {
            return page.redirect_params();
        }
        assert_eq!(page.status, 200, "{}", page.body);
    }
    let mut fields = vec![("decision", "allow")];
    fields.extend_from_slice(extra);
    let done = browser
        .submit(realm, &page, "/oauth2/authorize/consent", &fields)
        .await;
    assert!(!done.location().is_empty(), "{}", done.body);
    done.redirect_params()
}

async fn fhir(realm: &Realm, path: &str, token: &str) -> (u16, Value) {
    let response = realm.get(path, token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_patient_app_signs_in_with_pkce_and_reads_within_its_scopes_and_the_policies() {
    let clinic = Clinic::start(&[]).await;
    let realm = &clinic.realm;
    let mine = clinic
        .patient("Okafor", "Ada", "1980-02-01", "female")
        .await;
    let theirs = clinic.patient("Lind", "Bo", "1975-06-07", "male").await;
    let my_obs = clinic
        .observation(&mine, "2345-7", "2026-01-02T10:00:00Z", "final")
        .await;
    let their_obs = clinic
        .observation(&theirs, "2345-7", "2026-01-02T10:00:00Z", "final")
        .await;
    let ada = clinic.patient_user("ada@example.org", &mine).await;
    let scope = "openid fhirUser launch/patient offline_access patient/Observation.rs";
    let app = public_app(realm, &clinic.registrar, scope).await;

    let mut browser = Browser::new();
    let page = browser.get(authorize_url(realm, &app, scope, &[])).await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        page.body.contains("Pocket Health")
            && page.body.contains("autocomplete=\"current-password\"")
    );
    // A wrong password shows the page again, with an error and no code.
    let wrong = browser
        .submit(
            realm,
            &page,
            "/oauth2/authorize/login",
            &[("email", "ada@example.org"), ("password", "not it at all")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("role=\"alert\"") && wrong.location().is_empty(),
        "{} {:?}",
        wrong.body,
        wrong.headers
    );
    let consent = browser.sign_in(realm, &wrong, "ada@example.org").await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent
            .body
            .contains("Read, search Observation data in the chosen patient&#39;s record"),
        "{}",
        consent.body
    );
    assert!(!consent.body.contains("Okafor"), "no PHI on the pages");
    let consent_csp = consent.headers["content-security-policy"].to_str().unwrap();
    assert!(
        consent_csp.contains("form-action 'self';") && !consent_csp.contains("7777"),
        "forms post to medvault only: {consent_csp}"
    );
    let done = browser
        .submit(
            realm,
            &consent,
            "/oauth2/authorize/consent",
            &[("decision", "allow"), ("remember", "yes")],
        )
        .await;
    // Back to the app by a page that moves on by itself, not by the form's redirect.
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("http-equiv=\"refresh\"") && done.headers.get(LOCATION).is_none());
    let params = done.redirect_params();
    assert_eq!(params["state"], "st-123");
    assert!(params["iss"].starts_with("http://localhost:"));

    let (status, tokens) = exchange(realm, &app, &params["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["patient"], mine.as_str());
    assert_eq!(tokens["scope"], scope);
    assert_eq!(tokens["token_type"], "Bearer");
    let claims = verified_id_token(realm, &app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["nonce"], "nonce-456");
    assert!(claims["fhirUser"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/fhir/Patient/{mine}")));
    let access = tokens["access_token"].as_str().unwrap();

    // Scope AND policy: the launch patient's Observations, nothing else.
    let (status, _) = fhir(realm, &format!("/fhir/Observation/{my_obs}"), access).await;
    assert_eq!(status, 200);
    let (status, _) = fhir(realm, &format!("/fhir/Observation/{their_obs}"), access).await;
    assert!(status == 403 || status == 404, "{status}");
    let (status, _) = fhir(realm, &format!("/fhir/Patient/{mine}"), access).await;
    assert!(
        status == 403 || status == 404,
        "no Patient scope was granted: {status}"
    );
    let (status, bundle) = fhir(realm, "/fhir/Observation", access).await;
    assert_eq!(status, 200, "{bundle}");
    let found: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, vec![my_obs.as_str()]);
    // The token is for the FHIR API and userinfo, not the first-party API.
    assert_eq!(realm.me_status(access).await, 403);
    let info: Value = realm
        .client
        .get(realm.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], claims["sub"]);
    // Ada's own access log names the app she used, not just herself.
    let log = realm.get_json("/api/v1/me/access-log", &ada).await;
    let through_app: Vec<(&str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["who"]["app"] == "Pocket Health")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(through_app.contains(&("fhir.read", "success")), "{log}");
    assert!(through_app.contains(&("fhir.search", "success")), "{log}");

    // SSO: no second sign-in. A public client on a loopback address could be anyone's
    // app (RFC 8252 §8.6), so the user confirms again despite the remembered consent.
    let again = browser.get(authorize_url(realm, &app, scope, &[])).await;
    assert!(again.is_form("/oauth2/authorize/consent"), "{}", again.body);
    let silent = browser
        .get(authorize_url(realm, &app, scope, &[("prompt", "none")]))
        .await;
    assert_eq!(silent.redirect_params()["error"], "consent_required");
    let again = browser
        .submit(
            realm,
            &again,
            "/oauth2/authorize/consent",
            &[("decision", "allow")],
        )
        .await;
    assert!(!again.location().is_empty(), "{}", again.body);
    let second_code = again.redirect_params()["code"].clone();

    // A refresh token presented by another client is a leak: that grant ends unspent.
    let other = public_app(realm, &clinic.registrar, scope).await;
    let stolen = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        realm,
        &other,
        &[("grant_type", "refresh_token"), ("refresh_token", stolen)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = fhir(realm, &format!("/fhir/Observation/{my_obs}"), access).await;
    assert_eq!(status, 401, "the leaked grant is revoked");
    let (status, _) = token(
        realm,
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", stolen)],
    )
    .await;
    assert_eq!(status, 400);
    let tokens = {
        let again = browser.get(authorize_url(realm, &app, scope, &[])).await;
        let again = browser
            .submit(
                realm,
                &again,
                "/oauth2/authorize/consent",
                &[("decision", "allow")],
            )
            .await;
        let (status, tokens) = exchange(realm, &app, &again.redirect_params()["code"]).await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    };

    // Refresh rotates; replaying the old refresh token ends that grant.
    let first_refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) = token(
        realm,
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first_refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["patient"], mine.as_str());
    let (status, replay) = token(
        realm,
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first_refresh),
        ],
    )
    .await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = fhir(
        realm,
        &format!("/fhir/Observation/{my_obs}"),
        refreshed["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 401, "the replay revoked the whole family");

    // A code is spent once; spending it again revokes what it bought.
    let (status, second) = exchange(realm, &app, &second_code).await;
    assert_eq!(status, 200, "{second}");
    let (status, reused) = exchange(realm, &app, &second_code).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = fhir(
        realm,
        &format!("/fhir/Observation/{my_obs}"),
        second["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let actions = realm.audit_actions().await;
    assert!(actions.contains(&"token.reuse_detected"), "{actions:?}");
    assert!(actions.contains(&"oauth.consent"), "{actions:?}");
}

#[tokio::test]
async fn a_clinician_picks_a_patient_they_may_see_and_no_other() {
    let clinic = Clinic::start(&[]).await;
    let realm = &clinic.realm;
    // The clinic's physician registered this patient and so is on their care team.
    let theirs = clinic.patient("Mensah", "Kofi", "1969-03-04", "male").await;
    let obs = clinic
        .observation(&theirs, "2345-7", "2026-01-02T10:00:00Z", "final")
        .await;
    let (_, _) = clinic
        .clinician("other@example.org", "physician", None)
        .await;
    let scope = "openid launch/patient patient/Observation.rs user/Patient.rs";
    let app = public_app(realm, &clinic.registrar, scope).await;

    // A stranger to the patient cannot open their record through the picker.
    let mut browser = Browser::new();
    let page = browser.get(authorize_url(realm, &app, scope, &[])).await;
    let consent = browser.sign_in(realm, &page, "other@example.org").await;
    assert!(
        consent.body.contains("name=\"patient\""),
        "{}",
        consent.body
    );
    let refused = browser
        .submit(
            realm,
            &consent,
            "/oauth2/authorize/consent",
            &[("decision", "allow"), ("patient", &theirs)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.location().is_empty());

    let mut browser = Browser::new();
    let params = approve(
        &mut browser,
        realm,
        authorize_url(realm, &app, scope, &[]),
        "doctor@example.org",
        &[("patient", &theirs)],
    )
    .await;
    let (status, tokens) = exchange(realm, &app, &params["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["patient"], theirs.as_str());
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = fhir(realm, &format!("/fhir/Observation/{obs}"), access).await;
    assert_eq!(status, 200);
    let (status, _) = fhir(realm, &format!("/fhir/Patient/{theirs}"), access).await;
    assert_eq!(
        status, 200,
        "user/Patient.rs within the physician's own reach"
    );
    // patient/ scopes never write, whatever the physician could do.
    let write = realm
        .client
        .post(realm.url("/fhir/Observation"))
        .bearer_auth(access)
        .header("content-type", "application/fhir+json")
        .json(&json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": format!("Patient/{theirs}")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
}

#[tokio::test]
async fn bad_authorization_and_token_requests_get_the_exact_errors() {
    let scope = "openid patient/Observation.rs";
    let (clinic, app) = clinic_with_app(scope).await;
    let realm = &clinic.realm;
    let other = public_app(realm, &clinic.registrar, scope).await;
    let mut browser = Browser::new();

    // An unknown client or an unregistered redirect URI: an error page, never a redirect.
    let unknown = App {
        id: uuid_like(),
        secret: None,
        id_token_alg: jsonwebtoken::Algorithm::ES256,
    };
    for url in [
        authorize_url(realm, &unknown, scope, &[]),
        authorize_url(
            realm,
            &app,
            scope,
            &[("redirect_uri", "https://evil.example/cb")],
        ),
        authorize_url(
            realm,
            &app,
            scope,
            &[("redirect_uri", "http://127.0.0.1:7777/callback/")],
        ),
    ] {
        let page = browser.get(url).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.location().is_empty());
        assert!(page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    // Everything else goes back to the app with RFC 6749 §4.1.2.1's codes.
    for (extra, code) in [
        (
            vec![("code_challenge_method", ""), ("code_challenge", "")],
            "invalid_request",
        ),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            vec![("scope", "openid patient/Nonsense.rs")],
            "invalid_scope",
        ),
        (vec![("scope", "openid user/*.cruds")], "invalid_scope"),
        (vec![("scope", "system/Observation.rs")], "invalid_scope"),
        (vec![("prompt", "none")], "login_required"),
        (
            vec![("aud", "https://elsewhere.example/fhir")],
            "invalid_request",
        ),
    ] {
        let page = browser.get(authorize_url(realm, &app, scope, &extra)).await;
        assert_eq!(page.status, 303, "{extra:?}: {}", page.body);
        let params = page.redirect_params();
        assert_eq!(params["error"], code, "{extra:?}");
        assert_eq!(params["state"], "st-123");
    }

    // Denying goes back to the app as access_denied.
    let mut denier = Browser::new();
    let page = denier.get(authorize_url(realm, &app, scope, &[])).await;
    let consent = denier.sign_in(realm, &page, "doctor@example.org").await;
    let denied = denier
        .submit(
            realm,
            &consent,
            "/oauth2/authorize/consent",
            &[("decision", "deny")],
        )
        .await;
    assert_eq!(denied.redirect_params()["error"], "access_denied");

    // A form without this browser's CSRF cookie is refused.
    let page = browser.get(authorize_url(realm, &app, scope, &[])).await;
    let mut stranger = Browser::new();
    let forged = stranger.sign_in(realm, &page, "doctor@example.org").await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    let params = approve(
        &mut browser,
        realm,
        authorize_url(realm, &app, scope, &[]),
        "doctor@example.org",
        &[],
    )
    .await;
    let code = params["code"].as_str();
    let (status, body) = token(
        realm,
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "no verifier"
    );
    let (status, body) = token(
        realm,
        &other,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another client's code"
    );

    let params = approve(
        &mut browser,
        realm,
        authorize_url(realm, &app, scope, &[]),
        "doctor@example.org",
        &[],
    )
    .await;
    let wrong_verifier = "x".repeat(64);
    let (status, body) = token(
        realm,
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong_verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrong verifier"
    );
    let (status, body) = exchange(realm, &app, "never-issued").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token(
        realm,
        &app,
        &[("grant_type", "password"), ("username", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = token(realm, &app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

fn uuid_like() -> String {
    "5b0e7a36-1f7c-4a0e-9d55-6f2f3a8b9c10".to_owned()
}

#[tokio::test]
async fn signing_out_ends_the_sso_session_and_every_grant_made_in_it() {
    let scope = "openid offline_access user/Patient.rs";
    let (clinic, app) = clinic_with_app(scope).await;
    let realm = &clinic.realm;
    let mut browser = Browser::new();
    let params = approve(
        &mut browser,
        realm,
        authorize_url(realm, &app, scope, &[]),
        "doctor@example.org",
        &[],
    )
    .await;
    let (status, tokens) = exchange(realm, &app, &params["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(fhir(realm, "/fhir/Patient", access).await.0, 200);

    let page = browser
        .get(realm.url(&format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri={}&state=bye",
            app.id, REDIRECT
        )))
        .await;
    assert_eq!(page.status, 200);
    // Another site cannot sign the user out: its form lacks the browser's CSRF cookie.
    let mut stranger = Browser::new();
    assert_eq!(
        stranger
            .submit(realm, &page, "/oauth2/logout", &[])
            .await
            .status,
        403
    );
    assert_eq!(fhir(realm, "/fhir/Patient", access).await.0, 200);

    let done = browser.submit(realm, &page, "/oauth2/logout", &[]).await;
    assert_eq!(
        done.location(),
        format!("{REDIRECT}?state=bye"),
        "{}",
        done.body
    );
    assert!(!browser.cookies.contains_key("medvault_sso"));
    let after = fhir(realm, "/fhir/Patient", access).await;
    assert_eq!(after.0, 401, "{}", after.1);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        realm,
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Signed out: the next authorization asks to sign in again.
    let page = browser.get(authorize_url(realm, &app, scope, &[])).await;
    assert!(page.is_form("/oauth2/authorize/login"));
    // An unregistered return address is never followed.
    let page = browser
        .get(realm.url(&format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri=https://evil.example/",
            app.id
        )))
        .await;
    let done = browser.submit(realm, &page, "/oauth2/logout", &[]).await;
    assert_eq!(done.status, 200);
    assert!(done.location().is_empty());
}

#[tokio::test]
async fn discovery_and_the_smart_configuration_say_what_is_supported() {
    let realm = Realm::start(&[]).await;
    let oidc = crate::support::get_json(
        &realm.client,
        realm.url("/.well-known/openid-configuration"),
    )
    .await;
    let issuer = oidc["issuer"].as_str().unwrap();
    assert_eq!(
        oidc["authorization_endpoint"],
        format!("{issuer}/oauth2/authorize")
    );
    assert_eq!(oidc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(oidc["response_types_supported"], json!(["code"]));
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    let smart =
        crate::support::get_json(&realm.client, realm.url("/.well-known/smart-configuration"))
            .await;
    for field in [
        "issuer",
        "jwks_uri",
        "authorization_endpoint",
        "token_endpoint",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "scopes_supported",
        "response_types_supported",
        "capabilities",
        "code_challenge_methods_supported",
    ] {
        assert!(!smart[field].is_null(), "SMART requires {field}");
    }
    let capabilities = smart["capabilities"].as_array().unwrap();
    for capability in [
        "launch-standalone",
        "client-public",
        "context-standalone-patient",
        "permission-v2",
        "sso-openid-connect",
    ] {
        assert!(capabilities.contains(&json!(capability)), "{capability}");
    }
    let css = realm
        .client
        .get(realm.url("/oauth2/assets/sign-in.js"))
        .send()
        .await
        .unwrap();
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

#[tokio::test]
async fn a_confidential_app_registered_for_rs256_gets_rs256_id_tokens_across_rotations() {
    let clinic = Clinic::start(&[]).await;
    let realm = &clinic.realm;
    let scope = "openid fhirUser user/Patient.rs";
    let app = register(
        realm,
        &clinic.registrar,
        json!({"client_name": "Hospital portal", "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"], "scope": scope,
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "RS256"}),
    )
    .await;
    assert_eq!(app.id_token_alg, jsonwebtoken::Algorithm::RS256);
    let jwks = crate::support::get_json(&realm.client, realm.url("/.well-known/jwks.json")).await;
    let rsa = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["kty"] == "RSA" && k["alg"] == "RS256")
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        rsa(&jwks).len(),
        2,
        "the active and the next RSA key: {jwks}"
    );

    let mut browser = Browser::new();
    let params = approve(
        &mut browser,
        realm,
        authorize_url(realm, &app, scope, &[]),
        "doctor@example.org",
        &[("remember", "yes")],
    )
    .await;
    let (status, tokens) = exchange(realm, &app, &params["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = verified_id_token(realm, &app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], app.id.as_str());
    // A confidential client with remembered consent: SSO answers without a page, even
    // for prompt=none, and for any request the remembered scopes cover.
    for extra in [vec![], vec![("prompt", "none")]] {
        let silent = browser.get(authorize_url(realm, &app, scope, &extra)).await;
        assert_eq!(silent.status, 303, "{}", silent.body);
        assert!(silent.redirect_params().contains_key("code"));
    }
    let broader = browser
        .get(authorize_url(realm, &app, "openid fhirUser", &[]))
        .await;
    assert_eq!(broader.status, 303, "a narrower request is covered");
    let (status, body) = exchange(realm, &app, &broader.redirect_params()["code"]).await;
    assert_eq!(status, 200, "{body}");
    // Access tokens stay ES256 whatever the client's ID tokens use.
    let header = jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);

    // A rotation rotates the RSA keys too, and new ID tokens verify against the new JWKS.
    let (ok, _, stderr) = realm.run_cli(&["keys", "rotate"], "");
    assert!(ok, "{stderr}");
    let mut realm_restarted = clinic.realm;
    realm_restarted.restart().await;
    let after = crate::support::get_json(
        &realm_restarted.client,
        realm_restarted.url("/.well-known/jwks.json"),
    )
    .await;
    assert_eq!(rsa(&after).len(), 3, "retiring, active and next: {after}");
    let mut browser = Browser::new();
    let params = approve(
        &mut browser,
        &realm_restarted,
        authorize_url(&realm_restarted, &app, scope, &[]),
        "doctor@example.org",
        &[],
    )
    .await;
    let (status, tokens) = exchange(&realm_restarted, &app, &params["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    verified_id_token(&realm_restarted, &app, tokens["id_token"].as_str().unwrap()).await;
}

#[tokio::test]
async fn the_hosted_second_factor_takes_a_totp_code_or_a_passkey() {
    use crate::passkeys::{origin, register as register_passkey, Authenticator};
    let scope = "openid user/Patient.rs";
    let (clinic, app) = clinic_with_app(scope).await;
    let realm = &clinic.realm;

    // An authenticator app.
    let token = clinic.user("nurse.totp@example.org", "nurse").await;
    let (secret, _) = crate::mfa::enroll(realm, &token).await;
    let mut browser = Browser::new();
    let page = browser.get(authorize_url(realm, &app, scope, &[])).await;
    let second = browser
        .sign_in(realm, &page, "nurse.totp@example.org")
        .await;
    assert!(second.is_form("/oauth2/authorize/mfa"), "{}", second.body);
    assert!(!second.body.contains("use-passkey"), "no passkey to offer");
    let wrong = browser
        .submit(
            realm,
            &second,
            "/oauth2/authorize/mfa",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.is_form("/oauth2/authorize/mfa") && !browser.cookies.contains_key("medvault_sso")
    );
    let code = crate::mfa::totp(&secret, crate::mfa::step_now() + 1);
    let consent = browser
        .submit(realm, &wrong, "/oauth2/authorize/mfa", &[("code", &code)])
        .await;
    assert!(
        consent.is_form("/oauth2/authorize/consent"),
        "{}",
        consent.body
    );
    let done = browser
        .submit(
            realm,
            &consent,
            "/oauth2/authorize/consent",
            &[("decision", "allow")],
        )
        .await;
    let (status, tokens) = exchange(realm, &app, &done.redirect_params()["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = verified_id_token(realm, &app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["acr"], "urn:medvault:acr:mfa");
    assert!(
        claims["amr"].as_array().unwrap().contains(&json!("otp")),
        "{claims}"
    );

    // A passkey, through the page's script's two calls.
    let token = clinic.user("nurse.key@example.org", "nurse").await;
    let mut authenticator = Authenticator::new(&origin(realm));
    let (status, registered) = register_passkey(realm, &token, &mut authenticator).await;
    assert_eq!(status, 201, "{registered}");
    let mut browser = Browser::new();
    let page = browser.get(authorize_url(realm, &app, scope, &[])).await;
    let second = browser.sign_in(realm, &page, "nurse.key@example.org").await;
    assert!(
        second.body.contains("id=\"use-passkey\"")
            && second.body.contains("/oauth2/assets/passkey.js")
    );
    let mfa_token = second
        .hidden()
        .into_iter()
        .find(|(name, _)| name == "mfa_token")
        .unwrap()
        .1;
    let options: Value = realm
        .post_json(
            "/api/v1/auth/webauthn/start",
            json!({"mfa_token": mfa_token}),
        )
        .await
        .json()
        .await
        .unwrap();
    let credential = authenticator.get(&options, "localhost").to_string();
    let consent = browser
        .submit(
            realm,
            &second,
            "/oauth2/authorize/mfa",
            &[("passkey", &credential)],
        )
        .await;
    assert!(
        consent.is_form("/oauth2/authorize/consent"),
        "{}",
        consent.body
    );
    // The same assertion again is a replay: the ceremony is spent.
    let mut other = Browser::new();
    other.cookies = browser.cookies.clone();
    other.cookies.remove("medvault_sso");
    let replay = other
        .submit(
            realm,
            &second,
            "/oauth2/authorize/mfa",
            &[("passkey", &credential)],
        )
        .await;
    assert_ne!(replay.status, 200, "{}", replay.body);
    assert!(!replay.is_form("/oauth2/authorize/consent"));
    let script = realm
        .client
        .get(realm.url("/oauth2/assets/passkey.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
}

/// What `sign-in.js` does: a nonce whose SHA-256 with the prefix starts with enough zeros.
fn solve(prefix: &str, difficulty: u32) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|nonce| {
            let digest = Sha256::digest(format!("{prefix}{nonce}").as_bytes());
            let mut zeros = 0;
            for byte in digest {
                zeros += byte.leading_zeros();
                if byte != 0 {
                    break;
                }
            }
            zeros >= difficulty
        })
        .unwrap()
}

#[tokio::test]
async fn an_account_under_attack_signs_in_on_the_page_only_after_the_bot_challenge() {
    let scope = "openid user/Patient.rs";
    let (clinic, app) = clinic_with_app(scope).await;
    let realm = &clinic.realm;
    let mut browser = Browser::new();
    let mut page = browser.get(authorize_url(realm, &app, scope, &[])).await;
    for _ in 0..3 {
        page = browser
            .submit(
                realm,
                &page,
                "/oauth2/authorize/login",
                &[
                    ("email", "doctor@example.org"),
                    ("password", "guess-guess-guess"),
                ],
            )
            .await;
        assert_eq!(page.status, 401);
    }
    // Even the right password now needs the challenge first.
    let challenged = browser.sign_in(realm, &page, "doctor@example.org").await;
    assert!(challenged.body.contains("/oauth2/assets/sign-in.js"));
    let fields: HashMap<String, String> = challenged.hidden().into_iter().collect();
    let difficulty: u32 = fields["challenge_difficulty"].parse().unwrap();
    assert!(!browser.cookies.contains_key("medvault_sso"));
    let solution = solve(&fields["challenge_prefix"], difficulty);
    let consent = browser
        .submit(
            realm,
            &challenged,
            "/oauth2/authorize/login",
            &[
                ("email", "doctor@example.org"),
                ("password", PASSWORD),
                ("challenge_solution", &solution),
            ],
        )
        .await;
    assert!(
        consent.is_form("/oauth2/authorize/consent"),
        "{}",
        consent.body
    );
}

#[tokio::test]
async fn an_account_that_owes_a_step_gets_no_grant_and_keeps_none() {
    let scope = "openid offline_access user/Patient.rs";
    let (clinic, app) = clinic_with_app(scope).await;
    let realm = &clinic.realm;
    let mut browser = Browser::new();
    let params = approve(
        &mut browser,
        realm,
        authorize_url(realm, &app, scope, &[]),
        "doctor@example.org",
        &[],
    )
    .await;
    let (status, tokens) = exchange(realm, &app, &params["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    let code_before = {
        let page = browser.get(authorize_url(realm, &app, scope, &[])).await;
        browser
            .submit(
                realm,
                &page,
                "/oauth2/authorize/consent",
                &[("decision", "allow")],
            )
            .await
            .redirect_params()["code"]
            .clone()
    };
    // The password turns out to be breached: until it is changed, nothing more is granted.
    realm
        .sql(&["UPDATE users SET password_change_required = 1 WHERE email = 'doctor@example.org'"])
        .await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        realm,
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = exchange(realm, &app, &code_before).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Signing in again opens no SSO session, and a forged consent post gets no code.
    let mut fresh = Browser::new();
    let page = fresh.get(authorize_url(realm, &app, scope, &[])).await;
    let refused = fresh.sign_in(realm, &page, "doctor@example.org").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(!fresh.cookies.keys().any(|k| k.contains("medvault_sso")));
    let consent = browser.get(authorize_url(realm, &app, scope, &[])).await;
    assert_eq!(consent.status, 403, "{}", consent.body);
}
