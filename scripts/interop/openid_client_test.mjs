// openid-client (npm, v6) against a live medvault: discovery, authorization code + PKCE
// S256 for a public and a confidential client, ID token validation against the JWKS,
// userinfo, refresh with rotation, introspection, revocation and client credentials.
//
// The library is used as documented; its only configuration is `allowInsecureRequests`
// (medvault serves plain HTTP on loopback) and `enableNonRepudiationChecks`, which makes
// it verify every ID token's signature against the server's JWKS (by default
// openid-client trusts the TLS channel of the token endpoint instead). The ID token is
// verified once more with jose against the JWKS, independently of the library.
//
// Run by scripts/interop/run with MEDVAULT_INTEROP_ENV naming the seeded environment.

import { readFileSync } from 'node:fs'
import * as client from 'openid-client'
import * as jose from 'jose'

const TIMEOUT_MS = 15_000
const env = JSON.parse(readFileSync(process.env.MEDVAULT_INTEROP_ENV, 'utf8'))
const ISSUER = env.issuer
const FHIR = env.fhir_base
const PATIENT = env.patient
const CLIENTS = env.clients['openid-client']
const SCOPE = 'openid fhirUser offline_access launch/patient patient/*.rs'
const NAME = 'openid-client'

// ---------------------------------------------------------------- reporting

class FlowAborted extends Error {}
let passed = 0
const failures = []
const notes = []

/** Something a SHOULD of a spec asks that the server does not do: printed, not failed. */
function note(text) {
  notes.push(text)
  console.log(`  note ${text}`)
}

function describe(err) {
  let text = `${err?.name ?? 'Error'}: ${err?.message ?? err}`
  if (err?.code) text += ` [${err.code}]`
  if (err?.error) text += ` error=${err.error}`
  if (err?.error_description) text += ` (${err.error_description})`
  if (err?.cause && !(err.cause instanceof Error) && typeof err.cause === 'object') {
    text += ` cause=${JSON.stringify(err.cause).slice(0, 300)}`
  } else if (err?.cause instanceof Error) {
    text += ` cause=${err.cause.message}`
  }
  return text
}

/** A step of a flow; when it fails the rest of the flow is skipped unless !fatal. */
async function step(what, fn, { fatal = true } = {}) {
  try {
    const value = await fn()
    passed += 1
    console.log(`  ok   ${what}`)
    return value
  } catch (err) {
    failures.push(`${what}: ${describe(err)}`)
    console.log(`  FAIL ${what}: ${describe(err)}`)
    if (process.env.MEDVAULT_INTEROP_VERBOSE) console.log(err)
    if (fatal) throw new FlowAborted()
    return undefined
  }
}
const check = (what, fn) => step(what, fn, { fatal: false })

async function flow(name, fn) {
  console.log(`[${NAME}] ${name}`)
  try {
    await fn()
  } catch (err) {
    if (err instanceof FlowAborted) {
      console.log(`  (rest of '${name}' skipped)`)
    } else {
      failures.push(`${name}: ${describe(err)}`)
      console.log(`  FAIL ${name}: ${describe(err)}`)
      console.log(err)
    }
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message)
}
function expectEqual(actual, wanted, what) {
  if (actual !== wanted) {
    throw new Error(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(wanted)}`)
  }
}

/** Every [actual, wanted, what] must match; the error lists each that does not. */
function expectAll(...comparisons) {
  const wrong = comparisons.filter(([actual, wanted]) => actual !== wanted)
    .map(([actual, wanted, what]) => `${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(wanted)}`)
  if (wrong.length) throw new Error(wrong.join('; '))
}

// ---------------------------------------------------------------- the user agent

function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos|#39);/gi, (_, entity) => {
    const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
    const lower = entity.toLowerCase()
    if (lower in named) return named[lower]
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16))
    return String.fromCodePoint(parseInt(lower.slice(1), 10))
  })
}

function attributes(tag) {
  const found = {}
  for (const [, name, value] of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) {
    found[name.toLowerCase()] = unescapeHtml(value)
  }
  return found
}

/** The forms of a page: action, hidden inputs (unescaped) and every named field. */
function parseForms(html) {
  const forms = []
  for (const [, open, inner] of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const form = { action: attributes(open).action, hidden: {}, inputs: new Set() }
    for (const [tag] of inner.matchAll(/<(?:input|button)\b[^>]*>/gi)) {
      const attrs = attributes(tag)
      if (!attrs.name) continue
      form.inputs.add(attrs.name)
      if (tag.toLowerCase().startsWith('<input') && attrs.type === 'hidden') {
        form.hidden[attrs.name] = attrs.value ?? ''
      }
    }
    forms.push(form)
  }
  return forms
}

function pageText(html) {
  const main = /<main>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html
  return unescapeHtml(main.replace(/<[^>]+>/g, ' ')).split(/\s+/).join(' ').trim().slice(0, 300)
}

/** A scripted browser for medvault's hosted pages: fetch with a cookie jar and
 * redirects off. It plays the browser; openid-client plays the app. */
class UserAgent {
  constructor() {
    this.cookies = new Map()
    this.walked = []
  }

  async request(url, init = {}) {
    const headers = new Headers(init.headers)
    if (this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    }
    const response = await fetch(url, {
      ...init,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()]
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a))
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    return response
  }

  /** Walks from the authorization URL to the redirect back to the client; returns it. */
  async authorize(url, { email, password, redirectUri, remember = false, patient }) {
    this.walked = []
    expect(url.href.startsWith(`${ISSUER}/`), `authorization URL ${url} is not on ${ISSUER}`)
    let response = await this.request(url)
    for (let i = 0; i < 5; i += 1) {
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        const location = response.headers.get('location') ?? ''
        const target = new URL(location, ISSUER)
        if (`${target.origin}${target.pathname}` === redirectUri) return target
        throw new Error(`${response.status} to unexpected Location ${location}`)
      }
      const html = await response.text()
      if (response.status !== 200) {
        throw new Error(`${new URL(response.url).pathname} answered ${response.status}: ${pageText(html)}`)
      }
      // A form's answer returns to the app through a page that moves on by itself (a meta
      // refresh), as a browser would follow it.
      const refresh = /<meta http-equiv="refresh" content="0; url=([^"]*)"/.exec(html)
      if (refresh) {
        const target = new URL(unescapeHtml(refresh[1]), ISSUER)
        if (`${target.origin}${target.pathname}` === redirectUri) return target
        throw new Error(`a page moving on to unexpected ${target}`)
      }
      const forms = parseForms(html).filter((f) => f.action)
      expect(forms.length === 1, `expected one form, found ${forms.length}: ${pageText(html)}`)
      const [form] = forms
      const fields = new URLSearchParams(form.hidden)
      expect(fields.has('csrf') && fields.has('request'), `form ${form.action} lacks csrf/request`)
      if (form.action === '/oauth2/authorize/login') {
        this.walked.push('login')
        fields.set('email', email)
        fields.set('password', password)
      } else if (form.action === '/oauth2/authorize/consent') {
        this.walked.push('consent')
        fields.set('decision', 'allow')
        if (remember) fields.set('remember', 'yes')
        if (form.inputs.has('patient')) {
          expect(patient, 'the consent page asks for a patient')
          fields.set('patient', patient)
        }
      } else {
        throw new Error(`unexpected hosted form ${form.action}: ${pageText(html)}`)
      }
      response = await this.request(new URL(form.action, ISSUER), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: fields.toString(),
      })
    }
    throw new Error(`no redirect to the client after 5 pages (${this.walked.join(', ')})`)
  }
}

// ---------------------------------------------------------------- the flows

const jwks = jose.createRemoteJWKSet(new URL(`${ISSUER}/.well-known/jwks.json`))

async function discover(kind, auth) {
  return client.discovery(new URL(ISSUER), CLIENTS[kind].client_id, undefined, auth, {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    timeout: TIMEOUT_MS / 1000,
  })
}

async function codeFlow(kind, config, agent) {
  const registered = CLIENTS[kind]
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const callback = await step(`${kind}: authorization code + PKCE S256 through the hosted pages`, async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: registered.redirect_uri,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    })
    const back = await agent.authorize(url, {
      email: PATIENT.email,
      password: PATIENT.password,
      redirectUri: registered.redirect_uri,
    })
    expectEqual(back.searchParams.get('iss'), ISSUER, 'RFC 9207 iss')
    console.log(`       pages walked: ${agent.walked.join(' -> ') || '(none: SSO)'}`)
    return back
  })
  const tokens = await step(`${kind}: authorizationCodeGrant (state, iss, PKCE, nonce, ID token signature)`, async () => {
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    })
    for (const field of ['access_token', 'id_token', 'refresh_token']) {
      expect(tokens[field], `the token response lacks ${field}`)
    }
    expectEqual(tokens.patient, PATIENT.patient_id, 'SMART patient context')
    return tokens
  })
  const claims = await step(`${kind}: ID token verified with jose against the JWKS (iss, aud, nonce)`, async () => {
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks, {
      issuer: ISSUER,
      audience: registered.client_id,
      algorithms: ['ES256'],
    })
    expectEqual(protectedHeader.alg, 'ES256', 'alg')
    expectEqual(payload.nonce, nonce, 'nonce')
    const claims = tokens.claims()
    expectEqual(claims.sub, payload.sub, 'sub as openid-client read it')
    expectEqual(claims.fhirUser, `${FHIR}/Patient/${PATIENT.patient_id}`, 'fhirUser')
    return claims
  })
  return { tokens, claims }
}

async function userinfo(kind, config, accessToken, claims) {
  await step(`${kind}: fetchUserInfo checks sub`, async () => {
    const info = await client.fetchUserInfo(config, accessToken, claims.sub)
    expectEqual(info.sub, claims.sub, 'sub')
    expectEqual(info.fhirUser, claims.fhirUser, 'fhirUser')
  })
}

async function fhirStatus(config, accessToken) {
  const url = new URL(`${FHIR}/Observation?patient=${PATIENT.patient_id}`)
  const response = await client.fetchProtectedResource(config, accessToken, url, 'GET', undefined,
    new Headers({ accept: 'application/fhir+json' }))
  return response
}

/** The HTTP status a protected-resource call ended with (openid-client throws on a
 * 401 with a WWW-Authenticate challenge; the response rides along on the error). */
async function statusOf(promise) {
  try {
    const result = await promise
    return result instanceof Response ? result.status : 200
  } catch (err) {
    const status = err?.response?.status ?? err?.status
    if (status === undefined) throw err
    return status
  }
}

async function readObservations(kind, config, accessToken) {
  await step(`${kind}: fetchProtectedResource reads the patient's Observations`, async () => {
    const response = await fhirStatus(config, accessToken)
    expectEqual(response.status, 200, 'FHIR search status')
    const bundle = await response.json()
    const ids = (bundle.entry ?? []).map((e) => e.resource.id).sort()
    expectEqual(JSON.stringify(ids), JSON.stringify([...env.observations].sort()), 'Observation ids')
  })
}

async function refresh(kind, config, tokens) {
  return step(`${kind}: refreshTokenGrant rotates the refresh token (new ID token verified)`, async () => {
    const next = await client.refreshTokenGrant(config, tokens.refresh_token)
    expect(next.access_token, 'no access token after refresh')
    expect(next.refresh_token && next.refresh_token !== tokens.refresh_token,
      'the refresh token was not rotated')
    return next
  })
}

async function expectInvalidGrant(promise, what) {
  try {
    await promise
  } catch (err) {
    expectEqual(err.error, 'invalid_grant', what)
    return
  }
  throw new Error(`${what}: succeeded`)
}

async function publicClient(state) {
  const config = await step('public: discovery (None client authentication)', () =>
    discover('public', client.None()))
  const agent = new UserAgent()
  state.agent = agent
  const { tokens, claims } = await codeFlow('public', config, agent)
  await userinfo('public', config, tokens.access_token, claims)
  await readObservations('public', config, tokens.access_token)
  const next = await refresh('public', config, tokens)
  await readObservations('public (refreshed)', config, next.access_token)
  await step('public: reusing the rotated-out refresh token is refused', () =>
    expectInvalidGrant(client.refreshTokenGrant(config, tokens.refresh_token), 'reused refresh token'))
  await check('public: the reuse revoked the whole family (newest refresh token dead too)', () =>
    expectInvalidGrant(client.refreshTokenGrant(config, next.refresh_token), 'newest refresh token'))
}

async function confidentialClient(state) {
  const registered = CLIENTS.confidential
  const config = await step('confidential: discovery (ClientSecretBasic)', () =>
    discover('confidential', client.ClientSecretBasic(registered.client_secret)))
  const agent = state.agent ?? new UserAgent()
  const { tokens, claims } = await codeFlow('confidential', config, agent)
  await check('confidential: the SSO session skipped the sign-in page', () =>
    expect(!agent.walked.includes('login'), `signed in again: ${agent.walked}`))
  await userinfo('confidential', config, tokens.access_token, claims)
  const next = await refresh('confidential', config, tokens)
  const introspected = await step('confidential: tokenIntrospection of the access token', async () => {
    const body = await client.tokenIntrospection(config, next.access_token, { token_type_hint: 'access_token' })
    expectEqual(body.active, true, 'active')
    expectEqual(body.client_id, registered.client_id, 'client_id')
    expectEqual(body.sub, claims.sub, 'sub')
    expectEqual(body.scope, next.scope, 'scope')
    return body
  })
  await check('confidential: introspection carries the launch context `patient` '
    + '(SMART App Launch 2.x token introspection: SHALL)', () =>
    expectEqual(introspected.patient, PATIENT.patient_id, 'patient'))
  if (introspected.fhirUser !== claims.fhirUser) {
    note(`introspection of the access token has fhirUser ${JSON.stringify(introspected.fhirUser)}, `
      + `the ID token ${JSON.stringify(claims.fhirUser)} (SMART token introspection: the ID token's `
      + 'fhirUser SHOULD be included)')
  }
  await step('confidential: tokenIntrospection of the refresh token', async () => {
    const body = await client.tokenIntrospection(config, next.refresh_token)
    expectEqual(body.active, true, 'active')
  })
  await step('confidential: tokenRevocation of the refresh token; it is inactive and refused', async () => {
    await client.tokenRevocation(config, next.refresh_token, { token_type_hint: 'refresh_token' })
    const body = await client.tokenIntrospection(config, next.refresh_token)
    expectEqual(body.active, false, 'refresh token active after revocation')
    await expectInvalidGrant(client.refreshTokenGrant(config, next.refresh_token), 'refresh after revocation')
  })
  await check('confidential: introspection says the access token of the revoked grant is inactive', async () => {
    const body = await client.tokenIntrospection(config, next.access_token)
    expectEqual(body.active, false, 'access token active after its grant was revoked')
  })
  await check('confidential: the access token of the revoked grant is refused (401)', async () => {
    expectAll(
      [await statusOf(client.fetchUserInfo(config, next.access_token, claims.sub)), 401, 'GET /oauth2/userinfo'],
      [await statusOf(fhirStatus(config, next.access_token)), 401, 'GET /fhir/Observation'],
    )
  })
}

async function clientCredentials() {
  const registered = CLIENTS.machine
  const config = await step('machine: discovery (ClientSecretBasic)', () =>
    discover('machine', client.ClientSecretBasic(registered.client_secret)))
  const tokens = await step('machine: clientCredentialsGrant', async () => {
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Observation.rs' })
    expectEqual(tokens.scope, 'system/Observation.rs', 'granted scope')
    expect(!tokens.refresh_token, 'client_credentials issued a refresh token')
    return tokens
  })
  await step('machine: the access token is a JWT signed by a key in the JWKS', async () => {
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: ISSUER })
    expectEqual(payload.sub, registered.client_id, 'sub')
  })
  await step('machine: tokenIntrospection, tokenRevocation, then inactive', async () => {
    let body = await client.tokenIntrospection(config, tokens.access_token)
    expectEqual(body.active, true, 'active')
    expectEqual(body.client_id, registered.client_id, 'client_id')
    await client.tokenRevocation(config, tokens.access_token)
    body = await client.tokenIntrospection(config, tokens.access_token)
    expectEqual(body.active, false, 'active after revocation')
  })
  await check('machine: the revoked token is refused by the FHIR API', async () => {
    expectEqual(await statusOf(fhirStatus(config, tokens.access_token)), 401, 'FHIR search status')
  })
}

const state = {}
await flow('public client (token_endpoint_auth_method none)', () => publicClient(state))
await flow('confidential client (client_secret_basic)', () => confidentialClient(state))
await flow('client credentials', clientCredentials)
console.log(`[${NAME}] ${passed} passed, ${failures.length} failed, ${notes.length} notes`)
for (const failure of failures) console.log(`[${NAME}]   failed: ${failure}`)
for (const text of notes) console.log(`[${NAME}]   note: ${text}`)
process.exitCode = failures.length ? 1 : 0
