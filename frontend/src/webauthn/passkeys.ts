// The browser side of the passkey ceremonies: options JSON from the server in, credential JSON
// for the server out. The credentials container is injectable so the logic is tested in Node.

import { creationOptionsFromJSON, credentialToJSON, requestOptionsFromJSON, type CredentialLike } from './json';

type Json = Record<string, unknown>;

export interface CredentialsLike {
  create(options: CredentialCreationOptions): Promise<Credential | null>;
  get(options: CredentialRequestOptions): Promise<Credential | null>;
}

interface PublicKeyCredentialStatics {
  isConditionalMediationAvailable?: () => Promise<boolean>;
}

function container(): CredentialsLike | undefined {
  return globalThis.navigator?.credentials as CredentialsLike | undefined;
}

/**
 * Whether `hostname` is an IP address (v4, or v6 as URL.hostname gives it, in brackets). WebAuthn
 * refuses those as relying-party ids: on such an origin no passkey ceremony can succeed, so the
 * SPA does not offer one nor ask the server (which answers 409 `passkeys_unavailable` there).
 */
export function isIpAddress(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.startsWith('[') || hostname.includes(':');
}

/** Whether this page can make and use passkeys at all: a browser with WebAuthn, on a host name. */
export function webauthnAvailable(): boolean {
  const hostname = globalThis.location?.hostname ?? '';
  return (
    typeof (globalThis as { PublicKeyCredential?: unknown }).PublicKeyCredential === 'function' &&
    !!container() &&
    !isIpAddress(hostname)
  );
}

/** Whether the browser offers passkeys in the autofill of a `webauthn` field. */
export async function conditionalMediationAvailable(): Promise<boolean> {
  if (!webauthnAvailable()) return false;
  const statics = (globalThis as { PublicKeyCredential?: PublicKeyCredentialStatics }).PublicKeyCredential;
  try {
    return (await statics?.isConditionalMediationAvailable?.()) ?? false;
  } catch {
    return false;
  }
}

/** A `create`/`get` that answered no credential, which the spec allows and no browser does. */
class NoCredential extends Error {
  override readonly name = 'NotAllowedError';
}

/** Registration: `publicKey` is the member of POST /api/me/passkeys/options's answer. */
export async function createPasskey(publicKey: Json, credentials: CredentialsLike | undefined = container()): Promise<Json> {
  if (!credentials) throw new NoCredential('this browser has no WebAuthn');
  const credential = await credentials.create({ publicKey: creationOptionsFromJSON(publicKey) });
  if (!credential) throw new NoCredential('no credential was made');
  return credentialToJSON(credential as unknown as CredentialLike);
}

export interface GetOptions {
  /** `conditional` for autofill; the modal prompt otherwise. */
  mediation?: CredentialMediationRequirement;
  signal?: AbortSignal;
}

/** An assertion for one of the request options endpoints (login, MFA, re-authentication). */
export async function getPasskey(
  publicKey: Json,
  { mediation, signal }: GetOptions = {},
  credentials: CredentialsLike | undefined = container(),
): Promise<Json> {
  if (!credentials) throw new NoCredential('this browser has no WebAuthn');
  const request: CredentialRequestOptions = { publicKey: requestOptionsFromJSON(publicKey) };
  if (mediation) request.mediation = mediation;
  if (signal) request.signal = signal;
  const credential = await credentials.get(request);
  if (!credential) throw new NoCredential('no credential was chosen');
  return credentialToJSON(credential as unknown as CredentialLike);
}

/** The browser gave up because this page aborted the request (autofill stopped): no message. */
export function isAborted(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/**
 * A sentence for a failure of the browser's ceremony (not of the server), or null when `err` is
 * not one. Browsers deliberately say little: NotAllowedError covers cancel, timeout and "no
 * passkey for this site" alike.
 */
export function browserPasskeyError(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  switch (err.name) {
    case 'NotAllowedError':
      return 'The passkey request was cancelled or timed out, or no passkey for this site was chosen.';
    case 'InvalidStateError':
      return 'This authenticator already holds a passkey for your account.';
    case 'SecurityError':
      return 'This address cannot use passkeys. Open the app at its public address.';
    case 'NotSupportedError':
      return 'This authenticator does not support the kind of passkey this site needs.';
    case 'AbortError':
      return 'The passkey request was stopped.';
    default:
      return null;
  }
}
