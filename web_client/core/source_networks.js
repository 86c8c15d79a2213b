/**
 * The settings page's allow-lists of source networks as typed: one network a line
 * (192.0.2.0/24, 2001:db8::/48, or a single address). Checked here for a quick, named
 * message; the broker checks again (host bits, duplicates) and is the one that decides.
 * No DOM; tested in Node.
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function validAddress(text, version) {
  if (version === 4) return IPV4.test(text);
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`); // the URL parser knows every IPv6 form
    return true;
  } catch {
    return false;
  }
}

/** True for "192.0.2.0/24", "2001:db8::/48", "192.0.2.7", "2001:db8::1". */
export function validNetwork(entry) {
  const [address, prefix, extra] = String(entry).split("/");
  if (extra !== undefined) return false;
  const version = address.includes(":") ? 6 : 4;
  if (!validAddress(address, version)) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

/**
 * The lines of a list, trimmed, blanks and repeats dropped.
 * @param {string} text
 * @param {number} max the broker's limit per list
 * @returns {{ok: true, networks: string[]} | {ok: false, error: string, params: object}}
 *   error is an i18n key
 */
export function readNetworks(text, max) {
  const networks = [];
  for (const line of String(text ?? "").split(/\r?\n/)) {
    const entry = line.trim();
    if (!entry || networks.includes(entry)) continue;
    if (!validNetwork(entry)) return { ok: false, error: "sources.invalid", params: { entry } };
    networks.push(entry);
  }
  if (networks.length > max) return { ok: false, error: "sources.tooMany", params: { max } };
  return { ok: true, networks };
}
