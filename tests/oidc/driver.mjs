// A relying party built on panva's openid-client (a certified OpenID Connect client library),
// driven step by step by tests/oidc.rs. One JSON object in (argv[2]), one JSON object out.
//
// Steps:
//   begin:  discovery; a PKCE verifier, state and nonce; the authorization URL.
//   finish: the callback URL to tokens (ID token signature, iss, aud, nonce, state and the
//           RFC 9207 iss parameter checked by the library), userinfo, two refreshes (rotation),
//           the first refresh token again (reuse), the newest one after that, the logout URL.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.QRGATE_NODE_PREFIX;
const entry = createRequire(join(modules, 'resolve.js')).resolve('openid-client');
const client = await import(pathToFileURL(entry).href);

const input = JSON.parse(process.argv[2]);

async function configure() {
  const metadata = { client_secret: input.secret };
  if (input.alg) metadata.id_token_signed_response_alg = input.alg;
  const auth = input.auth === 'basic'
    ? client.ClientSecretBasic(input.secret)
    : client.ClientSecretPost(input.secret);
  const config = await client.discovery(new URL(input.issuer), input.client_id, metadata, auth, {
    execute: [client.allowInsecureRequests],
  });
  // Verify the ID token's signature against the provider's JWKS, not only its claims.
  client.enableNonRepudiationChecks(config);
  return config;
}

// The OAuth error code of a failed call, or the message.
function failure(e) {
  return { error: e.error ?? e.cause?.error ?? e.code ?? 'unknown', message: String(e.message) };
}

async function attempt(f) {
  try {
    return { ok: await f() };
  } catch (e) {
    return failure(e);
  }
}

async function begin() {
  const config = await configure();
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri,
    scope: 'openid profile email groups offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const meta = config.serverMetadata();
  return { url: url.href, verifier, state, nonce, issuer: meta.issuer, end_session: meta.end_session_endpoint };
}

async function finish() {
  const config = await configure();
  const tokens = await client.authorizationCodeGrant(config, new URL(input.callback), {
    pkceCodeVerifier: input.verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString());
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const first = await client.refreshTokenGrant(config, tokens.refresh_token);
  const second = await client.refreshTokenGrant(config, first.refresh_token);
  const secondClaims = second.claims();
  const userinfoAfterRefresh = await attempt(() => client.fetchUserInfo(config, second.access_token, claims.sub));
  // The first refresh token again: rotated out, so its whole family is revoked.
  const reuse = await attempt(() => client.refreshTokenGrant(config, tokens.refresh_token));
  const newestAfterReuse = await attempt(() => client.refreshTokenGrant(config, second.refresh_token));
  const userinfoAfterReuse = await attempt(() => client.fetchUserInfo(config, second.access_token, claims.sub));
  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: second.id_token,
    post_logout_redirect_uri: input.post_logout,
    state: 'bye',
  });
  return {
    claims,
    alg: header.alg,
    kid: header.kid,
    scope: tokens.scope,
    userinfo,
    rotated: first.refresh_token !== tokens.refresh_token && second.refresh_token !== first.refresh_token,
    refreshed_claims: secondClaims,
    userinfo_after_refresh: userinfoAfterRefresh.ok ? 'ok' : userinfoAfterRefresh,
    reuse,
    newest_after_reuse: newestAfterReuse.ok ? 'ok' : newestAfterReuse,
    userinfo_after_reuse: userinfoAfterReuse.ok ? 'ok' : userinfoAfterReuse,
    logout: logout.href,
    id_token: tokens.id_token,
  };
}

const steps = { begin, finish };
try {
  const out = await steps[input.step]();
  process.stdout.write(JSON.stringify(out));
} catch (e) {
  process.stdout.write(JSON.stringify({ failed: failure(e) }));
  process.exitCode = 1;
}
