"""Seeds a fresh, running medvault for the interop tests and writes what the tests need
(issuer, FHIR base, users, client credentials, record ids) to a JSON file.

    seed.py BINARY DATA_DIR ISSUER OUT.json

Users are created with the CLI (`medvault user add`, password on stdin), records and
OAuth clients over HTTP: the admin keeps the directory (a Practitioner) and registers
clients (`POST /api/v1/admin/clients`, RFC 7591 metadata); a physician linked to that
Practitioner registers the Patient and writes its Observations; a patient user is linked
to the Patient. For the browser test, two more users (one to fail its password until a
proof-of-work challenge is asked, one to register a passkey) and public clients whose
loopback redirect URIs (127.0.0.1, and [::1] where there is one) have ports of their own,
where the test listens."""

import json
import os
import secrets
import socket
import subprocess
import sys

import requests

TIMEOUT = 15
FHIR_JSON = "application/fhir+json"
# Where the clients say they are: nothing listens there, the tests read the Location
# header of the redirect instead (RFC 8252 loopback redirect URIs).
REDIRECT_BASE = "http://127.0.0.1:8976"


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A loopback port nothing listens on now (the browser test listens there later)."""
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback():
    try:
        return free_port(socket.AF_INET6, "::1")
    except OSError:
        return None


def password():
    """A long random password (well above zxcvbn score 3)."""
    return "mv-" + secrets.token_urlsafe(24)


class Seeder:
    def __init__(self, binary, data_dir, issuer):
        self.binary = binary
        self.data_dir = data_dir
        self.issuer = issuer
        self.http = requests.Session()

    def add_user(self, email, role, name, *links):
        secret = password()
        command = [self.binary, "user", "add", "--data-dir", self.data_dir, "--email", email,
                   "--role", role, "--name", name, *links, "--password-stdin"]
        done = subprocess.run(command, input=secret + "\n", capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode != 0:
            raise SystemExit(f"seed: `medvault user add --email {email} --role {role}` failed "
                             f"({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return {"email": email, "password": secret, "role": role}

    def login(self, user):
        response = self.http.post(f"{self.issuer}/api/v1/auth/login", timeout=TIMEOUT,
                                  json={"email": user["email"], "password": user["password"]})
        if response.status_code != 200 or "access_token" not in response.json():
            raise SystemExit(f"seed: sign-in of {user['email']} answered {response.status_code}: "
                             f"{response.text[:300]}")
        return response.json()["access_token"]

    def create(self, token, resource):
        kind = resource["resourceType"]
        response = self.http.post(f"{self.issuer}/fhir/{kind}", json=resource, timeout=TIMEOUT,
                                  headers={"Authorization": f"Bearer {token}",
                                           "Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
        if response.status_code != 201:
            raise SystemExit(f"seed: POST /fhir/{kind} answered {response.status_code}: "
                             f"{response.text[:500]}")
        return response.json()["id"]

    def register(self, token, metadata):
        response = self.http.post(f"{self.issuer}/api/v1/admin/clients", json=metadata,
                                  timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 201:
            raise SystemExit(f"seed: registering client {metadata['client_name']!r} answered "
                             f"{response.status_code}: {response.text[:500]}")
        body = response.json()
        return {
            "client_id": body["client_id"],
            "client_secret": body.get("client_secret"),
            "redirect_uri": (metadata.get("redirect_uris") or [None])[0],
            "scope": body["scope"],
            "token_endpoint_auth_method": body["token_endpoint_auth_method"],
        }


USER_SCOPE = "openid fhirUser profile offline_access launch/patient patient/*.rs"


def app_clients(seeder, admin_token, library):
    """A public and a confidential authorization-code client and a client-credentials one."""
    def browser_client(kind, method):
        return seeder.register(admin_token, {
            "client_name": f"interop {library} {kind}",
            "redirect_uris": [f"{REDIRECT_BASE}/{library}/{kind}/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": method,
            "scope": USER_SCOPE,
        })

    return {
        "public": browser_client("public", "none"),
        "confidential": browser_client("confidential", "client_secret_basic"),
        "machine": seeder.register(admin_token, {
            "client_name": f"interop {library} machine",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "system/Observation.rs",
        }),
    }


def main():
    binary, data_dir, issuer, out = sys.argv[1:5]
    seeder = Seeder(binary, data_dir, issuer)

    admin = seeder.add_user("admin@interop.example", "admin", "Interop Admin")
    admin_token = seeder.login(admin)
    practitioner = seeder.create(admin_token, {
        "resourceType": "Practitioner", "active": True,
        "name": [{"family": "Interop", "given": ["Grace"], "prefix": ["Dr."]}],
    })
    physician = seeder.add_user("physician@interop.example", "physician", "Dr. Grace Interop",
                                "--practitioner", practitioner)
    physician_token = seeder.login(physician)
    patient_id = seeder.create(physician_token, {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:mrn", "value": "MRN-INTEROP-1"}],
        "name": [{"family": "Okafor", "given": ["Ada"]}],
        "birthDate": "1984-03-07",
        "gender": "female",
    })
    observations = []
    for loinc, display, value, unit, when in [
        ("2339-0", "Glucose", 5.4, "mmol/L", "2026-01-10T08:30:00Z"),
        ("8867-4", "Heart rate", 64, "/min", "2026-01-11T09:00:00Z"),
        ("29463-7", "Body weight", 61.5, "kg", "2026-01-12T10:15:00Z"),
    ]:
        observations.append(seeder.create(physician_token, {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs" if loinc != "2339-0" else "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc,
                                 "display": display}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit},
        }))
    patient = seeder.add_user("ada@interop.example", "patient", "Ada Okafor",
                              "--patient", patient_id)
    patient["patient_id"] = patient_id
    # The patient must be able to sign in before the tests start.
    seeder.login(patient)

    clients = {
        "openid-client": app_clients(seeder, admin_token, "openid-client"),
        "authlib": app_clients(seeder, admin_token, "authlib"),
        "fhirclient": {"public": seeder.register(admin_token, {
            "client_name": "interop fhirclient",
            "redirect_uris": [f"{REDIRECT_BASE}/fhirclient/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": USER_SCOPE,
        })},
        # Its redirect URI is really listened on: the browser test's callback server.
        "browser": {"public": seeder.register(admin_token, {
            "client_name": "interop browser",
            "redirect_uris": [f"http://127.0.0.1:{free_port()}/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": USER_SCOPE,
        })},
    }
    # A native app at the IPv6 loopback address (RFC 8252 §7.3), where the machine has one.
    v6_port = ipv6_loopback()
    if v6_port:
        clients["browser"]["ipv6"] = seeder.register(admin_token, {
            "client_name": "interop browser (IPv6 loopback)",
            "redirect_uris": [f"http://[::1]:{v6_port}/callback"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile",
        })
    browser_users = {
        "challenged": seeder.add_user("challenged@interop.example", "nurse", "Interop Challenged"),
        "passkey": seeder.add_user("passkey@interop.example", "nurse", "Interop Passkey"),
    }
    env = {
        "issuer": issuer,
        "fhir_base": f"{issuer}/fhir",
        "patient": patient,
        "observations": observations,
        "practitioner_id": practitioner,
        "clients": clients,
        "browser_users": browser_users,
    }
    with open(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
              encoding="utf-8") as f:
        json.dump(env, f, indent=2)
    print(f"seed: patient {patient_id} with {len(observations)} Observations, "
          f"{sum(len(c) for c in clients.values())} OAuth clients", flush=True)


if __name__ == "__main__":
    main()
