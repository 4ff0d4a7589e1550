//! `GET /oauth2/authorize`: the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636,
//! OpenID Connect Core §3.1.2), through the hosted sign-in, second-factor and consent
//! pages. The authorization request rides along in each form and is checked again at
//! every step, so nothing a browser sends is trusted twice.

use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use medvault_crypto::password::Password;
use medvault_crypto::OpaqueToken;
use medvault_domain::{Compartment, PatientId, ResourceType, Session, SessionId, User, UserId};
use medvault_store::{AuthorizationCode, OAuthClient};
use serde::{Deserialize, Serialize};

use super::pages::{self, Page};
use super::sso;
use crate::clock::now;
use crate::http::RequestContext;
use crate::identity::sessions::{self, ChallengeAnswer, PasswordChecked};
use crate::identity::tokens::Standing;
use crate::mfa::factors::Answer;
use crate::oauth::scopes::{self, Scope};
use crate::oauth::token::{param, registered};
use crate::protect::ClientIp;
use crate::{ApiError, AppState};

/// How long a code lives (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL_SECS: i64 = 60;

/// A checked authorization request.
pub struct AuthRequest {
    /// The query string as received, carried through the pages.
    raw: String,
    pub client: OAuthClient,
    redirect_uri: String,
    redirect_given: bool,
    state: Option<String>,
    nonce: Option<String>,
    scopes: Vec<Scope>,
    challenge: String,
    prompt: Vec<String>,
    max_age: Option<i64>,
}

impl AuthRequest {
    fn asks(&self, scope: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| matches!(s, Scope::Other(o) if *o == scope))
    }

    fn scope(&self) -> String {
        self.scopes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// An authorization response to the client's registered redirect URI (RFC 9207 `iss`
    /// included, so a client can tell which server answered).
    fn respond(&self, state: &AppState, params: Vec<(&str, String)>) -> Response {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &params {
            query.append_pair(name, value);
        }
        if let Some(s) = &self.state {
            query.append_pair("state", s);
        }
        query.append_pair("iss", &state.identity.config.issuer);
        let separator = if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!("{}{separator}{}", self.redirect_uri, query.finish());
        see_other(&location)
    }

    fn error(&self, state: &AppState, code: &str, description: &str) -> Response {
        self.respond(
            state,
            vec![
                ("error", code.to_owned()),
                ("error_description", description.to_owned()),
            ],
        )
    }

    /// Whether a silent answer (SSO and remembered consent, no page) is safe: the client
    /// proves who it is, or it is reached at an https address. Anyone's app can claim a
    /// public client's loopback port or private-use scheme (RFC 8252 §8.6).
    fn identity_assured(&self) -> bool {
        self.client.token_endpoint_auth_method != "none"
            || self.redirect_uri.starts_with("https://")
    }
}

pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(LOCATION, value)]).into_response(),
        Err(_) => error_page(StatusCode::BAD_REQUEST, "The app's address cannot be used."),
    }
}

/// A form's answer: a redirect back to the app becomes a page that moves on by itself
/// (see [`Page::returning_to`]); redirects within medvault stay redirects.
pub fn from_a_form(response: Response) -> Response {
    let to_app = response.status() == StatusCode::SEE_OTHER
        && response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| !l.starts_with('/'));
    if !to_app {
        return response;
    }
    let location = response.headers()[LOCATION]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let mut page = Page::returning_to(&location).into_response();
    // Cookies set on the way (the SSO session) still apply.
    for cookie in response.headers().get_all(SET_COOKIE) {
        page.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    page
}

pub fn error_page(status: StatusCode, text: &str) -> Response {
    let title = if status.is_server_error() {
        "Something went wrong"
    } else {
        "This request cannot be completed"
    };
    Page::new(status, title, pages::message(text)).into_response()
}

/// An internal failure as a page; the cause is logged with the request, never shown.
fn failure_page(err: ApiError) -> Response {
    match err {
        ApiError::TooManyAttempts { .. } => error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts from this network. Wait a few minutes and try again.",
        ),
        other => {
            tracing::error!(error = %other, "a hosted page failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "medvault could not complete this step. Go back to the app and try again.",
            )
        }
    }
}

/// An error sent back to the client (RFC 6749 §4.1.2.1): its code and description. Where
/// the client or its redirect URI cannot be trusted, an error page is shown instead, never
/// a redirect to an unregistered URI.
struct Refusal(&'static str, String);

fn is_code_challenge(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Checks an authorization request. `Ok(Err(..))` when the client and redirect URI are
/// sound but the rest is not: the error then goes back to the client.
async fn parse(
    state: &AppState,
    raw: &str,
) -> Result<Result<AuthRequest, (AuthRequest, Refusal)>, &'static str> {
    let params: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let client_id = param(&params, "client_id")
        .ok()
        .flatten()
        .ok_or("The request does not name a registered app.")?;
    let client = registered(state, client_id)
        .await
        .map_err(|_| "medvault could not look up the app. Try again later.")?
        .ok_or("The request does not name a registered app.")?;
    let given =
        param(&params, "redirect_uri").map_err(|_| "The app sent its return address twice.")?;
    let redirect_uri = match given {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        _ => return Err("The app sent a return address it has not registered with medvault."),
    };
    let mut request = AuthRequest {
        raw: raw.to_owned(),
        redirect_given: given.is_some(),
        client,
        redirect_uri,
        state: None,
        nonce: None,
        scopes: Vec::new(),
        challenge: String::new(),
        prompt: Vec::new(),
        max_age: None,
    };
    Ok(match check(state, &params, &mut request) {
        Ok(()) => Ok(request),
        Err(refusal) => Err((request, refusal)),
    })
}

fn invalid(description: impl Into<String>) -> Refusal {
    Refusal("invalid_request", description.into())
}

/// The rest of the request, once its client and redirect URI are known.
fn check(
    state: &AppState,
    params: &[(String, String)],
    request: &mut AuthRequest,
) -> Result<(), Refusal> {
    let one = |name: &str| param(params, name).map_err(|e| invalid(e.description));
    request.state = one("state")?.map(str::to_owned);
    match one("response_type")? {
        Some("code") => {}
        Some(_) => {
            return Err(Refusal(
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            ))
        }
        None => return Err(invalid("response_type is required")),
    }
    if !request
        .client
        .grant_types
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err(Refusal(
            "unauthorized_client",
            "this client is not registered for authorization_code".into(),
        ));
    }
    if one("request")?.is_some() {
        return Err(Refusal(
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if one("request_uri")?.is_some() {
        return Err(Refusal(
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    if one("response_mode")?.is_some_and(|m| m != "query") {
        return Err(invalid("only response_mode=query is supported"));
    }
    match one("code_challenge_method")? {
        Some("S256") => {}
        Some(_) => {
            return Err(invalid(
                "code_challenge_method must be S256 (plain is refused)",
            ))
        }
        None => {
            return Err(invalid(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ))
        }
    }
    request.challenge = one("code_challenge")?
        .filter(|c| is_code_challenge(c))
        .ok_or_else(|| invalid("code_challenge must be 43 to 128 characters of base64url"))?
        .to_owned();
    let asked = one("scope")?.unwrap_or_default();
    let scopes = scopes::parse_all(asked).map_err(|e| Refusal("invalid_scope", e))?;
    let allowed = scopes::parse_all(&request.client.scope).unwrap_or_default();
    for scope in &scopes {
        if scope.is_system() || !allowed.iter().any(|a| a.covers(scope)) {
            return Err(Refusal(
                "invalid_scope",
                format!("{scope} is more than this client may ask for"),
            ));
        }
        if !request.scopes.contains(scope) {
            request.scopes.push(scope.clone());
        }
    }
    if request.scopes.is_empty() {
        return Err(Refusal("invalid_scope", "scope is required".into()));
    }
    // SMART: `aud` names the FHIR server the token is for; only ours can be.
    if let Some(aud) = one("aud")? {
        if aud.trim_end_matches('/') != state.fhir.base.trim_end_matches('/') {
            return Err(invalid("aud is not this FHIR server"));
        }
    }
    request.nonce = one("nonce")?.map(str::to_owned);
    request.prompt = one("prompt")?
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if request.prompt.iter().any(|p| p == "none") && request.prompt.len() > 1 {
        return Err(invalid("prompt=none cannot be combined"));
    }
    request.max_age = one("max_age")?
        .map(|m| {
            m.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| invalid("max_age must be a number of seconds"))
        })
        .transpose()?;
    Ok(())
}

/// The checked request, or the response that refuses it.
async fn checked(state: &AppState, raw: &str) -> Result<AuthRequest, Response> {
    match parse(state, raw).await {
        Ok(Ok(request)) => Ok(request),
        Ok(Err((request, Refusal(code, description)))) => {
            Err(request.error(state, code, &description))
        }
        Err(text) => Err(error_page(StatusCode::BAD_REQUEST, text)),
    }
}

fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    challenge: Option<&serde_json::Value>,
) -> Response {
    let (csrf, cookie) = sso::csrf(state, headers);
    let challenge = challenge.and_then(|c| {
        Some(pages::ChallengeFields {
            token: c["token"].as_str()?,
            prefix: c["prefix"].as_str()?,
            difficulty: u8::try_from(c["difficulty"].as_u64()?).ok()?,
        })
    });
    let body = pages::sign_in(
        &request.client.client_name,
        &csrf,
        &request.raw,
        email,
        error,
        challenge,
    );
    Page::new(status, "Sign in", body)
        .with_cookie(cookie)
        .into_response()
}

/// `GET /oauth2/authorize`: straight on when the browser's SSO session (and a remembered
/// consent) suffice, otherwise the sign-in page.
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oauth", responses(
    (status = 200, description = "The hosted sign-in or consent page (HTML)"),
    (status = 303, description = "The authorization response at the client's redirect URI"),
    (status = 400, description = "An error page: unknown client or unregistered redirect URI"),
))]
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    let request = match checked(&state, &raw).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let signed_in = match signed_in(&state, &headers, &request, false).await {
        Ok(found) => found,
        Err(err) => return failure_page(err),
    };
    match signed_in {
        Some((session, user)) => proceed(&state, &headers, &request, &session, &user)
            .await
            .unwrap_or_else(failure_page),
        None if request.prompt.iter().any(|p| p == "none") => {
            request.error(&state, "login_required", "the user is not signed in")
        }
        None => sign_in_page(&state, &headers, &request, StatusCode::OK, "", None, None),
    }
}

/// The SSO session, unless the request wants a fresher sign-in (`max_age`, or
/// `prompt=login`: before the pages, any sign-in is too old; after them, one in this flow).
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    after_sign_in: bool,
) -> Result<Option<(Session, User)>, ApiError> {
    let fresh_login = request.prompt.iter().any(|p| p == "login");
    if fresh_login && !after_sign_in {
        return Ok(None);
    }
    let found = sso::current(state, headers).await?;
    Ok(found.filter(|(session, _)| {
        let age = now().as_secs() - session.authenticated_at().as_secs();
        request.max_age.is_none_or(|max| age <= max) && (!fresh_login || age <= FLOW_SECS)
    }))
}

/// How long a user may take between signing in and consenting, for `prompt=login`.
const FLOW_SECS: i64 = 10 * 60;

/// Whether the account owes a step before anything may be granted: a breached password to
/// change, or a second factor its role requires.
pub async fn owes_a_step(state: &AppState, user: &User) -> Result<bool, ApiError> {
    let standing = Standing::of(state.store.as_ref(), user.id).await?;
    Ok(standing.password_change_required || state.identity.must_enroll(user, standing))
}

/// The answer to an account that owes a step: a page, or the client's error for
/// `prompt=none` (OIDC Core §3.1.2.6).
fn owed_step(state: &AppState, request: &AuthRequest) -> Response {
    if request.prompt.iter().any(|p| p == "none") {
        return request.error(state, "interaction_required", "the account needs attention");
    }
    error_page(
        StatusCode::FORBIDDEN,
        "Your account needs attention first: change your password or set up a second \
         factor in medvault, then return to the app.",
    )
}

/// After sign-in: refuse accounts that owe a step, then ask consent unless remembered.
async fn proceed(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    session: &Session,
    user: &User,
) -> Result<Response, ApiError> {
    if owes_a_step(state, user).await? {
        return Ok(owed_step(state, request));
    }
    let remembered = state
        .store
        .remembered_consent(user.id, &request.client.client_id)
        .await?
        .unwrap_or_default();
    let remembered: Vec<&str> = remembered.split_whitespace().collect();
    let covered = request
        .scopes
        .iter()
        .all(|s| remembered.contains(&s.to_string().as_str()));
    let choose_patient = request.asks("launch/patient") && user.patient_id.is_none();
    let prompt_consent = request.prompt.iter().any(|p| p == "consent");
    if covered && !prompt_consent && !choose_patient && request.identity_assured() {
        let patient = if request.asks("launch/patient") {
            user.patient_id
        } else {
            None
        };
        return issue_code(state, request, session, user, patient).await;
    }
    if request.prompt.iter().any(|p| p == "none") {
        return Ok(request.error(
            state,
            "consent_required",
            "the user has not approved this app",
        ));
    }
    Ok(consent_page(
        state,
        headers,
        request,
        user,
        StatusCode::OK,
        None,
    ))
}

fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    user: &User,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (csrf, cookie) = sso::csrf(state, headers);
    let choose_patient = request.asks("launch/patient") && user.patient_id.is_none();
    let body = pages::consent(
        &request.client.client_name,
        &csrf,
        &request.raw,
        &request.scopes,
        choose_patient,
        error,
    );
    Page::new(status, "Allow access?", body)
        .with_cookie(cookie)
        .into_response()
}

/// What the token endpoint needs to know about a code (stored with it, opaque to the
/// store).
#[derive(Debug, Serialize, Deserialize)]
pub struct CodeDetails {
    pub redirect_uri: String,
    /// Whether the request named its redirect URI (the token request must then repeat it).
    pub redirect_given: bool,
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub user_id: UserId,
    pub sso_session_id: SessionId,
    pub patient: Option<PatientId>,
}

async fn issue_code(
    state: &AppState,
    request: &AuthRequest,
    session: &Session,
    user: &User,
    patient: Option<PatientId>,
) -> Result<Response, ApiError> {
    let code = OpaqueToken::generate();
    let details = CodeDetails {
        redirect_uri: request.redirect_uri.clone(),
        redirect_given: request.redirect_given,
        code_challenge: request.challenge.clone(),
        scope: request.scope(),
        nonce: request.nonce.clone(),
        user_id: user.id,
        sso_session_id: session.id,
        patient,
    };
    let record = AuthorizationCode {
        digest: code.digest(),
        client_id: request.client.client_id.clone(),
        details: serde_json::to_string(&details).map_err(ApiError::internal)?,
        expires_at: now().plus_secs(CODE_TTL_SECS),
    };
    state.store.insert_authorization_code(&record).await?;
    Ok(request.respond(state, vec![("code", code.expose().to_owned())]))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// The fields every hosted form carries.
#[derive(Deserialize)]
pub struct Carried {
    csrf: String,
    request: String,
}

/// The form, its CSRF token checked and its authorization request checked again.
async fn submitted<F: AsRef<Carried>>(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<F>, FormRejection>,
) -> Result<(F, AuthRequest), Response> {
    let Ok(Form(form)) = form else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "The form was incomplete.",
        ));
    };
    if !sso::csrf_matches(state, headers, &form.as_ref().csrf) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from medvault. Go back to the app and start again.",
        ));
    }
    let request = checked(state, &form.as_ref().request).await?;
    Ok((form, request))
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(flatten)]
    carried: Carried,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    challenge_token: Option<String>,
    challenge_solution: Option<String>,
}

impl AsRef<Carried> for SignInForm {
    fn as_ref(&self) -> &Carried {
        &self.carried
    }
}

/// `POST /oauth2/authorize/login`: the hosted sign-in form.
#[utoipa::path(post, path = "/oauth2/authorize/login", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses((status = 200, description = "The next page (HTML) or a redirect to the client")))]
pub async fn login(
    state: State<AppState>,
    context: RequestContext,
    client_ip: ClientIp,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    from_a_form(sign_in(state, context, client_ip, headers, form).await)
}

async fn sign_in(
    State(state): State<AppState>,
    context: RequestContext,
    client_ip: ClientIp,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let (form, request) = match submitted(&state, &headers, form).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let answer = match (form.challenge_token, form.challenge_solution) {
        (Some(token), Some(solution)) if !solution.is_empty() => {
            Some(ChallengeAnswer { token, solution })
        }
        _ => None,
    };
    let email = form.email.trim().to_owned();
    let checked = sessions::check_password(
        &state,
        &context,
        client_ip,
        &email,
        Password::new(form.password),
        answer,
    )
    .await;
    let again = |status, error: &str, challenge| {
        sign_in_page(
            &state,
            &headers,
            &request,
            status,
            &email,
            Some(error),
            challenge,
        )
    };
    match checked {
        Ok(PasswordChecked::SignedIn(user)) => {
            let amr = vec![crate::mfa::AMR_PASSWORD.to_owned()];
            signed_in_now(&state, &context, &headers, &request, &user, amr).await
        }
        Ok(PasswordChecked::SecondFactor { mfa_token, methods }) => second_factor_page(
            &state,
            &headers,
            &request,
            (mfa_token.expose(), methods.passkeys > 0),
            StatusCode::OK,
            None,
        ),
        Err(ApiError::ChallengeRequired { challenge }) => again(
            StatusCode::OK,
            "Too many recent failed sign-ins: your browser must pass a short check first.",
            Some(&challenge),
        ),
        Err(ApiError::Unauthorized { .. }) => again(
            StatusCode::UNAUTHORIZED,
            "The email or password is not right.",
            None,
        ),
        Err(ApiError::Unprocessable { .. }) => again(
            StatusCode::BAD_REQUEST,
            "Enter your email address and password.",
            None,
        ),
        Err(ApiError::TooManyAttempts { .. }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
            None,
        ),
        Err(other) => failure_page(other),
    }
}

/// The second-factor page for `(mfa_token, whether the user has a passkey)`.
fn second_factor_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    (mfa_token, passkey): (&str, bool),
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (csrf, cookie) = sso::csrf(state, headers);
    let body = pages::second_factor(&csrf, &request.raw, mfa_token, passkey, error);
    Page::new(status, "Verify it's you", body)
        .with_cookie(cookie)
        .into_response()
}

/// Opens the SSO session and carries on with the request.
async fn signed_in_now(
    state: &AppState,
    context: &RequestContext,
    headers: &HeaderMap,
    request: &AuthRequest,
    user: &User,
    amr: Vec<String>,
) -> Response {
    let result = async {
        // No SSO session for an account that owes a step: nothing may be granted in it.
        if owes_a_step(state, user).await? {
            return Ok(owed_step(state, request));
        }
        let (session, cookie) = sso::begin(state, context, headers, user, amr).await?;
        let response = proceed(state, headers, request, &session, user).await?;
        Ok::<_, ApiError>(with_cookie(response, &cookie))
    };
    result.await.unwrap_or_else(failure_page)
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    #[serde(flatten)]
    carried: Carried,
    #[serde(default)]
    mfa_token: String,
    #[serde(default)]
    code: String,
    /// A passkey assertion (`PublicKeyCredential` JSON), from `passkey.js`.
    #[serde(default)]
    passkey: String,
    /// Whether the page offered a passkey (so a retry offers it again).
    passkey_offered: Option<String>,
}

impl AsRef<Carried> for SecondFactorForm {
    fn as_ref(&self) -> &Carried {
        &self.carried
    }
}

/// `POST /oauth2/authorize/mfa`: a TOTP code, a recovery code or a passkey assertion after
/// the password.
#[utoipa::path(post, path = "/oauth2/authorize/mfa", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses((status = 200, description = "The next page (HTML) or a redirect to the client")))]
pub async fn second_factor(
    state: State<AppState>,
    context: RequestContext,
    client_ip: ClientIp,
    headers: HeaderMap,
    form: Result<Form<SecondFactorForm>, FormRejection>,
) -> Response {
    from_a_form(verify_second_factor(state, context, client_ip, headers, form).await)
}

async fn verify_second_factor(
    State(state): State<AppState>,
    context: RequestContext,
    client_ip: ClientIp,
    headers: HeaderMap,
    form: Result<Form<SecondFactorForm>, FormRejection>,
) -> Response {
    let (form, request) = match submitted(&state, &headers, form).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let presented = OpaqueToken::presented(form.mfa_token.clone());
    let offered = form.passkey_offered.as_deref() == Some("yes");
    let again = |status, error| {
        let token = (form.mfa_token.as_str(), offered);
        second_factor_page(&state, &headers, &request, token, status, Some(error))
    };
    let code = form.code.trim().to_owned();
    let answer = if !form.passkey.is_empty() {
        match serde_json::from_str(&form.passkey) {
            Ok(credential) => Answer::Passkey(crate::mfa::webauthn::Assertion {
                ceremony: presented.digest(),
                kind: medvault_store::CeremonyKind::SignIn,
                session: None,
                credential: Box::new(credential),
            }),
            Err(_) => {
                return again(
                    StatusCode::BAD_REQUEST,
                    "The passkey's answer was malformed. Try again.",
                )
            }
        }
    } else if code.bytes().all(|b| b.is_ascii_digit()) {
        // Authenticator codes are digits; recovery codes are not.
        Answer::Code(code)
    } else {
        Answer::RecoveryCode(code)
    };
    match crate::mfa::signin::verify(&state, &context, client_ip, presented, answer).await {
        Ok((user, amr)) => signed_in_now(&state, &context, &headers, &request, &user, amr).await,
        Err(ApiError::Unauthorized {
            code: "invalid_code",
            ..
        }) => again(StatusCode::UNAUTHORIZED, "That did not verify. Try again."),
        Err(ApiError::Unauthorized { .. }) => sign_in_page(
            &state,
            &headers,
            &request,
            StatusCode::UNAUTHORIZED,
            "",
            Some("That took too long or failed too often. Sign in again."),
            None,
        ),
        Err(other) => failure_page(other),
    }
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(flatten)]
    carried: Carried,
    #[serde(default)]
    decision: String,
    remember: Option<String>,
    patient: Option<String>,
}

impl AsRef<Carried> for ConsentForm {
    fn as_ref(&self) -> &Carried {
        &self.carried
    }
}

/// `POST /oauth2/authorize/consent`: the user allows or denies the app.
#[utoipa::path(post, path = "/oauth2/authorize/consent", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses((status = 303, description = "The authorization response at the client's redirect URI")))]
pub async fn consent(
    state: State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    from_a_form(decide_consent(state, context, headers, form).await)
}

async fn decide_consent(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    let (form, request) = match submitted(&state, &headers, form).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let result = async {
        let fresh = signed_in(&state, &headers, &request, true).await?;
        let Some((session, user)) = fresh else {
            return Ok(sign_in_page(
                &state,
                &headers,
                &request,
                StatusCode::UNAUTHORIZED,
                "",
                Some("Your session has ended. Sign in again."),
                None,
            ));
        };
        if owes_a_step(&state, &user).await? {
            return Ok(owed_step(&state, &request));
        }
        let allowed = form.decision == "allow";
        record_consent(&state, &context, &user, &session, &request, allowed).await?;
        if !allowed {
            return Ok(request.error(&state, "access_denied", "the user denied access"));
        }
        let patient =
            if !request.asks("launch/patient") {
                None
            } else if let Some(own) = user.patient_id {
                Some(own)
            } else {
                let chosen = form.patient.as_deref().map(str::trim).unwrap_or_default();
                match may_open(&state, &context, &user, &session, chosen).await? {
                    Some(patient) => Some(patient),
                    None => return Ok(consent_page(
                        &state,
                        &headers,
                        &request,
                        &user,
                        StatusCode::FORBIDDEN,
                        Some("You may not open that patient's record, or there is no such record."),
                    )),
                }
            };
        if form.remember.as_deref() == Some("yes") {
            state
                .store
                .remember_consent(user.id, &request.client.client_id, &request.scope(), now())
                .await?;
        }
        issue_code(&state, &request, &session, &user, patient).await
    };
    result.await.unwrap_or_else(failure_page)
}

/// The user's answer on the consent page, as `oauth.consent` about the client (success:
/// allowed; denied: denied).
async fn record_consent(
    state: &AppState,
    context: &RequestContext,
    user: &User,
    session: &Session,
    request: &AuthRequest,
    allowed: bool,
) -> Result<(), ApiError> {
    let outcome = if allowed {
        medvault_domain::Outcome::Success
    } else {
        medvault_domain::Outcome::Denied
    };
    let actor = medvault_domain::Actor::User {
        id: user.id,
        roles: user.roles.iter().collect(),
    };
    let event = crate::audit::event(
        context,
        actor,
        medvault_domain::AuditAction::OAuthConsent,
        outcome,
    );
    let event = crate::audit::about(
        crate::audit::with_session(event, session.id),
        "OAuthClient",
        &request.client.client_id,
    );
    crate::audit::record(&state.audit, event).await
}

/// The Patient a clinician chose on the consent page, if the policies let them read it
/// (the decision is audited like any other). A failure of the gate itself is an error,
/// not a refusal.
async fn may_open(
    state: &AppState,
    context: &RequestContext,
    user: &User,
    session: &Session,
    chosen: &str,
) -> Result<Option<PatientId>, ApiError> {
    let Ok(patient) = chosen.parse::<PatientId>() else {
        return Ok(None);
    };
    let id = medvault_domain::FhirId::from(patient);
    let who =
        crate::fhir::gate::access::Accessor::from(crate::identity::Principal::of(user, session));
    let caller = crate::fhir::gate::Caller { who: &who, context };
    let decided = state
        .fhir
        .gate
        .authorize_read(
            caller,
            ResourceType::Patient,
            &id,
            Compartment::Patient(patient),
            None,
        )
        .await;
    match decided {
        Ok(_) => Ok(Some(patient)),
        Err(outcome) if outcome.status().is_server_error() => Err(outcome.into()),
        Err(_) => Ok(None),
    }
}
