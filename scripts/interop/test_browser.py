"""A real browser against a live medvault: Debian's headless chromium, driven by Selenium
through Debian's chromedriver, on the hosted pages as they are served, under their own
Content-Security-Policy (script-src 'self', form-action 'self': a form's answer returns to
the app through a page that moves on by itself, not through a redirect of the form).

- sign-in, consent and the way back to the client: the browser really lands on the client's
  loopback redirect URI, where a small HTTP server of this test records the callback
  (code, state, iss); the code is then exchanged; no CSP violation in the console;
- the proof-of-work challenge: after failed passwords the sign-in page asks for one, and
  `/oauth2/assets/sign-in.js` must solve it in the browser for the sign-in to go on;
- a passkey as second factor, with Chrome's virtual authenticator: registered from the
  browser (`navigator.credentials.create` and the JSON API), then offered by the
  second-factor page, where `/oauth2/assets/passkey.js` runs `navigator.credentials.get`
  (once refused by the authenticator, then again);
- redirects the CSP must not stop either: a callback that sends the browser on to another
  origin (a native app's "you may close this window" page), and a redirect URI at the IPv6
  loopback address (http://[::1]:PORT, which medvault registers).

The browser opens the server as http://localhost:PORT (the issuer): a secure context, and
the WebAuthn relying party id medvault derives from its public URL."""

import base64
import hashlib
import json
import os
import queue
import secrets
import shutil
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import (Protocol, Transport,
                                                             VirtualAuthenticatorOptions)
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from interop_common import TIMEOUT, Report, expect, expect_all, expect_equal, load_env

ENV = load_env()
ISSUER = ENV["issuer"]
CLIENT = ENV["clients"]["browser"]["public"]
IPV6_CLIENT = ENV["clients"]["browser"].get("ipv6")  # none where the machine has no ::1
PATIENT = ENV["patient"]
USERS = ENV["browser_users"]
SCOPE = "openid fhirUser offline_access launch/patient patient/*.rs"
PLAIN_SCOPE = "openid profile"  # for users linked to no Patient
WAIT = 15  # seconds, at most, for anything the browser does
report = Report("browser")
state = {}


# ---------------------------------------------------------------- the client's side

class _LoopbackServer(ThreadingHTTPServer):
    """An HTTP server on a loopback address, IPv4 or IPv6, that asks no name server who
    it is (HTTPServer.server_bind would look the address up: a reverse DNS query for ::1)."""

    def __init__(self, address, handler):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Callback:
    """The client's redirect URI, really listened on: records each callback's query."""

    def __init__(self, redirect_uri):
        self.redirect_uri = redirect_uri
        parts = urlsplit(redirect_uri)
        self.path = parts.path
        self.received = queue.Queue()
        # Where the callback sends the browser on (302), if anywhere, and the Host of each
        # request that arrived there (this same server answers /onward: another origin
        # when it is reached as localhost rather than 127.0.0.1).
        self.onward = None
        self.arrived = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                if url.path == "/onward":
                    outer.arrived.put(self.headers.get("Host"))
                elif url.path != outer.path:
                    self.send_error(404)
                    return
                else:
                    outer.received.put(parse_qs(url.query))
                    if outer.onward:
                        self.send_response(302)
                        self.send_header("Location", outer.onward)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                body = b"<!doctype html><title>interop callback</title><p>back at the client</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = _LoopbackServer((parts.hostname, parts.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=WAIT, blocked=lambda: None):
        """The query of the next callback, waiting at most `timeout` seconds, or less when
        `blocked()` tells why the browser will not come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.received.get(timeout=0.25)
            except queue.Empty:
                reason = blocked()
                if reason:
                    raise AssertionError(f"the browser did not go on to {self.redirect_uri}: "
                                         f"{reason}") from None
        raise AssertionError(f"the browser never reached {self.redirect_uri} "
                             f"within {timeout} s") from None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def authorization(scope, client=CLIENT):
    """An authorization request (PKCE S256, state, nonce): (url, state, verifier, nonce)."""
    verifier = secrets.token_urlsafe(48)
    sent_state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uri"],
        "scope": scope,
        "state": sent_state,
        "nonce": nonce,
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    endpoint = state["metadata"]["authorization_endpoint"]
    expect(endpoint.startswith(ISSUER + "/"),
           f"authorization_endpoint {endpoint} is not on {ISSUER}")
    return f"{endpoint}?{urlencode(params)}", sent_state, verifier, nonce


def claims_of(jwt):
    """A JWT's claims, unverified (the library tests check signatures against the JWKS)."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def exchange(code, verifier, client=CLIENT):
    response = requests.post(state["metadata"]["token_endpoint"], timeout=TIMEOUT, data={
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client["redirect_uri"],
        "client_id": client["client_id"],
        "code_verifier": verifier,
    })
    expect_equal(response.status_code, 200, f"token endpoint status ({response.text[:200]})")
    token = response.json()
    for field in ("access_token", "id_token"):
        expect(field in token, f"token response lacks {field}: {sorted(token)}")
    return token


def checked_callback(callback, sent_state, console):
    """The callback's code, after checking its state and RFC 9207 iss."""
    def blocked():
        # A CSP `form-action` that leaves out the client's origin stops the browser here.
        refused = [p for p in console.problems() if "form-action" in p]
        return f"console: {refused}" if refused else None

    try:
        query = callback.next(blocked=blocked)
    except AssertionError as err:
        said = "" if blocked() else f"; console: {console.problems() or 'nothing'}"
        raise AssertionError(f"{err}; the browser is at {console.driver.current_url}{said}"
                             ) from None
    expect("error" not in query, f"the client got an error: {query}")
    expect_all((len(query.get("code", [])), 1, "code"),
               (query.get("state"), [sent_state], "state"),
               (query.get("iss"), [ISSUER], "RFC 9207 iss"))
    return query["code"][0]


# ---------------------------------------------------------------- the browser

def start_browser():
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    expect(chromium and chromedriver, "chromium or chromedriver is not on PATH "
                                      "(Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1024,768", "--no-first-run", "--disable-extensions",
                     # The browser reaches this machine's loopback servers and nothing else:
                     # no other name or address resolves, so Chromium's own calls home
                     # (updates, sign-in, autofill, leak checks) never leave it, nor ask a
                     # name server. Fewer of them start, too.
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, "
                     "EXCLUDE 127.0.0.1, EXCLUDE [::1], EXCLUDE ::1",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-pings", "--disable-domain-reliability",
                     "--disable-client-side-phishing-detection",
                     "--disable-features=AutofillServerCommunication,PasswordLeakDetection,"
                     "NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
                     "--password-store=basic"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "credentials_enable_service": False, "profile.password_manager_enabled": False,
        "profile.password_manager_leak_detection": False, "autofill.profile_enabled": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Both paths given: Selenium Manager (which would download a driver) is not asked.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


class Console:
    """The browser's console, read as the test goes (chromedriver hands each entry out
    once): every entry kept, CSP violations and uncaught script errors picked out."""

    def __init__(self, driver):
        self.driver = driver
        self.entries = []
        self.checked = 0  # entries before this one were looked at by a check already

    def read(self):
        self.entries.extend(self.driver.get_log("browser"))
        return self.entries[self.checked:]

    def problems(self):
        """The CSP violations and uncaught errors since the last check."""
        return [e["message"] for e in self.read()
                if "content security policy" in e["message"].lower()
                or "uncaught" in e["message"].lower()]

    def begin(self):
        """A flow starts: what came before was some other flow's."""
        self.read()
        self.checked = len(self.entries)

    def check(self):
        """A flow's closing check: nothing wrong in the console since the last one."""
        problems = self.problems()
        if os.environ.get("MEDVAULT_INTEROP_VERBOSE"):
            for entry in self.entries[self.checked:]:
                print(f"       console {entry['level']}: {entry['message']}")
        self.checked = len(self.entries)
        expect(not problems, f"the console says: {problems}")


def wait(driver, condition, what, timeout=WAIT):
    # While a page is being replaced chromedriver may fail a look-up in passing (a stale
    # element, "Node with given id does not belong to the document"): asked again.
    try:
        return WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)
                             ).until(condition)
    except TimeoutException:
        raise AssertionError(f"{what}: not within {timeout} s; the browser is at "
                             f"{driver.current_url} ({heading(driver)!r}: "
                             f"{page_says(driver)})") from None


def heading(driver):
    found = driver.find_elements(By.TAG_NAME, "h1")
    return found[0].text if found else None


def page_says(driver, limit=200):
    found = driver.find_elements(By.TAG_NAME, "main")
    text = found[0].text if found else driver.find_element(By.TAG_NAME, "body").text
    return " ".join(text.split())[:limit]


def on_page(title):
    """The hosted page whose heading is `title` has loaded (and its scripts have run:
    `readyState` is complete once the deferred work of the parser is done)."""
    def loaded(driver):
        return (driver.execute_script("return document.readyState") == "complete"
                and heading(driver) == title)
    return loaded


def field(driver, label):
    """The input a <label> names, found the way a person finds it: by the label's text."""
    found = driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
    return driver.find_element(By.ID, found.get_attribute("for"))


def mark_page(driver):
    """Marks the current document, so that `page_replaced` tells when another one is there."""
    driver.execute_script("window.interopOldPage = true")


def page_replaced(driver):
    return driver.execute_script("return window.interopOldPage !== true")


def submit_and_wait(driver, button, what, condition):
    """Clicks `button` and waits for the page it sent to be replaced, then for `condition`."""
    mark_page(driver)
    button.click()
    wait(driver, page_replaced, f"{what}: the page did not change")
    return wait(driver, condition, what)


def sign_in(driver, email, password):
    field(driver, "Email").clear()
    field(driver, "Email").send_keys(email)
    field(driver, "Password").send_keys(password)
    return driver.find_element(By.CSS_SELECTOR, "form#sign-in button[type=submit]")


def fresh_start(driver):
    """No SSO session: the cookies of the server's origin are dropped."""
    driver.get(f"{ISSUER}/healthz")
    driver.delete_all_cookies()


def allow(driver, console, callback, sent_state):
    button = driver.find_element(By.XPATH, "//form[@id='consent']//button[@value='allow']")
    expect_equal(button.text, "Allow", "the consent page's button")
    button.click()
    return checked_callback(callback, sent_state, console)


# ---------------------------------------------------------------- the flows

def discovery():
    with report.step("discovery: authorization and token endpoints"):
        response = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=TIMEOUT)
        response.raise_for_status()
        state["metadata"] = response.json()
        expect_equal(state["metadata"]["issuer"], ISSUER, "issuer")


def sign_in_consent_redirect(driver, console, callback):
    console.begin()
    url, sent_state, verifier, nonce = authorization(SCOPE)
    with report.step("the authorization URL shows the sign-in page, its stylesheet applied"):
        driver.get(url)
        wait(driver, on_page("Sign in"), "the sign-in page")
        expect_equal(driver.title, "Sign in · medvault", "title")
        # pages.css sets main's max-width to 26rem: proof that `style-src 'self'` let it in.
        width = driver.execute_script(
            "return getComputedStyle(document.querySelector('main')).maxWidth")
        expect_equal(width, "416px", "main's max-width from /oauth2/assets/pages.css")
        csp = requests.get(url, timeout=TIMEOUT).headers.get("Content-Security-Policy", "")
        # Forms post to medvault only; the way back to the app is a page's navigation.
        expect("script-src 'self'" in csp and "form-action 'self';" in csp,
               f"the page's CSP is not what this test is about: {csp!r}")
    with report.step("the sign-in form (filled by its labels) leads to the consent page"):
        button = sign_in(driver, PATIENT["email"], PATIENT["password"])
        submit_and_wait(driver, button, "the consent page", on_page("Allow access?"))
        items = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "form#consent li")]
        expect("Confirm who you are" in items, f"the consent page lists {items}")
    with report.step("Allow: the browser returns to the client; the callback gets code, "
                     "state and iss"):
        code = allow(driver, console, callback, sent_state)
        wait(driver, lambda d: d.current_url.startswith(CLIENT["redirect_uri"] + "?"),
             "the browser's address is the client's callback")
    with report.step("the code from the browser is exchanged (PKCE verifier) for tokens"):
        token = exchange(code, verifier)
        claims = claims_of(token["id_token"])
        expect_all((claims.get("nonce"), nonce, "ID token nonce"),
                   (claims.get("aud") in (CLIENT["client_id"], [CLIENT["client_id"]]), True,
                    "ID token aud names the client"),
                   (token.get("patient"), PATIENT["patient_id"], "SMART patient context"))
    with report.check("no CSP violation or uncaught script error in the browser console"):
        console.check()


def challenge_solved_in_browser(driver, console, callback):
    console.begin()
    user = USERS["challenged"]
    url, sent_state, _, _ = authorization(PLAIN_SCOPE)
    failures = 0
    with report.step("wrong passwords until the sign-in page asks for a proof-of-work challenge"):
        fresh_start(driver)
        driver.get(url)
        wait(driver, on_page("Sign in"), "the sign-in page")
        for _ in range(6):
            if driver.find_elements(By.CSS_SELECTOR, "form#sign-in input[name=challenge_prefix]"):
                break
            button = sign_in(driver, user["email"], "not-the-password-" + secrets.token_hex(4))
            submit_and_wait(driver, button, "the sign-in page again", on_page("Sign in"))
            failures += 1
        hidden = {name: driver.find_elements(By.CSS_SELECTOR,
                                             f"form#sign-in input[type=hidden][name={name}]")
                  for name in ("challenge_token", "challenge_prefix", "challenge_difficulty",
                               "challenge_solution")}
        missing = [name for name, found in hidden.items() if not found]
        expect(not missing, f"after {failures} wrong passwords the sign-in page lacks "
                            f"{missing}: {page_says(driver)}")
        difficulty = int(hidden["challenge_difficulty"][0].get_attribute("value"))
        expect(1 <= difficulty <= 24, f"challenge difficulty {difficulty}")
        expect_equal(hidden["challenge_solution"][0].get_attribute("value"), "",
                     "challenge_solution before sign-in.js ran")
        print(f"       challenge after {failures} submissions, {difficulty} bits")
    with report.step("the right password: sign-in.js solves the challenge in the browser and "
                     "the consent page follows"):
        started = time.monotonic()
        button = sign_in(driver, user["email"], user["password"])
        submit_and_wait(driver, button, "the consent page after the challenge",
                        lambda d: heading(d) in ("Allow access?", "Sign in", "Verify it's you")
                        and d.execute_script("return document.readyState") == "complete"
                        and d.find_elements(By.TAG_NAME, "main"))
        expect_equal(heading(driver), "Allow access?",
                     f"the page after the challenge ({page_says(driver)})")
        print(f"       solved and signed in in {time.monotonic() - started:.1f} s")
    with report.step("Allow: the callback gets a code"):
        allow(driver, console, callback, sent_state)
    with report.check("no CSP violation or uncaught script error in the browser console"):
        console.check()


REGISTER = """
const [token, done] = [arguments[0], arguments[arguments.length - 1]];
const b64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const unb64 = (text) => Uint8Array.from(
  atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const api = (path, body) => fetch(path, {
  method: "POST", body: JSON.stringify(body),
  headers: {"content-type": "application/json", "authorization": "Bearer " + token},
}).then(async (r) => ({status: r.status, body: await r.json().catch(() => null)}));
(async () => {
  const started = await api("/api/v1/me/webauthn/register/start", {});
  if (started.status !== 200) return {step: "start", ...started};
  const options = started.body.publicKey;
  options.challenge = unb64(options.challenge);
  options.user.id = unb64(options.user.id);
  for (const c of options.excludeCredentials || []) c.id = unb64(c.id);
  const credential = await navigator.credentials.create({publicKey: options});
  const finished = await api("/api/v1/me/webauthn/register/finish", {
    ceremony: started.body.ceremony,
    nickname: "interop virtual authenticator",
    credential: {
      id: credential.id, rawId: b64(credential.rawId), type: credential.type,
      response: {
        attestationObject: b64(credential.response.attestationObject),
        clientDataJSON: b64(credential.response.clientDataJSON),
      },
      extensions: {},
    },
  });
  return {step: "finish", origin: location.origin, ...finished};
})().then(done, (error) => done({step: "error", error: String(error)}));
"""


def passkey_second_factor(driver, console, callback):
    console.begin()
    user = USERS["passkey"]
    url, sent_state, verifier, _ = authorization(PLAIN_SCOPE)
    with report.step("Chrome's virtual authenticator (CTAP2, internal, resident keys, "
                     "user verified) is attached"):
        driver.add_virtual_authenticator(VirtualAuthenticatorOptions(
            protocol=Protocol.CTAP2, transport=Transport.INTERNAL, has_resident_key=True,
            has_user_verification=True, is_user_verified=True))
    with report.step("a passkey is registered from the sign-in page (register/start, "
                     "navigator.credentials.create, register/finish)"):
        response = requests.post(f"{ISSUER}/api/v1/auth/login", timeout=TIMEOUT,
                                 json={"email": user["email"], "password": user["password"]})
        expect_equal(response.status_code, 200, f"API sign-in ({response.text[:200]})")
        # A page of the server's origin whose CSP lets it fetch the API: the sign-in page
        # (`connect-src 'self'`). Every other response (API, assets, /healthz) carries
        # `default-src 'none'`, which refuses even a devtools script's fetch.
        fresh_start(driver)
        driver.get(url)
        wait(driver, on_page("Sign in"), "the sign-in page")
        result = driver.execute_async_script(REGISTER, response.json()["access_token"])
        expect_equal(result.get("status"), 201, f"registration ({result})")
        expect_equal(result.get("origin"), ISSUER, "the page's origin")
        stored = driver.get_credentials()
        expect_equal(len(stored), 1, "credentials in the virtual authenticator")
        expect(stored[0].is_resident_credential, "the passkey is not discoverable")
        state["sign_count"] = stored[0].sign_count
    with report.step("after the password the second-factor page offers 'Use a passkey'"):
        button = sign_in(driver, user["email"], user["password"])
        submit_and_wait(driver, button, "the second-factor page", on_page("Verify it's you"))
        passkey = wait(driver, EC.visibility_of_element_located((By.ID, "use-passkey")),
                       "the 'Use a passkey' button (hidden by passkey.js when it cannot run)")
        expect_equal(passkey.text, "Use a passkey", "the button's text")
    with report.step("a passkey check that fails (the authenticator cannot verify the user): "
                     "passkey.js says so and enables the button again"):
        driver.set_user_verified(False)
        passkey.click()
        wait(driver, lambda d: passkey.is_enabled() and passkey.text != "Use a passkey",
             "the button after a failed passkey check")
        expect_all((heading(driver), "Verify it's you", "the page"),
                   (passkey.text, "Passkey failed; try again or enter a code", "the button"))
        driver.set_user_verified(True)
    with report.step("'Use a passkey' again (the ceremony restarts): passkey.js gets the "
                     "authenticator's assertion and the consent page follows"):
        mark_page(driver)
        passkey.click()
        try:
            WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)
                          ).until(page_replaced)
        except TimeoutException:
            raise AssertionError(
                f"the second-factor page stayed; its button says {passkey.text!r}; "
                f"console: {[e['message'] for e in console.read()] or 'nothing'}") from None
        wait(driver, on_page("Allow access?"),
             "the consent page after the passkey")
        stored = driver.get_credentials()
        expect(stored[0].sign_count > state["sign_count"],
               f"the authenticator's counter did not move ({stored[0].sign_count})")
    with report.step("Allow: the callback gets a code; its ID token says a hardware key "
                     "signed in (amr hwk, acr mfa)"):
        code = allow(driver, console, callback, sent_state)
        claims = claims_of(exchange(code, verifier)["id_token"])
        amr = claims.get("amr") or []
        expect("hwk" in amr and "pwd" in amr, f"ID token amr {amr}")
        expect_equal(claims.get("acr"), "urn:medvault:acr:mfa", "ID token acr")
    with report.check("no CSP violation or uncaught script error in the browser console"):
        console.check()


def ipv6_loopback_client(driver, console, callback):
    """medvault registers http://[::1]:PORT redirect URIs; its pages must bring the
    browser back there too. (A CSP host-source cannot spell an IPv6 literal, so a form's
    redirect there could never be allowed by `form-action`.)"""
    console.begin()
    url, sent_state, verifier, _ = authorization(PLAIN_SCOPE, IPV6_CLIENT)
    with report.step("sign-in and consent for a client whose redirect URI is http://[::1]:PORT"):
        fresh_start(driver)
        driver.get(url)
        wait(driver, on_page("Sign in"), "the sign-in page")
        button = sign_in(driver, PATIENT["email"], PATIENT["password"])
        submit_and_wait(driver, button, "the consent page", on_page("Allow access?"))
    with report.step("Allow: the browser returns to [::1]; the callback gets a code"):
        code = allow(driver, console, callback, sent_state)
        exchange(code, verifier, IPV6_CLIENT)
    with report.check("no CSP violation or uncaught script error in the browser console"):
        console.check()


def onward_from_callback(driver, console, callback):
    """The client's callback, once it has the code, sends the browser on to another origin
    (a native app's loopback listener showing "you may close this window" on the app's
    web site, say). A CSP form-action would apply to every redirect after a form's POST,
    so the pages must not return to the app by the form's own redirect."""
    console.begin()
    url, sent_state, _, _ = authorization(SCOPE)
    onward = f"http://localhost:{urlsplit(CLIENT['redirect_uri']).port}/onward"
    with report.step("sign-in and consent, the callback answering 302 to another origin"):
        fresh_start(driver)
        driver.get(url)
        wait(driver, on_page("Sign in"), "the sign-in page")
        button = sign_in(driver, PATIENT["email"], PATIENT["password"])
        submit_and_wait(driver, button, "the consent page", on_page("Allow access?"))
        callback.onward = onward
    try:
        with report.step("Allow: the callback gets its code and the browser arrives at "
                         f"{onward}"):
            allow(driver, console, callback, sent_state)
            deadline = time.monotonic() + WAIT
            while callback.arrived.empty():
                refused = [p for p in console.problems() if "form-action" in p]
                expect(not refused, f"the browser stopped after the callback; the code was "
                                    f"delivered but the browser is at {driver.current_url}, "
                                    f"console: {refused}")
                expect(time.monotonic() < deadline, f"the browser never reached {onward}; "
                                                    f"it is at {driver.current_url}")
                time.sleep(0.25)
    finally:
        callback.onward = None
    with report.check("no CSP violation or uncaught script error in the browser console"):
        console.check()


def setup():
    with report.step(f"the client's callback listens at {CLIENT['redirect_uri']}"):
        state["callback"] = Callback(CLIENT["redirect_uri"])
    if IPV6_CLIENT:
        with report.step(f"the IPv6 client's callback listens at {IPV6_CLIENT['redirect_uri']}"):
            state["ipv6_callback"] = Callback(IPV6_CLIENT["redirect_uri"])
    with report.step("headless chromium starts under chromedriver"):
        state["driver"] = driver = start_browser()
        caps = driver.capabilities
        print(f"       {caps.get('browserName')} {caps.get('browserVersion')}, chromedriver "
              f"{caps.get('chrome', {}).get('chromedriverVersion', '?').split(' ')[0]}")


if __name__ == "__main__":
    def run_all():
        report.flow("discovery", discovery)
        if "metadata" not in state:
            return
        report.flow("the browser and the client's callback", setup)
        if "driver" not in state:
            return
        driver, callback = state["driver"], state["callback"]
        console = Console(driver)
        report.flow("sign-in, consent and the redirect to the client, under the pages' CSP",
                    sign_in_consent_redirect, driver, console, callback)
        report.flow("the proof-of-work challenge, solved by sign-in.js",
                    challenge_solved_in_browser, driver, console, callback)
        report.flow("a passkey as the second factor (virtual authenticator, passkey.js)",
                    passkey_second_factor, driver, console, callback)
        report.flow("the client's callback sends the browser on to another origin",
                    onward_from_callback, driver, console, callback)
        if "ipv6_callback" in state:
            report.flow("a native app at the IPv6 loopback address (RFC 8252 §7.3)",
                        ipv6_loopback_client, driver, console, state["ipv6_callback"])
        else:
            report.note("no IPv6 loopback address here: the [::1] redirect URI is not tried")

    try:
        run_all()
    finally:
        if "driver" in state:
            state["driver"].quit()
        for name in ("callback", "ipv6_callback"):
            if name in state:
                state[name].close()
    raise SystemExit(report.finish())
