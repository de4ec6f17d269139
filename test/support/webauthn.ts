// Chromium's virtual authenticator (DevTools Protocol, WebAuthn domain) as the customer's security
// key or passkey, and a quicker way to give a customer one: a P-256 key made here, its public half
// stored for the customer as a registration would, its private half loaded into the authenticator.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { CDPSession, Page } from 'playwright-core';
import { submitForStatus } from './browser.ts';
import type { TestServer } from './server.ts';

/** WebAuthn.VirtualAuthenticatorOptions of the DevTools Protocol (the fields the tests set). */
interface Options {
  protocol?: 'ctap2' | 'u2f';
  transport?: 'usb' | 'nfc' | 'ble' | 'cable' | 'internal';
  hasResidentKey?: boolean;
  hasUserVerification?: boolean;
  isUserVerified?: boolean;
  automaticPresenceSimulation?: boolean;
  defaultBackupEligibility?: boolean;
  defaultBackupState?: boolean;
}

/** WebAuthn.Credential of the DevTools Protocol; binary fields in base64. */
export interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  /** ECDSA P-256 private key, PKCS#8. */
  privateKey: string;
  userHandle?: string;
  signCount: number;
  backupEligibility?: boolean;
  backupState?: boolean;
}

export class VirtualAuthenticator {
  readonly cdp: CDPSession;
  readonly id: string;

  private constructor(cdp: CDPSession, id: string) {
    this.cdp = cdp;
    this.id = id;
  }

  /** A platform authenticator with resident keys and user verification (a passkey on this device). */
  static async attach(page: Page, options: Options = {}): Promise<VirtualAuthenticator> {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
        ...options,
      },
    });
    return new VirtualAuthenticator(cdp, authenticatorId);
  }

  async credentials(): Promise<VirtualCredential[]> {
    return (await this.cdp.send('WebAuthn.getCredentials', { authenticatorId: this.id })).credentials;
  }

  async add(credential: VirtualCredential): Promise<void> {
    await this.cdp.send('WebAuthn.addCredential', { authenticatorId: this.id, credential });
  }
}

/** CDP binary (base64) as the base64url the server stores. */
export const base64url = (cdpBinary: string) => Buffer.from(cdpBinary, 'base64').toString('base64url');

export interface SecurityKey {
  factorId: string;
  /** base64url, as stored. */
  credentialId: string;
  /** The credential as an authenticator holds it (private key included): add it to any page's authenticator. */
  credential: VirtualCredential;
}

/**
 * Registers a key for the customer without the dashboard (tests of what comes after enrolment):
 * the public key goes to the database as a verified registration leaves it, the credential to
 * `authenticator`. `backupEligible` makes it a synced passkey.
 */
export async function giveSecurityKey(
  server: TestServer,
  customerId: string,
  authenticator: VirtualAuthenticator,
  options: { backupEligible?: boolean; name?: string } = {},
): Promise<SecurityKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  // COSE_Key (RFC 9053): kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))],
      [-3, new Uint8Array(Buffer.from(jwk.y as string, 'base64url'))],
    ]),
  );
  const id = randomBytes(32);
  const store = server.server.services.authentication.webauthnStore;
  const factorId = await store.add(customerId, options.name ?? 'Test key', {
    credentialId: id.toString('base64url'),
    publicKey: new Uint8Array(cose),
    signCount: 0,
    transports: ['internal'],
    aaguid: '00000000-0000-0000-0000-000000000000',
    backupEligible: options.backupEligible ?? false,
  });
  if (!factorId) throw new Error('the key was not stored');
  const credential: VirtualCredential = {
    credentialId: id.toString('base64'),
    isResidentCredential: true,
    rpId: new URL(server.issuer).hostname,
    privateKey: (privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64'),
    userHandle: Buffer.from(await store.userHandle(customerId)).toString('base64'),
    signCount: 0,
    backupEligibility: options.backupEligible ?? false,
    backupState: options.backupEligible ?? false,
  };
  await authenticator.add(credential);
  return { factorId, credentialId: id.toString('base64url'), credential };
}

/** The second-factor page's button that asks the browser for a security key or passkey. */
export const KEY_BUTTON = /with your key$/;

/** Presses the page's key button; the virtual authenticator answers; the status of the form's POST. */
export function touchKey(page: Page): Promise<number> {
  return submitForStatus(page, page.getByRole('button', { name: KEY_BUTTON }), /\/factor$/);
}
