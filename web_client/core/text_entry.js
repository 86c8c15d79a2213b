/**
 * Viewer-side text: what the person composed in the viewer's own text field, as `input`
 * channel messages. Mirrors mamori_protocol/text_input.py: keep the two in step.
 *
 *     {"t":"text","s":"患者"}     NFC, 1..64 code points, no control characters
 *
 * Newline and tab never travel as text: they become the Enter and Tab keys, so a text
 * message cannot submit a form or move focus on the host by itself. Other control
 * characters are dropped. The agent refuses more than 20 text messages a second; the
 * pacer below stays under that so a long soft-keyboard commit is typed, not refused.
 *
 * Sans-I/O: nothing here touches the DOM; the clock and timers are injected.
 */

export const MAX_TEXT_CHARS = 64;
// The agent allows 20 a second with a burst of 20 (TEXT_RATE_PER_S, TEXT_BURST); the page
// keeps a margin for network jitter bunching messages up on the way.
export const PACED_PER_S = 15;
export const PACED_BURST = 10;
// What one commit may queue: a soft keyboard's longest word or an IME's sentence fits
// many times over; more is not typing (and the field never takes a paste).
export const MAX_QUEUED = 64;

const TEXT_ENTRIES = new Set(["host_ime", "viewer_text", "both"]);

/** Whether the clinic's text entry (from the viewer ticket) lets the viewer send text. */
export function allowsViewerText(textEntry) {
  return TEXT_ENTRIES.has(textEntry) && textEntry !== "host_ime";
}

function keyPair(code, key) {
  return [
    JSON.stringify({ t: "key", code, key, down: true }),
    JSON.stringify({ t: "key", code, key, down: false }),
  ];
}

function isControl(cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/**
 * The messages that type `committed` on the host, in order: text in NFC chunks of at most
 * MAX_TEXT_CHARS code points, "\n" (or "\r\n") as Enter, "\t" as Tab, other controls and
 * lone surrogates dropped.
 * @param {string} committed
 * @returns {string[]}
 */
export function textMessages(committed) {
  if (typeof committed !== "string" || committed === "") return [];
  const out = [];
  let chunk = [];
  const flush = () => {
    if (chunk.length) out.push(JSON.stringify({ t: "text", s: chunk.join("") }));
    chunk = [];
  };
  const normalized = committed.replace(/\r\n?/g, "\n").normalize("NFC");
  for (const ch of normalized) {
    const cp = ch.codePointAt(0);
    if (ch === "\n") {
      flush();
      out.push(...keyPair("Enter", "Enter"));
    } else if (ch === "\t") {
      flush();
      out.push(...keyPair("Tab", "Tab"));
    } else if (isControl(cp) || (cp >= 0xd800 && cp <= 0xdfff)) {
      // dropped: never text, and not a key anyone typed
    } else {
      chunk.push(ch);
      if (chunk.length === MAX_TEXT_CHARS) flush();
    }
  }
  flush();
  return out;
}

/**
 * Sends text messages no faster than the agent admits them, and key messages that follow
 * them in the same order (a key never overtakes text queued before it).
 */
export class TextPacer {
  #send;
  #now;
  #timers;
  #queue = [];
  #tokens = PACED_BURST;
  #updated;
  #timer = null;
  dropped = 0;

  /**
   * @param {(message: string) => boolean} send false when the channel is gone
   * @param {{now?: () => number, setTimeout?: Function, clearTimeout?: Function}} [deps]
   */
  constructor(send, deps = {}) {
    this.#send = send;
    this.#now = deps.now ?? (() => performance.now());
    this.#timers = {
      setTimeout: deps.setTimeout ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimeout: deps.clearTimeout ?? ((id) => clearTimeout(id)),
    };
    this.#updated = this.#now();
  }

  /** Queue messages (text or keys); returns how many were dropped for lack of room. */
  push(messages) {
    let dropped = 0;
    for (const message of messages) {
      if (this.#queue.length >= MAX_QUEUED) dropped += 1;
      else this.#queue.push(message);
    }
    this.dropped += dropped;
    this.#pump();
    return dropped;
  }

  /** Messages still waiting. */
  get pending() {
    return this.#queue.length;
  }

  /** Forget everything queued (the session ended). */
  clear() {
    this.#queue = [];
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #refill() {
    const now = this.#now();
    this.#tokens = Math.min(PACED_BURST, this.#tokens + ((now - this.#updated) / 1000) * PACED_PER_S);
    this.#updated = now;
  }

  #pump() {
    if (this.#timer !== null) return;
    this.#refill();
    while (this.#queue.length) {
      const next = this.#queue[0];
      const isText = next.startsWith('{"t":"text"');
      if (isText && this.#tokens < 1) {
        const wait = Math.ceil(((1 - this.#tokens) / PACED_PER_S) * 1000);
        this.#timer = this.#timers.setTimeout(() => {
          this.#timer = null;
          this.#pump();
        }, wait);
        return;
      }
      this.#queue.shift();
      if (isText) this.#tokens -= 1;
      if (!this.#send(next)) {
        this.clear();
        return;
      }
    }
  }
}
