// A real OpenID Connect provider for the host's SSO tests: the OpenID-certified `oidc-provider`
// package, configured by the test that starts it.
//
//   node provider.mjs            (configuration as JSON on standard input, then EOF)
//
// Input: { "clients": [oidc-provider client metadata…], "users": { "<login>": {claims…} } }.
// Prints one line `listening http://127.0.0.1:<port>` once it serves; the issuer is that URL.
// People sign in through the provider's own login and consent forms (its development
// interactions: the login form takes any password, the account is the login name).
//
// Besides the provider's own endpoints, a few test controls under `/__test/` (this peer only):
//   POST /__test/users   {"login": "...", "claims": {...}}  add or change a person (e.g. groups)
//   POST /__test/tamper  {"claims": {...}, "drop": [...], "alg": "none"|"HS256"}
//        rewrites the ID token of the NEXT token response only, signed with the provider's
//        current key (or unsigned / HMAC with the client secret for `alg`), so the tests can
//        show the host refusing what a broken or hostile provider would send
//   POST /__test/rotate  a new signing key; the provider signs with it from now on and
//        publishes it first in its JWKS (the old one stays listed)
//   POST /__test/graph   {"fail": null|"unavailable"|"unauthorized"|"malformed"|"huge"|"foreign_link",
//        "page_size": n}  how the fake Microsoft Graph below answers from now on
//   POST /__test/graph-log  answers {"calls": n, "tokens": [...]}: the requests the fake Graph
//        served since the last /__test/graph, and the access tokens it accepted
//
// A fake Microsoft Graph, for Entra ID's groups overage: `POST /__graph/v1.0/me/getMemberObjects`
// with `{"securityEnabledOnly":false}` (anything else is a 400) and a bearer access token that
// this provider issued and that is still valid (else 401, as Graph answers), answers the object
// ids of the person's groups — their `graph_groups`, else `groups` — `page_size` at a time,
// with `@odata.nextLink` (`GET …?$skiptoken=n`, the same token required) to the next page.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { generateKeyPair, exportJWK, SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import Provider from 'oidc-provider';

const input = await new Promise((resolve, reject) => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
  process.stdin.on('error', reject);
});
const config = JSON.parse(input || '{}');
const users = new Map(Object.entries(config.users ?? {}));
const clients = config.clients ?? [];

let keys = [await newKey()];
let tamper = null;
let graphMode = {};
let graphLog = { calls: 0, tokens: [] };

async function newKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = createHash('sha256').update(jwk.n).digest('base64url').slice(0, 16);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys },
    // Claims of the scopes; `groups` is how Okta and Keycloak (with a mapper) send groups.
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
      tenant: ['tid', 'hd'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'tenant'],
    // Scope claims in the ID token itself, as Entra ID, Google, Okta and Keycloak send them.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    cookies: { keys: ['agentic-test-peer-cookie-key'] },
    // The provider refuses to call loopback addresses (SSRF protection); in the tests the host
    // it sends back-channel logout tokens to is on 127.0.0.1, so that one check is lifted.
    fetch: (url, options) => {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    async findAccount(ctx, id) {
      if (!users.has(id)) return undefined;
      return {
        accountId: id,
        async claims() { return { sub: id, ...users.get(id) }; },
      };
    },
  });
  provider.use(tamperIdToken);
  provider.on('backchannel.error', (ctx, err, client) => {
    console.error(`back-channel logout to ${client.clientId} failed: ${err}`);
  });
  provider.on('server_error', (ctx, err) => console.error(`server error: ${err.stack}`));
  return provider;
}

// Rewrites the next token response's ID token as `/__test/tamper` asked.
async function tamperIdToken(ctx, next) {
  await next();
  if (!tamper || ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const wish = tamper;
  tamper = null;
  const claims = { ...decodeJwt(ctx.body.id_token), ...(wish.claims ?? {}) };
  for (const name of wish.drop ?? []) delete claims[name];
  const header = decodeProtectedHeader(ctx.body.id_token);
  let token;
  if (wish.alg === 'none') {
    const part = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    token = `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
  } else if (wish.alg === 'HS256') {
    const client = clients.find((c) => [].concat(claims.aud).includes(c.client_id)) ?? clients[0];
    token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(client.client_secret));
  } else {
    const key = keys.find((k) => k.kid === header.kid) ?? keys[0];
    token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: header.typ ?? 'JWT' })
      .sign(await importJWK(key, 'RS256'));
  }
  ctx.body = { ...ctx.body, id_token: token };
}

// The fake Microsoft Graph (see the top of this file).
async function graph(req, res) {
  graphLog.calls += 1;
  const send = (status, body) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json' }).end(text);
  };
  const error = (status, code, message) => send(status, { error: { code, message } });
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
  const found = token ? await provider.AccessToken.find(token) : undefined;
  if (!found || found.isExpired) {
    return error(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
  }
  graphLog.tokens.push(token);
  const url = new URL(req.url, issuer);
  if (url.pathname !== '/__graph/v1.0/me/getMemberObjects') {
    return error(404, 'Request_ResourceNotFound', 'No such resource.');
  }
  let skip = 0;
  if (req.method === 'POST') {
    const text = await readText(req);
    if (req.headers['content-type'] !== 'application/json'
        || text.replace(/\s/g, '') !== '{"securityEnabledOnly":false}') {
      return error(400, 'Request_BadRequest', `unexpected body: ${text}`);
    }
  } else if (req.method === 'GET' && url.searchParams.has('$skiptoken')) {
    skip = Number(url.searchParams.get('$skiptoken'));
  } else {
    return error(405, 'Request_BadRequest', 'getMemberObjects is a POST');
  }
  switch (graphMode.fail) {
    case 'unavailable': return error(503, 'serviceNotAvailable', 'Service unavailable');
    case 'unauthorized': return error(401, 'InvalidAuthenticationToken', 'Token expired.');
    case 'malformed': return send(200, '{"value": [1, 2, 3]');
    case 'huge': return send(200, { value: Array(40000).fill('00000000-0000-0000-0000-000000000000') });
    case 'foreign_link':
      return send(200, { value: [], '@odata.nextLink': 'http://127.0.0.2:9/v1.0/me/getMemberObjects?$skiptoken=1' });
    default: break;
  }
  const claims = users.get(found.accountId) ?? {};
  const all = claims.graph_groups ?? claims.groups ?? [];
  const size = graphMode.page_size || Math.max(all.length, 1);
  const body = {
    '@odata.context': `${issuer}/__graph/v1.0/$metadata#Collection(Edm.String)`,
    value: all.slice(skip, skip + size),
  };
  if (skip + size < all.length) {
    body['@odata.nextLink'] = `${issuer}/__graph/v1.0/me/getMemberObjects?$skiptoken=${skip + size}`;
  }
  return send(200, body);
}

async function readText(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

async function readJson(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : {};
}

let issuer;
let provider;
const server = createServer(async (req, res) => {
  if (req.url.startsWith('/__graph/')) {
    graph(req, res).catch((e) => res.writeHead(500).end(String(e)));
    return;
  }
  if (!req.url.startsWith('/__test/')) {
    provider.callback()(req, res);
    return;
  }
  try {
    const body = await readJson(req);
    if (req.url === '/__test/users') {
      users.set(body.login, body.claims ?? {});
    } else if (req.url === '/__test/tamper') {
      tamper = body;
    } else if (req.url === '/__test/graph') {
      graphMode = body;
      graphLog = { calls: 0, tokens: [] };
    } else if (req.url === '/__test/graph-log') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(graphLog));
      return;
    } else if (req.url === '/__test/rotate') {
      keys = [await newKey(), ...keys];
      provider = makeProvider(issuer);
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(204).end();
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(String(e));
  }
});
server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  provider = makeProvider(issuer);
  process.stdout.write(`listening ${issuer}\n`);
});
// Notices after the first line are of no interest; a closed pipe must not end the provider.
process.stdout.on('error', () => {});
// The test harness kills us when the story ends.
process.on('SIGTERM', () => process.exit(0));
