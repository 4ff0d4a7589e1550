"""Authlib (PyPI) against a live medvault: authorization code + PKCE S256 for a public and
a confidential client, ID token validation against the JWKS, userinfo, refresh with
rotation, token introspection and revocation, and client credentials.

Everything OAuth goes through `authlib.integrations.requests_client.OAuth2Session`; the
ID token is checked with `authlib.jose` (signature against the server's JWKS, then the
OpenID Connect claims: iss, aud, azp, exp, iat, nonce)."""

import os
import secrets
import warnings
from urllib.parse import parse_qs, urlsplit

# medvault serves plain HTTP on loopback; Authlib refuses http:// without this.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.integrations.requests_client import OAuthError  # noqa: E402

from authlib.deprecate import AuthlibDeprecationWarning  # noqa: E402

# authlib.jose announces its move to joserfc; it is still Authlib's documented API.
warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
from authlib.jose import JsonWebKey, jwt  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402

from interop_common import (TIMEOUT, Report, UserAgent, expect, expect_all,  # noqa: E402
                            expect_equal, load_env)

ENV = load_env()
ISSUER = ENV["issuer"]
FHIR = ENV["fhir_base"]
PATIENT = ENV["patient"]
CLIENTS = ENV["clients"]["authlib"]
SCOPE = "openid fhirUser offline_access launch/patient patient/*.rs"
report = Report("authlib")
state = {}


def metadata():
    return state["metadata"]


def discovery():
    with report.step("discovery: /.well-known/openid-configuration names this issuer"):
        response = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=TIMEOUT)
        response.raise_for_status()
        state["metadata"] = response.json()
        expect_equal(metadata()["issuer"], ISSUER, "issuer")
        expect("S256" in metadata()["code_challenge_methods_supported"], "S256 not advertised")
    with report.step("JWKS: fetched from jwks_uri and imported as a key set"):
        response = requests.get(metadata()["jwks_uri"], timeout=TIMEOUT)
        response.raise_for_status()
        state["jwks"] = JsonWebKey.import_key_set(response.json())
        expect(len(response.json()["keys"]) >= 1, "the JWKS has no keys")


def validate_id_token(id_token, client_id, nonce):
    """Signature against the JWKS, then the OpenID Connect Core §3.1.3.7 claims."""
    claims = jwt.decode(
        id_token, state["jwks"], claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": ISSUER},
                        "aud": {"essential": True, "value": client_id},
                        "nonce": {"essential": True, "value": nonce}},
        claims_params={"nonce": nonce, "client_id": client_id},
    )
    claims.validate(leeway=60)
    expect_equal(claims.header.get("alg"), "ES256", "ID token alg")
    return claims


def session(kind):
    client = CLIENTS[kind]
    return OAuth2Session(
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        token_endpoint_auth_method=client["token_endpoint_auth_method"],
        revocation_endpoint_auth_method=client["token_endpoint_auth_method"],
        scope=SCOPE,
        redirect_uri=client["redirect_uri"],
        code_challenge_method="S256",
    )


def code_flow(kind, agent):
    """Authorization code + PKCE through the hosted pages; returns (oauth, token, claims)."""
    client = CLIENTS[kind]
    oauth = session(kind)
    code_verifier = generate_token(64)
    nonce = secrets.token_urlsafe(16)
    with report.step(f"{kind}: authorization code + PKCE S256 through the hosted pages"):
        url, sent_state = oauth.create_authorization_url(
            metadata()["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce)
        query = parse_qs(urlsplit(url).query)
        expect_equal(query.get("code_challenge_method"), ["S256"], "code_challenge_method")
        callback = agent.authorize(url, email=PATIENT["email"], password=PATIENT["password"],
                                   redirect_uri=client["redirect_uri"], remember=False)
        returned = parse_qs(urlsplit(callback).query)
        expect("code" in returned, f"no code in {callback}")
        expect_equal(returned.get("state"), [sent_state], "state")
        expect_equal(returned.get("iss"), [ISSUER], "RFC 9207 iss")
        print(f"       pages walked: {' -> '.join(agent.walked) or '(none: SSO)'}")
    with report.step(f"{kind}: fetch_token exchanges the code (code_verifier sent)"):
        token = oauth.fetch_token(metadata()["token_endpoint"], authorization_response=callback,
                                  code_verifier=code_verifier, state=sent_state)
        for field in ("access_token", "id_token", "refresh_token", "expires_in"):
            expect(field in token, f"token response lacks {field}: {sorted(token)}")
        expect_equal(token.get("patient"), PATIENT["patient_id"], "SMART patient context")
    with report.step(f"{kind}: ID token verified against the JWKS (iss, aud, nonce, exp)"):
        claims = validate_id_token(token["id_token"], client["client_id"], nonce)
        expect_equal(claims.get("fhirUser"), f"{FHIR}/Patient/{PATIENT['patient_id']}",
                     "fhirUser claim")
    return oauth, token, claims


def userinfo(kind, oauth, claims):
    with report.step(f"{kind}: userinfo (Bearer) names the ID token's sub"):
        response = oauth.get(metadata()["userinfo_endpoint"], timeout=TIMEOUT)
        expect_equal(response.status_code, 200, f"userinfo status ({response.text[:200]})")
        info = response.json()
        expect_equal(info.get("sub"), claims["sub"], "userinfo sub")
        expect_equal(info.get("fhirUser"), claims.get("fhirUser"), "userinfo fhirUser")


def read_observations(kind, oauth):
    with report.step(f"{kind}: the access token reads the patient's Observations"):
        response = oauth.get(f"{FHIR}/Observation", params={"patient": PATIENT["patient_id"]},
                             headers={"Accept": "application/fhir+json"}, timeout=TIMEOUT)
        expect_equal(response.status_code, 200, f"search status ({response.text[:200]})")
        ids = sorted(e["resource"]["id"] for e in response.json().get("entry", []))
        expect_equal(ids, sorted(ENV["observations"]), "Observation ids")


def refresh(kind, oauth, token, client_id):
    with report.step(f"{kind}: refresh_token rotates the refresh token"):
        old = token["refresh_token"]
        new = oauth.refresh_token(metadata()["token_endpoint"], refresh_token=old)
        expect("access_token" in new, "no access_token after refresh")
        expect(new.get("refresh_token") and new["refresh_token"] != old,
               "the refresh token was not rotated")
        if "id_token" in new:
            claims = jwt.decode(new["id_token"], state["jwks"], claims_options={
                "iss": {"essential": True, "value": ISSUER},
                "aud": {"essential": True, "value": client_id}})
            claims.validate(leeway=60)
    return new


def public_client():
    agent = UserAgent(ISSUER)
    oauth, token, claims = code_flow("public", agent)
    userinfo("public", oauth, claims)
    read_observations("public", oauth)
    token = refresh("public", oauth, token, CLIENTS["public"]["client_id"])
    read_observations("public (refreshed)", oauth)
    with report.step("public: revoke_token (client_id only) ends the grant"):
        response = oauth.revoke_token(metadata()["revocation_endpoint"],
                                      token=token["refresh_token"],
                                      token_type_hint="refresh_token")
        expect_equal(response.status_code, 200, f"revocation status ({response.text[:200]})")
        try:
            oauth.refresh_token(metadata()["token_endpoint"],
                                refresh_token=token["refresh_token"])
        except OAuthError as err:
            expect_equal(err.error, "invalid_grant", "refresh after revocation")
        else:
            raise AssertionError("a revoked refresh token still refreshed")
    with report.check("public: after revoking the refresh token its access token is refused (401)"):
        info = oauth.get(metadata()["userinfo_endpoint"], timeout=TIMEOUT)
        search = oauth.get(f"{FHIR}/Observation", params={"patient": PATIENT["patient_id"]},
                           headers={"Accept": "application/fhir+json"}, timeout=TIMEOUT)
        expect_all((info.status_code, 401, "GET /oauth2/userinfo"),
                   (search.status_code, 401, f"GET /fhir/Observation ({search.text[:120]})"))
    state["public_agent"] = agent


def confidential_client():
    # The same browser: its SSO session should skip the sign-in page.
    agent = state.get("public_agent") or UserAgent(ISSUER)
    oauth, token, claims = code_flow("confidential", agent)
    with report.check("confidential: the SSO session skipped the sign-in page"):
        expect("login" not in agent.walked, f"signed in again: {agent.walked}")
    userinfo("confidential", oauth, claims)
    token = refresh("confidential", oauth, token, CLIENTS["confidential"]["client_id"])
    endpoint = metadata()["introspection_endpoint"]
    body = {}
    with report.step("confidential: introspect_token (client_secret_basic) on the access token"):
        response = oauth.introspect_token(endpoint, token=token["access_token"],
                                          token_type_hint="access_token")
        expect_equal(response.status_code, 200, f"introspection status ({response.text[:200]})")
        body = response.json()
        expect_equal(body.get("active"), True, "active")
        expect_equal(body.get("client_id"), CLIENTS["confidential"]["client_id"], "client_id")
        expect_equal(body.get("sub"), claims["sub"], "sub")
        expect_equal(body.get("scope"), token["scope"], "scope")
    with report.check("confidential: introspection carries the launch context `patient` "
                      "(SMART App Launch 2.x token introspection: SHALL)"):
        expect_equal(body.get("patient"), PATIENT["patient_id"], "patient")
    if body.get("fhirUser") != claims.get("fhirUser"):
        report.note(f"introspection of the access token has fhirUser {body.get('fhirUser')!r}, "
                    f"the ID token {claims.get('fhirUser')!r} (SMART token introspection: "
                    "the ID token's fhirUser SHOULD be included)")
    with report.step("confidential: introspect_token on the refresh token"):
        body = oauth.introspect_token(endpoint, token=token["refresh_token"],
                                      token_type_hint="refresh_token").json()
        expect_equal(body.get("active"), True, "active")
    with report.step("confidential: revoke_token on the access token; introspection says inactive"):
        response = oauth.revoke_token(metadata()["revocation_endpoint"],
                                      token=token["access_token"],
                                      token_type_hint="access_token")
        expect_equal(response.status_code, 200, f"revocation status ({response.text[:200]})")
        body = oauth.introspect_token(endpoint, token=token["access_token"]).json()
        expect_equal(body.get("active"), False, "access token active after revocation")
    with report.check("confidential: the revoked access token is refused at userinfo"):
        response = oauth.get(metadata()["userinfo_endpoint"], timeout=TIMEOUT)
        expect_equal(response.status_code, 401,
                     f"GET /oauth2/userinfo with the revoked access token ({response.text[:120]})")
    with report.check("confidential: the revoked access token is refused by the FHIR API"):
        response = oauth.get(f"{FHIR}/Observation", params={"patient": PATIENT["patient_id"]},
                             headers={"Accept": "application/fhir+json"}, timeout=TIMEOUT)
        expect_equal(response.status_code, 401,
                     "GET /fhir/Observation with the revoked access token")
    with report.check("confidential: revoking the access token ends the grant's refresh token "
                      "(medvault's revoke: 'either token of a user's grant ends the grant')"):
        body = oauth.introspect_token(endpoint, token=token["refresh_token"]).json()
        expect_equal(body.get("active"), False, "refresh token active after revocation")


def client_credentials():
    client = CLIENTS["machine"]
    oauth = OAuth2Session(client_id=client["client_id"], client_secret=client["client_secret"],
                          token_endpoint_auth_method="client_secret_basic",
                          scope="system/Observation.rs")
    with report.step("machine: client_credentials grant"):
        token = oauth.fetch_token(metadata()["token_endpoint"], grant_type="client_credentials")
        expect_equal(token.get("scope"), "system/Observation.rs", "granted scope")
        expect("refresh_token" not in token, "client_credentials issued a refresh token")
    with report.step("machine: the access token is a JWT signed by a key in the JWKS"):
        claims = jwt.decode(token["access_token"], state["jwks"])
        claims.validate(leeway=60)
        expect_equal(claims.get("iss"), ISSUER, "iss")
        expect_equal(claims.get("sub"), client["client_id"], "sub")
    with report.step("machine: introspect_token, revoke_token, then inactive"):
        endpoint = metadata()["introspection_endpoint"]
        body = oauth.introspect_token(endpoint, token=token["access_token"]).json()
        expect_equal(body.get("active"), True, "active")
        expect_equal(body.get("scope"), "system/Observation.rs", "scope")
        response = oauth.revoke_token(metadata()["revocation_endpoint"],
                                      token=token["access_token"])
        expect_equal(response.status_code, 200, "revocation status")
        body = oauth.introspect_token(endpoint, token=token["access_token"]).json()
        expect_equal(body.get("active"), False, "active after revocation")
    with report.check("machine: the revoked token is refused by the FHIR API"):
        response = requests.get(f"{FHIR}/Observation", timeout=TIMEOUT,
                                headers={"Authorization": f"Bearer {token['access_token']}",
                                         "Accept": "application/fhir+json"})
        expect_equal(response.status_code, 401, "GET /fhir/Observation with a revoked token")


if __name__ == "__main__":
    def run_all():
        report.flow("discovery", discovery)
        if "jwks" not in state:
            return
        report.flow("public client (token_endpoint_auth_method none)", public_client)
        report.flow("confidential client (client_secret_basic)", confidential_client)
        report.flow("client credentials", client_credentials)

    run_all()
    raise SystemExit(report.finish())
