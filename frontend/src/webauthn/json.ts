// The WebAuthn JSON forms the server speaks (DESIGN.md: options as `{publicKey: …}` in the
// Level 3 JSON dictionaries, credentials as the browser's `PublicKeyCredential.toJSON()`).
//
// Browsers with WebAuthn Level 3 (Chromium 129+, Firefox 119+, Safari 18.4+) convert both ways
// themselves (`parseCreationOptionsFromJSON`, `parseRequestOptionsFromJSON`, `toJSON`); the rest
// get the same conversion done here: the JSON forms differ from the binary ones only in that
// every BufferSource is a base64url string (no padding).

/** RFC 4648 §5 base64url without padding. */
export function toBase64url(bytes: ArrayBuffer | ArrayBufferView): string {
  const view =
    bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let binary = '';
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes base64url (padding optional); throws a TypeError on anything else. */
export function fromBase64url(text: string): ArrayBuffer {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new TypeError('not base64url');
  }
  const base64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => !!value && typeof value === 'object' && !Array.isArray(value);

function descriptorsFromJSON(list: unknown): PublicKeyCredentialDescriptor[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.filter(isObject).map((d) => ({ ...d, id: fromBase64url(String(d['id'])) }) as PublicKeyCredentialDescriptor);
}

/** The static conversions of Level 3, when the browser has them. */
interface Level3Statics {
  parseCreationOptionsFromJSON?: (options: PublicKeyCredentialCreationOptionsJSON) => PublicKeyCredentialCreationOptions;
  parseRequestOptionsFromJSON?: (options: PublicKeyCredentialRequestOptionsJSON) => PublicKeyCredentialRequestOptions;
}

function statics(): Level3Statics | undefined {
  return (globalThis as { PublicKeyCredential?: Level3Statics }).PublicKeyCredential;
}

/** `PublicKeyCredentialCreationOptionsJSON` (the `publicKey` member of an options answer) → options. */
export function creationOptionsFromJSON(json: Json): PublicKeyCredentialCreationOptions {
  const native = statics()?.parseCreationOptionsFromJSON;
  if (native) return native(json as unknown as PublicKeyCredentialCreationOptionsJSON);
  const user = isObject(json['user']) ? json['user'] : {};
  const options = {
    ...json,
    challenge: fromBase64url(String(json['challenge'])),
    user: { ...user, id: fromBase64url(String(user['id'])) },
  } as unknown as PublicKeyCredentialCreationOptions;
  const exclude = descriptorsFromJSON(json['excludeCredentials']);
  if (exclude) options.excludeCredentials = exclude;
  return options;
}

/** `PublicKeyCredentialRequestOptionsJSON` → options. */
export function requestOptionsFromJSON(json: Json): PublicKeyCredentialRequestOptions {
  const native = statics()?.parseRequestOptionsFromJSON;
  if (native) return native(json as unknown as PublicKeyCredentialRequestOptionsJSON);
  const options = { ...json, challenge: fromBase64url(String(json['challenge'])) } as unknown as PublicKeyCredentialRequestOptions;
  const allow = descriptorsFromJSON(json['allowCredentials']);
  if (allow) options.allowCredentials = allow;
  return options;
}

/** The parts of a PublicKeyCredential the JSON form is made of (also what tests fake). */
export interface CredentialLike {
  id: string;
  rawId: ArrayBuffer;
  type: string;
  authenticatorAttachment?: string | null;
  response: {
    clientDataJSON: ArrayBuffer;
    attestationObject?: ArrayBuffer;
    getTransports?: () => string[];
    authenticatorData?: ArrayBuffer;
    signature?: ArrayBuffer;
    userHandle?: ArrayBuffer | null;
  };
  getClientExtensionResults(): AuthenticationExtensionsClientOutputs;
  toJSON?: () => unknown;
}

/**
 * The credential as `toJSON()` makes it: the browser's own when it has one, else the same shape
 * built here (registration: clientDataJSON, attestationObject, transports; assertion:
 * clientDataJSON, authenticatorData, signature, userHandle).
 */
export function credentialToJSON(credential: CredentialLike): Json {
  if (typeof credential.toJSON === 'function') return credential.toJSON() as Json;
  const { response } = credential;
  const out: Json = { clientDataJSON: toBase64url(response.clientDataJSON) };
  if (response.attestationObject) {
    out['attestationObject'] = toBase64url(response.attestationObject);
    out['transports'] = response.getTransports?.() ?? [];
  } else {
    if (response.authenticatorData) out['authenticatorData'] = toBase64url(response.authenticatorData);
    if (response.signature) out['signature'] = toBase64url(response.signature);
    out['userHandle'] = response.userHandle ? toBase64url(response.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    response: out,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}
