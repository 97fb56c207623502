import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  creationOptionsFromJSON,
  credentialToJSON,
  fromBase64url,
  requestOptionsFromJSON,
  toBase64url,
  type CredentialLike,
} from './json';
import { createPasskey, getPasskey, isIpAddress, type CredentialsLike } from './passkeys';

const bytes = (...values: number[]) => new Uint8Array(values).buffer;
const asArray = (buffer: BufferSource) =>
  Array.from(buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer));

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('base64url', () => {
  it('round-trips every byte value, without padding, with URL-safe letters', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    const text = toBase64url(all);
    expect(text).not.toMatch(/[+/=]/);
    expect(Array.from(new Uint8Array(fromBase64url(text)))).toEqual(Array.from(all));
  });

  it('matches RFC 4648 test vectors', () => {
    const enc = (s: string) => toBase64url(new TextEncoder().encode(s));
    expect(enc('')).toBe('');
    expect(enc('f')).toBe('Zg');
    expect(enc('fo')).toBe('Zm8');
    expect(enc('foo')).toBe('Zm9v');
    expect(enc('foob')).toBe('Zm9vYg');
    expect(toBase64url(bytes(0xfb, 0xff))).toBe('-_8');
  });

  it('accepts padding and refuses what is not base64url', () => {
    expect(asArray(fromBase64url('Zg=='))).toEqual([0x66]);
    expect(() => fromBase64url('Zm9v+')).toThrow(TypeError);
    expect(() => fromBase64url('a')).toThrow(TypeError);
    expect(() => fromBase64url('Zm 9v')).toThrow(TypeError);
  });
});

describe('options JSON without Level 3 in the browser', () => {
  it('decodes the challenge, the user handle and excluded credential ids; keeps the rest', () => {
    const options = creationOptionsFromJSON({
      rp: { id: 'localhost', name: 'Tessera' },
      user: { id: 'AQID', name: 'ada@example.com', displayName: 'Ada' },
      challenge: 'BAUG',
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
      excludeCredentials: [{ type: 'public-key', id: 'Bwg', transports: ['internal'] }],
      authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    });
    expect(asArray(options.challenge)).toEqual([4, 5, 6]);
    expect(asArray(options.user.id)).toEqual([1, 2, 3]);
    expect(options.user.name).toBe('ada@example.com');
    expect(asArray(options.excludeCredentials?.[0]?.id as BufferSource)).toEqual([7, 8]);
    expect(options.excludeCredentials?.[0]?.transports).toEqual(['internal']);
    expect(options.authenticatorSelection?.residentKey).toBe('required');
  });

  it('decodes request options, with or without allowCredentials', () => {
    const usernameless = requestOptionsFromJSON({ challenge: 'AQ', rpId: 'localhost', userVerification: 'preferred' });
    expect(asArray(usernameless.challenge)).toEqual([1]);
    expect(usernameless.allowCredentials).toBeUndefined();
    const mine = requestOptionsFromJSON({ challenge: 'AQ', allowCredentials: [{ type: 'public-key', id: 'AgM' }] });
    expect(asArray(mine.allowCredentials?.[0]?.id as BufferSource)).toEqual([2, 3]);
  });

  it('uses the browser’s own parser when it has one', () => {
    const parsed = { challenge: bytes(9) };
    const parseCreationOptionsFromJSON = vi.fn(() => parsed);
    vi.stubGlobal('PublicKeyCredential', Object.assign(function PublicKeyCredential() {}, { parseCreationOptionsFromJSON }));
    const json = { challenge: 'CQ', user: { id: 'AQ' } };
    expect(creationOptionsFromJSON(json)).toBe(parsed);
    expect(parseCreationOptionsFromJSON).toHaveBeenCalledWith(json);
  });
});

describe('credential JSON', () => {
  const base = {
    id: 'Bwg',
    rawId: bytes(7, 8),
    type: 'public-key',
    authenticatorAttachment: 'platform',
    getClientExtensionResults: () => ({ credProps: { rk: true } }),
  };

  it('serialises a registration like toJSON()', () => {
    const credential: CredentialLike = {
      ...base,
      response: { clientDataJSON: bytes(1), attestationObject: bytes(2, 3), getTransports: () => ['internal', 'hybrid'] },
    };
    expect(credentialToJSON(credential)).toEqual({
      id: 'Bwg',
      rawId: 'Bwg',
      type: 'public-key',
      authenticatorAttachment: 'platform',
      response: { clientDataJSON: 'AQ', attestationObject: 'AgM', transports: ['internal', 'hybrid'] },
      clientExtensionResults: { credProps: { rk: true } },
    });
  });

  it('serialises an assertion like toJSON(), a missing user handle as null', () => {
    const credential: CredentialLike = {
      ...base,
      response: { clientDataJSON: bytes(1), authenticatorData: bytes(2), signature: bytes(3), userHandle: null },
    };
    expect(credentialToJSON(credential)['response']).toEqual({
      clientDataJSON: 'AQ',
      authenticatorData: 'Ag',
      signature: 'Aw',
      userHandle: null,
    });
  });

  it('prefers the browser’s toJSON()', () => {
    const own = { id: 'x', from: 'browser' };
    expect(credentialToJSON({ ...base, response: { clientDataJSON: bytes(1) }, toJSON: () => own })).toBe(own);
  });
});

describe('the ceremonies', () => {
  const assertion = {
    id: 'AQ',
    rawId: bytes(1),
    type: 'public-key',
    response: { clientDataJSON: bytes(1), authenticatorData: bytes(2), signature: bytes(3), userHandle: bytes(4) },
    getClientExtensionResults: () => ({}),
  };

  function container(answer: unknown) {
    const seen: Array<CredentialCreationOptions | CredentialRequestOptions> = [];
    const credentials: CredentialsLike = {
      create: async (options) => {
        seen.push(options);
        return answer as Credential | null;
      },
      get: async (options) => {
        seen.push(options);
        return answer as Credential | null;
      },
    };
    return { credentials, seen };
  }

  it('get passes mediation and the abort signal, and answers the JSON form', async () => {
    const { credentials, seen } = container(assertion);
    const controller = new AbortController();
    const json = await getPasskey({ challenge: 'AQ' }, { mediation: 'conditional', signal: controller.signal }, credentials);
    expect(json['rawId']).toBe('AQ');
    const request = seen[0] as CredentialRequestOptions;
    expect(request.mediation).toBe('conditional');
    expect(request.signal).toBe(controller.signal);
    expect(asArray(request.publicKey?.challenge as BufferSource)).toEqual([1]);
  });

  it('an empty answer is a NotAllowedError, like a cancel', async () => {
    const { credentials } = container(null);
    const err = await createPasskey({ challenge: 'AQ', user: { id: 'AQ' } }, credentials).catch((e: unknown) => e);
    expect((err as Error).name).toBe('NotAllowedError');
  });
});

describe('where passkeys can work', () => {
  it('never on an IP-address host (WebAuthn refuses it as relying-party id)', () => {
    expect(isIpAddress('127.0.0.1')).toBe(true);
    expect(isIpAddress('[::1]')).toBe(true);
    expect(isIpAddress('::1')).toBe(true);
    expect(isIpAddress('localhost')).toBe(false);
    expect(isIpAddress('auth.example.com')).toBe(false);
    expect(isIpAddress('1.2.3.example')).toBe(false);
  });
});
