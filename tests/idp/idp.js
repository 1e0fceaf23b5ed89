// A real OpenID provider for Sluice's tests: npm oidc-provider on loopback, issuing
// client-credentials access tokens as JWTs for the resource "urn:sluice" (audience "sluice").
//
//   node idp.js --port N --keys FILE [--gen-keys]
//
// FILE holds the private signing keys as a JWK set; with --gen-keys a new set (RS256, ES256
// and Ed25519 keys, fresh kids) is written there first, which is how the tests rotate keys:
// stop, regenerate, start on the same port. Clients (all with secret "<id>-secret"):
//   agent-rs  RS256, groups [ai-agents]        agent-es  ES256, groups [ai-agents]
//   agent-ed  EdDSA, groups [ai-agents]        dba-bot   RS256, groups [dba]
//   other-aud RS256, audience "not-sluice"
// Prints "listening <issuer>" when ready.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]?.startsWith('--') ? true : all[i + 1] ?? true]);
    return acc;
  }, []),
);
const port = Number(args.port);
const keysFile = args.keys;

function generateKeys() {
  const stamp = crypto.randomBytes(4).toString('hex');
  const jwk = (type, opts, alg) => {
    const { privateKey } = crypto.generateKeyPairSync(type, opts);
    return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${stamp}`, alg, use: 'sig' };
  };
  return {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, 'RS256'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
      jwk('ed25519', {}, 'EdDSA'),
    ],
  };
}

if (args['gen-keys'] || !fs.existsSync(keysFile)) {
  fs.writeFileSync(keysFile, JSON.stringify(generateKeys()), { mode: 0o600 });
}
const jwks = JSON.parse(fs.readFileSync(keysFile, 'utf8'));

const clients = {
  'agent-rs': { alg: 'RS256', groups: ['ai-agents'] },
  'agent-es': { alg: 'ES256', groups: ['ai-agents'] },
  'agent-ed': { alg: 'EdDSA', groups: ['ai-agents'] },
  'dba-bot': { alg: 'RS256', groups: ['dba'] },
  'other-aud': { alg: 'RS256', groups: ['ai-agents'], audience: 'not-sluice' },
};

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: Object.keys(clients).map((id) => ({
    client_id: id,
    client_secret: `${id}-secret`,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks,
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:sluice',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        const c = clients[client.clientId];
        return {
          scope: 'grants',
          audience: c.audience ?? 'sluice',
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: c.alg } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => ({ groups: clients[token.clientId]?.groups ?? [] }),
});

http.createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
