/**
 * WebAuthn JSON <-> browser objects, without the DOM: the broker sends creation and request
 * options as JSON (binary fields base64url, the W3C "JSON form"), the browser API wants
 * ArrayBuffers, and the answer goes back as JSON again. Newer browsers do this themselves
 * (PublicKeyCredential.parseCreationOptionsFromJSON, credential.toJSON); these functions
 * make older ones work the same way and are unit-tested in Node.
 */

/** @param {string} text base64url, padding optional @returns {Uint8Array} */
export function fromBase64url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) {
    throw new TypeError("not base64url");
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
  return out;
}

/** @param {ArrayBuffer | ArrayBufferView} data @returns {string} base64url without padding */
export function toBase64url(data) {
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptors(list) {
  return (Array.isArray(list) ? list : []).map((item) => ({
    ...item,
    id: fromBase64url(item.id),
  }));
}

/** Options for credentials.create({publicKey}) from the broker's JSON. */
export function creationOptionsFromJSON(json) {
  if (!json || typeof json !== "object" || !json.user || !json.challenge) {
    throw new TypeError("not WebAuthn creation options");
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials),
  };
}

/** Options for credentials.get({publicKey}) from the broker's JSON. */
export function requestOptionsFromJSON(json) {
  if (!json || typeof json !== "object" || !json.challenge) {
    throw new TypeError("not WebAuthn request options");
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    allowCredentials: descriptors(json.allowCredentials),
  };
}

/**
 * A PublicKeyCredential (from create or get) as JSON for the broker.
 * @param {{id: string, rawId: ArrayBuffer, type: string, response: object,
 *   authenticatorAttachment?: string|null, getClientExtensionResults?: () => object}} credential
 */
export function credentialToJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    if (typeof r.getTransports === "function") response.transports = r.getTransports();
  }
  if (r.authenticatorData) response.authenticatorData = toBase64url(r.authenticatorData);
  if (r.signature) response.signature = toBase64url(r.signature);
  if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    clientExtensionResults:
      typeof credential.getClientExtensionResults === "function"
        ? credential.getClientExtensionResults()
        : {},
  };
}
