"""fhirclient (SMART on FHIR Python client, PyPI) against a live medvault: a standalone
patient launch (PKCE S256) as the patient user, the Patient and its Observations read
through fhirclient's models, and a refresh through `reauthorize()`.

fhirclient 4.x learns the OAuth endpoints from the server's CapabilityStatement
(`GET [base]/metadata`, extension
http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris on
`rest[0].security`); it does not read `.well-known/smart-configuration`. Both discovery
documents are checked here. If fhirclient's own discovery finds no endpoints, that is
reported as a failure and the launch continues with a client restored from fhirclient's
documented saved-state format, holding the endpoints of the server's
/.well-known/smart-configuration, so that the rest of the flow is still exercised.

fhirclient ignores the ID token it receives; this test verifies it with authlib.jose
against the server's JWKS."""

import warnings
from urllib.parse import parse_qs, urlsplit

import requests
from fhirclient import client as fhir_client
from fhirclient.auth import FHIROAuth2Auth
from fhirclient.models.observation import Observation

from authlib.deprecate import AuthlibDeprecationWarning

# authlib.jose announces its move to joserfc; it is still Authlib's documented API.
warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
from authlib.jose import JsonWebKey, jwt  # noqa: E402

from interop_common import TIMEOUT, Report, UserAgent, expect, expect_equal, load_env

ENV = load_env()
ISSUER = ENV["issuer"]
FHIR = ENV["fhir_base"]
PATIENT = ENV["patient"]
REGISTERED = ENV["clients"]["fhirclient"]["public"]
SCOPE = "openid fhirUser offline_access patient/*.rs"  # fhirclient adds launch/patient
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
report = Report("fhirclient")
state = {}


def settings():
    return {
        "app_id": REGISTERED["client_id"],
        "api_base": FHIR,
        "redirect_uri": REGISTERED["redirect_uri"],
        "scope": SCOPE,
    }


def discovery():
    with report.step("GET [base]/metadata: a CapabilityStatement fhirclient's models parse"):
        smart = fhir_client.FHIRClient(settings=settings(), save_func=lambda s: None)
        statement = smart.server.capabilityStatement  # fetched and parsed by fhirclient
        expect_equal(statement.fhirVersion, "4.0.1", "fhirVersion")
        state["smart"] = smart
    with report.check("fhirclient discovers the OAuth endpoints from the CapabilityStatement "
                      f"(rest[0].security extension {OAUTH_URIS})"):
        smart = state["smart"]
        security = smart.server.capabilityStatement.rest[0].security
        urls = [e.url for e in (security.extension or [])] if security else []
        expect(isinstance(smart.server.auth, FHIROAuth2Auth) and smart.authorize_url,
               "fhirclient found no OAuth endpoints and chose auth type "
               f"{smart.server.auth.auth_type!r}: /fhir/metadata rest[0].security has "
               f"extensions {urls} (no {OAUTH_URIS}) and service "
               f"{getattr(security, 'service', None)}")
        state["discovered"] = True
    with report.check("SMART App Launch 2.x discovery: GET [base]/.well-known/smart-configuration"
                      " (unauthenticated)"):
        response = requests.get(f"{FHIR}/.well-known/smart-configuration", timeout=TIMEOUT,
                                headers={"Accept": "application/json"})
        expect_equal(response.status_code, 200,
                     f"GET /fhir/.well-known/smart-configuration status ({response.text[:160]})")
        config = response.json()
        for field in ("authorization_endpoint", "token_endpoint", "capabilities"):
            expect(field in config, f"smart-configuration lacks {field}")


def restored_client():
    """A fhirclient restored from its saved-state format, with the endpoints of the
    issuer's /.well-known/smart-configuration (used only when discovery failed)."""
    config = requests.get(f"{ISSUER}/.well-known/smart-configuration", timeout=TIMEOUT).json()
    print("       continuing with the endpoints of the issuer's "
          "/.well-known/smart-configuration, given to fhirclient as saved state")
    return fhir_client.FHIRClient(state={
        "app_id": REGISTERED["client_id"],
        "scope": SCOPE,
        "redirect": REGISTERED["redirect_uri"],
        "server": {
            "base_uri": FHIR + "/",
            "auth_type": "oauth2",
            "auth": {
                "app_id": REGISTERED["client_id"],
                "aud": FHIR,
                "authorize_uri": config["authorization_endpoint"],
                "token_uri": config["token_endpoint"],
                "redirect_uri": REGISTERED["redirect_uri"],
            },
        },
    }, save_func=lambda s: None)


def launch():
    smart = state["smart"] if state.get("discovered") else restored_client()
    agent = UserAgent(ISSUER)
    with report.step("standalone patient launch: fhirclient's authorize_url through the hosted "
                     "pages"):
        url = smart.authorize_url
        expect(url, "fhirclient produced no authorize URL")
        query = parse_qs(urlsplit(url).query)
        expect_equal(query.get("code_challenge_method"), ["S256"], "code_challenge_method")
        expect_equal(query.get("aud"), [FHIR], "aud")
        expect("launch/patient" in query.get("scope", [""])[0].split(), "no launch/patient")
        callback = agent.authorize(url, email=PATIENT["email"], password=PATIENT["password"],
                                   redirect_uri=REGISTERED["redirect_uri"])
        print(f"       pages walked: {' -> '.join(agent.walked)}; scope asked: "
              f"{query['scope'][0]}")
    with report.step("handle_callback: code exchanged (PKCE), patient context received"):
        smart.handle_callback(callback)
        expect(smart.ready, "fhirclient is not ready after the callback")
        expect_equal(smart.patient_id, PATIENT["patient_id"], "patient_id")
        expect(smart.server.auth.refresh_token, "no refresh token (offline_access)")
    with report.step("ID token (ignored by fhirclient) verified against the JWKS"):
        id_token = (smart.launch_context or {}).get("id_token")
        expect(id_token, "no id_token in the launch context")
        jwks = JsonWebKey.import_key_set(
            requests.get(f"{ISSUER}/.well-known/jwks.json", timeout=TIMEOUT).json())
        claims = jwt.decode(id_token, jwks, claims_options={
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": REGISTERED["client_id"]},
            "sub": {"essential": True}})
        claims.validate(leeway=60)
        expect_equal(claims.get("fhirUser"), f"{FHIR}/Patient/{PATIENT['patient_id']}",
                     "fhirUser")
    read_records(smart, "")
    with report.step("reauthorize(): the refresh token gets a new access token"):
        before = smart.server.auth.access_token
        expect(smart.reauthorize(), "reauthorize() failed")
        expect(smart.server.auth.access_token != before, "the access token did not change")
    read_records(smart, " (after reauthorize)", patient=False)


def read_records(smart, suffix, patient=True):
    if patient:
        with report.step(f"smart.patient reads the launch Patient{suffix}"):
            record = smart.patient
            expect(record is not None, "no Patient")
            expect_equal(record.id, PATIENT["patient_id"], "Patient.id")
            expect_equal(record.name[0].family, "Okafor", "Patient.name.family")
    with report.step("Observation.where({'patient': id}).perform_resources(smart.server)"
                     f"{suffix}"):
        found = Observation.where({"patient": PATIENT["patient_id"]}).perform_resources(
            smart.server)
        expect_equal(sorted(o.id for o in found), sorted(ENV["observations"]), "Observation ids")
        codes = sorted(o.code.coding[0].code for o in found)
        expect_equal(codes, ["2339-0", "29463-7", "8867-4"], "LOINC codes")
        for observation in found:
            expect_equal(observation.subject.reference, f"Patient/{PATIENT['patient_id']}",
                         "Observation.subject")


if __name__ == "__main__":
    report.flow("discovery", discovery)
    report.flow("standalone patient launch", launch)
    raise SystemExit(report.finish())
