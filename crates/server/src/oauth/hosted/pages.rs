//! The hosted pages, rendered on the server: sign-in, second factor, consent, sign-out and
//! errors. They hold no PHI, carry a CSRF token in every form, and run under a strict
//! Content-Security-Policy: no inline script or style, only the static files below.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::oauth::scopes::{Context, ResourceScope, Scope};

pub const STYLESHEET: &str = include_str!("assets/pages.css");
pub const SIGN_IN_SCRIPT: &str = include_str!("assets/sign-in.js");
pub const PASSKEY_SCRIPT: &str = include_str!("assets/passkey.js");

/// The pages' policy: their own scripts, styles and forms only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Escapes text for HTML content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page to send: its status, title and body, the cookies it sets, and where it moves on
/// to by itself (a meta refresh).
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub body: String,
    pub cookies: Vec<String>,
    pub refresh: Option<String>,
}

impl Page {
    pub fn new(status: StatusCode, title: &str, body: String) -> Self {
        Self {
            status,
            title: title.to_owned(),
            body,
            cookies: Vec::new(),
            refresh: None,
        }
    }

    pub fn with_cookie(mut self, cookie: Option<String>) -> Self {
        self.cookies.extend(cookie);
        self
    }

    /// The page a form's answer that goes back to an app: it moves on by itself, with a
    /// link as well. A form's own redirect to the app would fall under CSP `form-action`,
    /// which cannot name every app (an IPv6 loopback, a callback that redirects onward);
    /// a page's navigation does not, so the pages keep `form-action 'self'`.
    pub fn returning_to(location: &str) -> Self {
        let body = format!(
            "<p>Returning to the app…</p><p><a href=\"{}\">Continue</a></p>",
            escape(location)
        );
        Self {
            refresh: Some(location.to_owned()),
            ..Self::new(StatusCode::OK, "Returning to the app", body)
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · medvault</title>{refresh}\
             <link rel=\"stylesheet\" href=\"/oauth2/assets/pages.css\"></head>\
             <body><main><h1>{title}</h1>{body}</main></body></html>\n",
            title = escape(&self.title),
            body = self.body,
            refresh = self.refresh.as_deref().map_or(String::new(), |to| format!(
                "<meta http-equiv=\"refresh\" content=\"0; url={}\">",
                escape(to)
            )),
        );
        let mut response = (self.status, html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        for cookie in self.cookies {
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                headers.append(SET_COOKIE, cookie);
            }
        }
        response
    }
}

/// A static asset of the pages, cacheable for an hour.
pub fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        escape(value)
    )
}

fn alert(error: Option<&str>) -> String {
    error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))
    })
}

/// A form posting to `action` with the CSRF token and the authorization request.
fn form(action: &str, csrf: &str, request: &str, fields: &str, id: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" id=\"{id}\">{}{}{fields}</form>",
        hidden("csrf", csrf),
        hidden("request", request),
    )
}

/// A proof-of-work challenge the sign-in script solves before the form is sent.
pub struct ChallengeFields<'a> {
    pub token: &'a str,
    pub prefix: &'a str,
    pub difficulty: u8,
}

pub fn sign_in(
    client_name: &str,
    csrf: &str,
    request: &str,
    email: &str,
    error: Option<&str>,
    challenge: Option<ChallengeFields<'_>>,
) -> String {
    let challenge = challenge.map_or(String::new(), |c| {
        format!(
            "{}{}{}{}<p class=\"note\">A short check that you are not a bot runs when you sign in.</p>",
            hidden("challenge_token", c.token),
            hidden("challenge_prefix", c.prefix),
            hidden("challenge_difficulty", &c.difficulty.to_string()),
            hidden("challenge_solution", ""),
        )
    });
    let fields = format!(
        "{alert}<p>Sign in to continue to <strong>{client}</strong>.</p>\
         <label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         {challenge}<button type=\"submit\">Sign in</button>",
        alert = alert(error),
        client = escape(client_name),
        email = escape(email),
    );
    form("/oauth2/authorize/login", csrf, request, &fields, "sign-in")
        + "<script src=\"/oauth2/assets/sign-in.js\"></script>"
}

/// The second step: a code, or the user's passkey (`passkey.js` runs the ceremony).
pub fn second_factor(
    csrf: &str,
    request: &str,
    mfa_token: &str,
    offer_passkey: bool,
    error: Option<&str>,
) -> String {
    let passkey = if offer_passkey {
        format!(
            "{}{}<p>Or use the passkey on this device or your security key.</p>\
             <button type=\"button\" id=\"use-passkey\" class=\"secondary\">Use a passkey</button>",
            hidden("passkey", ""),
            hidden("passkey_offered", "yes"),
        )
    } else {
        String::new()
    };
    let fields = format!(
        "{alert}<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>\
         {token}<label for=\"code\">Code</label>\
         <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>\
         <button type=\"submit\">Verify</button>{passkey}",
        alert = alert(error),
        token = hidden("mfa_token", mfa_token),
    );
    let script = if offer_passkey {
        "<script src=\"/oauth2/assets/passkey.js\"></script>"
    } else {
        ""
    };
    form(
        "/oauth2/authorize/mfa",
        csrf,
        request,
        &fields,
        "second-factor",
    ) + script
}

pub fn consent(
    client_name: &str,
    csrf: &str,
    request: &str,
    scopes: &[Scope],
    choose_patient: bool,
    error: Option<&str>,
) -> String {
    let items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", escape(&describe(s))))
        .collect();
    let patient = if choose_patient {
        "<label for=\"patient\">Patient ID</label>\
         <input id=\"patient\" name=\"patient\" required autocomplete=\"off\" \
         aria-describedby=\"patient-help\">\
         <p id=\"patient-help\" class=\"note\">The id of the Patient record the app will work with.</p>"
    } else {
        ""
    };
    let fields = format!(
        "{alert}<p><strong>{client}</strong> asks to:</p><ul>{items}</ul>{patient}\
         <p><input id=\"remember\" name=\"remember\" type=\"checkbox\" value=\"yes\">\
         <label for=\"remember\" class=\"inline\">Remember this decision for this app</label></p>\
         <div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></div>",
        alert = alert(error),
        client = escape(client_name),
    );
    form(
        "/oauth2/authorize/consent",
        csrf,
        request,
        &fields,
        "consent",
    )
}

pub fn message(text: &str) -> String {
    format!("<p>{}</p>", escape(text))
}

pub fn sign_out(csrf: &str, params: &[(&str, &str)]) -> String {
    let hidden_fields: String = params
        .iter()
        .map(|(name, value)| hidden(name, value))
        .collect();
    format!(
        "<form method=\"post\" action=\"/oauth2/logout\" id=\"sign-out\">{}{hidden_fields}\
         <p>Sign out of medvault on this device? Every app you signed into here loses access.</p>\
         <button type=\"submit\">Sign out</button></form>",
        hidden("csrf", csrf),
    )
}

/// A scope in plain words, for the consent page.
pub fn describe(scope: &Scope) -> String {
    match scope {
        Scope::Other("openid") => "Confirm who you are".into(),
        Scope::Other("fhirUser") => "Know which person you are in the health record".into(),
        Scope::Other("profile") => "See your basic profile".into(),
        Scope::Other("launch/patient") => "Work with one patient's record".into(),
        Scope::Other("offline_access") => {
            "Keep access after you close the app, until you sign out or revoke it".into()
        }
        Scope::Other("online_access") => "Keep access while you stay signed in".into(),
        Scope::Other(other) => (*other).to_owned(),
        Scope::Resource(r) => describe_resource(r),
    }
}

fn describe_resource(scope: &ResourceScope) -> String {
    const VERBS: [&str; 5] = ["create", "read", "update", "delete", "search"];
    let verbs: Vec<&str> = VERBS
        .iter()
        .zip(scope.permissions)
        .filter(|(_, on)| *on)
        .map(|(verb, _)| *verb)
        .collect();
    let what = scope
        .resource
        .map_or("all kinds of".to_owned(), |r| r.as_str().to_owned());
    let whose = match scope.context {
        Context::Patient => "in the chosen patient's record",
        Context::User => "in every record you may see",
        Context::System => "in every record",
    };
    let mut verbs = verbs.join(", ");
    if let Some(first) = verbs.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{verbs} {what} data {whose}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_scopes_read_plainly() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let scope: Scope = "patient/Observation.rs".parse().unwrap();
        assert_eq!(
            describe(&scope),
            "Read, search Observation data in the chosen patient's record"
        );
        let scope: Scope = "user/*.cruds".parse().unwrap();
        assert_eq!(
            describe(&scope),
            "Create, read, update, delete, search all kinds of data in every record you may see"
        );
    }
}
