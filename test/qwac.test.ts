// eIDAS QWACs for PSD2 TPPs (RTS Art. 34, ETSI TS 119 495): the PSD2 QCStatement and the
// organisation identifier read from certificates made at test time; registration that refuses
// metadata disagreeing with the QWAC; the QWAC's roles bounding what PAR and the token endpoint
// grant (invalid_authorization_details); and the consent page naming the TPP from its certificate.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AsnSerializer } from '@peculiar/asn1-schema';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import { canonicalDnString, QcStatement, QcStatements, subjectDnMatches, tppIdentity } from '../src/oidc/qwac.ts';
import {
  completeLogin,
  consentScope,
  createCustomer,
  interceptCallback,
  launchBrowser,
  screenshot,
  type TestCustomer,
} from './support/browser.ts';
import { createCa, type Issued, issue, tppSubject } from './support/certificates.ts';
import { startTlsServer, type TlsTestServer, viaTls } from './support/tls.ts';
import { REDIRECT_URI, type ResourceServer, registerResourceServer } from './support/tpp.ts';

const ORG = 'PSDGB-FCA-200001';
const SUBJECT = tppSubject('Acme Payments Ltd', ORG);
const PAYMENT = {
  type: 'payment_initiation',
  instructedAmount: { amount: '25.00', currency: 'EUR' },
  creditorName: 'Demo Coffee Roasters',
  creditorAccount: { iban: 'GB82WEST12345698765432' },
};
const ACCOUNTS = { type: 'account_information', permissions: ['balances'] };

describe('QWAC parsing (ETSI TS 119 495)', () => {
  let ca: Issued;
  before(async () => {
    ca = await createCa();
  });

  test('roles, NCA name and id from the PSD2 QCStatement; legal name and organizationIdentifier from the subject', async () => {
    const leaf = await issue(ca, {
      subject: SUBJECT,
      roles: ['PSP_PI', 'PSP_AI'],
      ncaName: 'Financial Conduct Authority',
      ncaId: 'GB-FCA',
    });
    assert.deepEqual(tppIdentity(new X509Certificate(leaf.pem)), {
      legalName: 'Acme Payments Ltd',
      organizationId: ORG,
      psd2: { roles: ['PSP_PI', 'PSP_AI'], ncaName: 'Financial Conduct Authority', ncaId: 'GB-FCA' },
    });
    const all = await issue(ca, { subject: SUBJECT, roles: ['PSP_AS', 'PSP_PI', 'PSP_AI', 'PSP_IC'] });
    assert.deepEqual(tppIdentity(new X509Certificate(all.pem)).psd2?.roles, ['PSP_AS', 'PSP_PI', 'PSP_AI', 'PSP_IC']);
  });

  test('a certificate without QCStatements, or with another statement only, carries no PSD2 roles', async () => {
    const plain = await issue(ca, { subject: SUBJECT });
    assert.equal(tppIdentity(new X509Certificate(plain.pem)).psd2, undefined);
    assert.equal(tppIdentity(new X509Certificate(plain.pem)).organizationId, ORG);
    // ETSI EN 319 412-5 QcCompliance only: an EU qualified certificate, but no PSD2 statement.
    const compliance = Object.assign(new QcStatement(), { statementId: '0.4.0.1862.1.1' });
    const qualified = await issue(ca, {
      subject: SUBJECT,
      qcStatements: AsnSerializer.serialize(new QcStatements([compliance])),
    });
    assert.equal(tppIdentity(new X509Certificate(qualified.pem)).psd2, undefined);
    // Garbage in the extension is no statement, not a crash.
    const garbage = await issue(ca, { subject: SUBJECT, qcStatements: new Uint8Array([0x30, 0x03, 0x06, 0x01, 0xff]).buffer });
    assert.deepEqual(tppIdentity(new X509Certificate(garbage.pem)), { legalName: 'Acme Payments Ltd', organizationId: ORG });
  });

  test('subject DNs match whatever the attribute order and spelling (2.5.4.97 or organizationIdentifier)', async () => {
    const leaf = new X509Certificate((await issue(ca, { subject: SUBJECT })).pem);
    assert.equal(
      subjectDnMatches(leaf, `C=GB, organizationIdentifier=${ORG}, O=Acme Payments Ltd, CN=acme-payments-ltd.example`),
      true,
    );
    assert.equal(subjectDnMatches(leaf, SUBJECT), true);
    assert.equal(subjectDnMatches(leaf, 'CN=acme-payments-ltd.example, O=Acme Payments Ltd, C=GB'), false, 'a missing attribute');
    assert.equal(subjectDnMatches(leaf, `CN=acme-payments-ltd.example, O=Acme Payments, 2.5.4.97=${ORG}, C=GB`), false);
    assert.equal(canonicalDnString('O=Example\\, Ltd, CN=a'), '2.5.4.10=Example, Ltd\n2.5.4.3=a');
    for (const bad of ['', 'garbage', 'CN=a,,', 'XYZ=1']) assert.equal(canonicalDnString(bad), undefined, bad);
  });
});

describe('QWAC identification of TPPs (PSD2 RTS Art. 34)', () => {
  let server: TlsTestServer;
  let rs: ResourceServer;
  let as: oauth.AuthorizationServer;
  let qwac: Issued;
  /** The same TPP's renewed certificate, on which its NCA no longer grants payment initiation. */
  let aiOnly: Issued;
  let clientId: string;
  let customer: TestCustomer;
  let browser: Browser;

  const register = (body: Record<string, unknown>) =>
    server.admin('POST', '/admin/clients', {
      client_name: 'Acme Pay',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_certificate_bound_access_tokens: true,
      ...body,
    });
  const tlsOf = (issued: Issued) => ({ ca: server.files.ca.pem, cert: issued.pem, key: issued.keyPem });
  const client = () => ({ client_id: clientId, use_mtls_endpoint_aliases: true });
  const par = async (cert: Issued, details: unknown[]) => {
    const params = new URLSearchParams({
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: consentScope(details),
      resource: rs.resource,
      state: 'qwac-state',
      code_challenge: await oauth.calculatePKCECodeChallenge('a'.repeat(64)),
      code_challenge_method: 'S256',
      authorization_details: JSON.stringify(details),
    });
    const response = await oauth.pushedAuthorizationRequest(as, client(), oauth.TlsClientAuth(), params, viaTls(tlsOf(cert)));
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  };

  before(async () => {
    server = await startTlsServer();
    rs = await registerResourceServer(server, { scopes: ['accounts', 'payments'] });
    const discovery = await oauth.discoveryRequest(new URL(server.httpsIssuer), {
      ...viaTls({ ca: server.files.ca.pem }),
      algorithm: 'oidc',
    });
    as = await oauth.processDiscoveryResponse(new URL(server.httpsIssuer), discovery);
    qwac = await issue(server.files.ca, { subject: SUBJECT, roles: ['PSP_PI', 'PSP_AI'] });
    aiOnly = await issue(server.files.ca, { subject: SUBJECT, roles: ['PSP_AI'] });
    const response = await register({ qwac_certificate: qwac.pem });
    assert.equal(response.status, 201, await response.clone().text());
    clientId = ((await response.json()) as { client_id: string }).client_id;
    customer = await createCustomer(
      server,
      [{ iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' }],
      undefined,
      undefined,
      { totp: true },
    );
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('registration with a QWAC fills organisation, subject DN and the types its roles allow', async () => {
    const response = await server.admin('GET', `/admin/clients/${clientId}`);
    const { metadata } = (await response.json()) as { metadata: Record<string, unknown> };
    assert.equal(metadata.organisation_id, ORG);
    assert.equal(metadata.organisation_name, 'Acme Payments Ltd');
    assert.equal(subjectDnMatches(new X509Certificate(qwac.pem), metadata.tls_client_auth_subject_dn as string), true);
    assert.deepEqual(metadata.authorization_details_types, ['account_information', 'payment_initiation']);
    assert.equal(metadata.qwac_certificate, undefined, 'the PEM is not stored');
  });

  test('registration refuses metadata that disagrees with the QWAC (invalid_client_metadata, naming the field)', async () => {
    const rogue = await issue(await createCa('CN=Rogue CA, C=EU'), { subject: SUBJECT, roles: ['PSP_PI'] });
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['another organisation_id', { qwac_certificate: qwac.pem, organisation_id: 'PSDGB-FCA-999999' }, /organisation_id/],
      [
        'another subject DN',
        { qwac_certificate: qwac.pem, tls_client_auth_subject_dn: `CN=evil.example, O=Evil Ltd, 2.5.4.97=${ORG}, C=GB` },
        /tls_client_auth_subject_dn/,
      ],
      [
        'payment types without PSP_PI',
        { qwac_certificate: aiOnly.pem, authorization_details_types: ['payment_initiation'] },
        /PSP_PI/,
      ],
      ['a QWAC from a CA outside MTLS_CA_BUNDLE', { qwac_certificate: rogue.pem }, /MTLS_CA_BUNDLE/],
      [
        'a certificate without the PSD2 statement',
        { qwac_certificate: (await issue(server.files.ca, { subject: SUBJECT })).pem },
        /QCStatement/,
      ],
      ['not a certificate', { qwac_certificate: 'hello' }, /qwac_certificate/],
      ['neither QWAC nor organisation_id', { tls_client_auth_subject_dn: SUBJECT }, /organisation_id/],
      [
        'an organisation_id that is not PSDXX-NCA-ID',
        { organisation_id: '12345', tls_client_auth_subject_dn: SUBJECT },
        /organisation_id/,
      ],
      [
        'a subject DN naming another organisation',
        { organisation_id: 'PSDGB-FCA-999999', tls_client_auth_subject_dn: SUBJECT },
        /organizationIdentifier/,
      ],
    ];
    for (const [name, body, pattern] of cases) {
      const response = await register(body);
      const error = (await response.json()) as { error: string; error_description: string };
      assert.equal(response.status, 400, name);
      assert.equal(error.error, 'invalid_client_metadata', name);
      assert.match(error.error_description, pattern, name);
    }
    // With the organisation id alone (and a matching DN) registration succeeds.
    const byId = await register({ organisation_id: ORG, tls_client_auth_subject_dn: SUBJECT });
    assert.equal(byId.status, 201, await byId.text());
  });

  test('PAR: without PSP_PI in the presented QWAC a payment is refused (invalid_authorization_details); account access is not', async () => {
    const refused = await par(aiOnly, [PAYMENT]);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_authorization_details');
    assert.match(refused.body.error_description ?? '', /PSP_PI/);
    assert.equal((await par(aiOnly, [ACCOUNTS])).status, 201);
    assert.equal((await par(qwac, [PAYMENT])).status, 201);
  });

  test("another TPP's valid QWAC does not authenticate this client (invalid_client)", async () => {
    const other = await issue(server.files.ca, {
      subject: tppSubject('Acme Payments Ltd', 'PSDGB-FCA-200002'),
      roles: ['PSP_PI'],
    });
    const { status, body } = await par(other, [PAYMENT]);
    assert.equal(status, 401);
    assert.equal(body.error, 'invalid_client');
  });

  test('the consent page names the TPP from its QWAC; the token endpoint refuses the payment to a certificate without PSP_PI', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const params = new URLSearchParams({
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid payments',
      resource: rs.resource,
      state: 'qwac-consent',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      authorization_details: JSON.stringify([PAYMENT]),
    });
    const pushed = await oauth.processPushedAuthorizationResponse(
      as,
      client(),
      await oauth.pushedAuthorizationRequest(as, client(), oauth.TlsClientAuth(), params, viaTls(tlsOf(qwac))),
    );
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 900 } });
    try {
      const page = await context.newPage();
      const { received } = await interceptCallback(page);
      const url = new URL(as.authorization_endpoint as string);
      url.searchParams.set('client_id', clientId);
      url.searchParams.set('request_uri', pushed.request_uri);
      await page.goto(url.href);
      await completeLogin(page, customer.username, customer.password, customer.totp);

      const identity = page.locator('.request-certificate');
      await identity.waitFor();
      const text = ((await identity.textContent()) ?? '').replace(/\s+/g, ' ');
      assert.match(text, /Identified by its eIDAS certificate/);
      assert.match(text, /Legal name Acme Payments Ltd/);
      assert.match(text, new RegExp(`Authorisation number ${ORG}`));
      assert.match(text, /Authorised by Financial Conduct Authority \(GB-FCA\)/);
      assert.match(text, /payment initiation/);
      assert.match(text, /account information/);
      const csp = (await page.context().request.get(page.url())).headers()['content-security-policy'] ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      await screenshot(page, 'consent-qwac');

      await page.getByRole('button', { name: 'Allow' }).click();
      await page.getByLabel('Everyday account').check();
      await page.getByRole('button', { name: 'Approve' }).click();
      const callback = await received;
      const code = oauth.validateAuthResponse(as, client(), callback, 'qwac-consent');

      // The TPP's certificate was renewed without PSP_PI between consent and token request.
      const exchange = await oauth.authorizationCodeGrantRequest(
        as,
        client(),
        oauth.TlsClientAuth(),
        code,
        REDIRECT_URI,
        verifier,
        viaTls(tlsOf(aiOnly)),
      );
      const body = (await exchange.json()) as Record<string, string>;
      assert.equal(exchange.status, 400, JSON.stringify(body));
      assert.equal(body.error, 'invalid_authorization_details');
      assert.match(body.error_description ?? '', /PSP_PI/);
      assert.equal(body.access_token, undefined);
    } finally {
      await context.close();
    }
  });
});
