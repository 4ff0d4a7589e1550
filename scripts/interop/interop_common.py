"""Shared pieces of the Python interop tests: the seeded environment, a result report,
and a scripted user agent that walks medvault's hosted sign-in and consent pages.

The user agent is a plain HTTP client with a cookie jar and redirects turned off: it
plays the part of the browser, never the part of the OAuth client (the library under
test does that)."""

import html
import json
import os
import re
import traceback
from contextlib import contextmanager
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests

TIMEOUT = 15  # seconds, for every single HTTP request


def load_env():
    """The environment `seed.py` wrote: issuer, FHIR base, users, clients, records."""
    with open(os.environ["MEDVAULT_INTEROP_ENV"], encoding="utf-8") as f:
        return json.load(f)


class FlowAborted(Exception):
    """A step failed; the rest of its flow depends on it and is skipped."""


class Report:
    """Counts steps that passed and failed, and prints each as it happens."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failures = []
        self.notes = []

    @contextmanager
    def step(self, what, fatal=True):
        """A step of a flow. When it fails, the rest of the flow is skipped unless
        `fatal` is False (a check nothing later depends on)."""
        try:
            yield
        except Exception as err:  # noqa: BLE001 - any failure of a step is reported
            self.failures.append(f"{what}: {type(err).__name__}: {err}")
            print(f"  FAIL {what}: {type(err).__name__}: {err}", flush=True)
            if os.environ.get("MEDVAULT_INTEROP_VERBOSE"):
                traceback.print_exc()
            if fatal:
                raise FlowAborted() from err
            return
        self.passed += 1
        print(f"  ok   {what}", flush=True)

    def note(self, text):
        """Something a SHOULD of a spec asks that the server does not do: printed, not
        counted as a failure."""
        self.notes.append(text)
        print(f"  note {text}", flush=True)

    def check(self, what):
        """A step whose failure does not stop its flow."""
        return self.step(what, fatal=False)

    def flow(self, name, fn, *args):
        print(f"[{self.name}] {name}", flush=True)
        try:
            fn(*args)
        except FlowAborted:
            print(f"  (rest of '{name}' skipped)", flush=True)
        except Exception as err:  # noqa: BLE001 - outside a step: still a failure
            self.failures.append(f"{name}: {type(err).__name__}: {err}")
            print(f"  FAIL {name}: {type(err).__name__}: {err}", flush=True)
            traceback.print_exc()

    def finish(self):
        failed = len(self.failures)
        print(f"[{self.name}] {self.passed} passed, {failed} failed, {len(self.notes)} notes",
              flush=True)
        for note in self.notes:
            print(f"[{self.name}]   note: {note}", flush=True)
        for failure in self.failures:
            print(f"[{self.name}]   failed: {failure}", flush=True)
        return 1 if failed else 0


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_equal(actual, wanted, what):
    if actual != wanted:
        raise AssertionError(f"{what}: got {actual!r}, want {wanted!r}")


def expect_all(*comparisons):
    """Every (actual, wanted, what) must match; the error lists each that does not."""
    wrong = [f"{what}: got {actual!r}, want {wanted!r}"
             for actual, wanted, what in comparisons if actual != wanted]
    if wrong:
        raise AssertionError("; ".join(wrong))


class _Forms(HTMLParser):
    """The forms of a page: action, and every named input with its (unescaped) value."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"action": attrs.get("action"), "method": attrs.get("method"),
                             "hidden": {}, "inputs": set()}
            self.forms.append(self._current)
        elif tag in ("input", "button") and self._current is not None:
            name = attrs.get("name")
            if not name:
                return
            self._current["inputs"].add(name)
            if tag == "input" and attrs.get("type") == "hidden":
                # HTMLParser has already turned &amp; &quot; &#39; ... back into text.
                self._current["hidden"][name] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def parse_forms(text):
    parser = _Forms()
    parser.feed(text)
    return parser.forms


def page_text(text, limit=300):
    """What a hosted page says (its main element, tags stripped), for error messages."""
    match = re.search(r"<main>(.*)</main>", text, re.S)
    body = match.group(1) if match else text
    body = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return " ".join(body.split())[:limit]


class UserAgent:
    """A scripted browser for medvault's hosted pages (sign-in, consent)."""

    def __init__(self, issuer):
        self.issuer = issuer
        self.http = requests.Session()
        # The pages a walk went through, e.g. ['login', 'consent']: tests use it to see
        # that the SSO session skipped the sign-in page.
        self.walked = []

    def authorize(self, url, *, email, password, redirect_uri, remember=False, patient=None,
                  max_steps=5):
        """Walks from the authorization URL to the redirect back to the client and
        returns that redirect's full URL (code, state, iss in its query)."""
        self.walked = []
        expect(url.startswith(self.issuer + "/"), f"authorization URL {url} is not on {self.issuer}")
        response = self.http.get(url, allow_redirects=False, timeout=TIMEOUT)
        for _ in range(max_steps):
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("Location", "")
                if urlsplit(location)._replace(query="", fragment="").geturl() == redirect_uri:
                    return location
                raise AssertionError(f"{response.status_code} to unexpected Location {location!r}")
            if response.status_code != 200:
                raise AssertionError(
                    f"{response.request.method} {urlsplit(response.url).path} answered "
                    f"{response.status_code}: {page_text(response.text)}")
            # A form's answer returns to the app through a page that moves on by itself
            # (a meta refresh), as a browser would follow it.
            refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]*)"', response.text)
            if refresh:
                location = html.unescape(refresh.group(1))
                if urlsplit(location)._replace(query="", fragment="").geturl() == redirect_uri:
                    return location
                raise AssertionError(f"a page moving on to unexpected {location!r}")
            forms = [f for f in parse_forms(response.text) if f["action"]]
            expect(len(forms) == 1, f"expected one form on the page, found {len(forms)}: "
                                    f"{page_text(response.text)}")
            form = forms[0]
            action = form["action"]
            fields = dict(form["hidden"])
            expect("csrf" in fields and "request" in fields,
                   f"form {action} lacks the hidden csrf/request inputs")
            if action == "/oauth2/authorize/login":
                self.walked.append("login")
                fields.update(email=email, password=password)
            elif action == "/oauth2/authorize/consent":
                self.walked.append("consent")
                fields["decision"] = "allow"
                if remember:
                    fields["remember"] = "yes"
                if "patient" in form["inputs"]:
                    expect(patient is not None, "the consent page asks for a patient")
                    fields["patient"] = patient
            else:
                raise AssertionError(f"unexpected hosted form {action!r}: {page_text(response.text)}")
            response = self.http.post(urljoin(self.issuer, action), data=fields,
                                      allow_redirects=False, timeout=TIMEOUT)
        raise AssertionError(f"no redirect to the client after {max_steps} pages ({self.walked})")
