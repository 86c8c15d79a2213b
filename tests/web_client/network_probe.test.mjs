// web_client/core/network_probe.js: the browser's public address from a throwaway peer
// connection that asks the ticket's STUN servers only. Fakes of RTCPeerConnection and timers.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  PROBE_TIMEOUT_MS,
  networkChanged,
  publicAddresses,
  reflexiveAddress,
  stunServersOf,
} from "../../web_client/core/network_probe.js";

const SRFLX = (ip) => `candidate:1 1 udp 1677729535 ${ip} 40000 typ srflx raddr 0.0.0.0 rport 0`;
const HOST = "candidate:2 1 udp 2122260223 9b36eaac-bb2e-49bb.local 50000 typ host";

class FakeTimers {
  due = new Map();
  #next = 1;
  setTimeout = (fn, ms) => {
    const id = this.#next++;
    this.due.set(id, { fn, ms });
    return id;
  };
  clearTimeout = (id) => this.due.delete(id);
  fire() {
    for (const [id, { fn }] of [...this.due]) {
      this.due.delete(id);
      fn();
    }
  }
}

class FakePeer {
  static made = [];
  listeners = [];
  closed = false;
  constructor(config) {
    this.config = config;
    FakePeer.made.push(this);
  }
  addEventListener(type, fn) {
    if (type === "icecandidate") this.listeners.push(fn);
  }
  createDataChannel(label) {
    this.channel = label;
  }
  async createOffer() {
    return { type: "offer", sdp: "v=0\r\n" };
  }
  async setLocalDescription(description) {
    this.local = description;
  }
  close() {
    this.closed = true;
  }
  candidate(line) {
    for (const fn of this.listeners) fn({ candidate: line === null ? null : { candidate: line } });
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));
const SERVERS = [
  { urls: ["stun:turn.example.jp:3478", "turn:turn.example.jp:3478?transport=udp"], username: "u", credential: "c" },
  { urls: ["turns:turn.example.jp:443?transport=tcp"], username: "u", credential: "c" },
];

test("only the ticket's stun: URLs are asked, without credentials", () => {
  assert.deepEqual(stunServersOf(SERVERS), [{ urls: ["stun:turn.example.jp:3478"] }]);
  assert.deepEqual(stunServersOf([{ urls: ["turn:t:3478"] }]), []);
  assert.deepEqual(stunServersOf(undefined), []);
  assert.deepEqual(stunServersOf([null, { urls: "stun:x" }]), []);
});

test("a server-reflexive candidate line gives its address; anything else null", () => {
  assert.equal(reflexiveAddress(SRFLX("198.51.100.7")), "198.51.100.7");
  assert.equal(reflexiveAddress(HOST), null);
  assert.equal(reflexiveAddress("candidate:1 1 udp 1 198.51.100.7 1 typ relay raddr 0.0.0.0 rport 0"), null);
  assert.equal(reflexiveAddress("typ srflx"), null);
  assert.equal(reflexiveAddress(undefined), null);
});

test("networkChanged: both known and no address shared", () => {
  const wifi = new Set(["198.51.100.7"]);
  assert.equal(networkChanged(wifi, new Set(["203.0.113.40"])), true);
  assert.equal(networkChanged(wifi, new Set(["198.51.100.7"])), false, "same network");
  assert.equal(networkChanged(wifi, new Set(["203.0.113.40", "198.51.100.7"])), false);
  assert.equal(networkChanged(wifi, new Set()), false, "no answer (an outage): inconclusive");
  assert.equal(networkChanged(wifi, null), false);
  assert.equal(networkChanged(new Set(), new Set(["203.0.113.40"])), false, "no baseline");
});

test("no STUN server: nothing is probed", async () => {
  FakePeer.made = [];
  const timers = new FakeTimers();
  assert.equal(await publicAddresses(FakePeer, [{ urls: ["turn:t:3478"] }], timers), null);
  assert.equal(FakePeer.made.length, 0);
});

test("gathering to the end collects every reflexive address and closes the probe", async () => {
  FakePeer.made = [];
  const timers = new FakeTimers();
  const result = publicAddresses(FakePeer, SERVERS, timers);
  await flush();
  const [peer] = FakePeer.made;
  assert.deepEqual(peer.config, { iceServers: [{ urls: ["stun:turn.example.jp:3478"] }], iceTransportPolicy: "all" });
  assert.equal(peer.local.type, "offer", "gathering started");
  peer.candidate(HOST);
  peer.candidate(SRFLX("198.51.100.7"));
  peer.candidate(SRFLX("198.51.100.8"));
  peer.candidate(null);
  assert.deepEqual([...(await result)], ["198.51.100.7", "198.51.100.8"]);
  assert.equal(peer.closed, true);
  assert.equal(timers.due.size, 0, "its timeout cleared");
});

test("first: the first reflexive address ends the probe", async () => {
  FakePeer.made = [];
  const timers = new FakeTimers();
  const result = publicAddresses(FakePeer, SERVERS, timers, { first: true });
  await flush();
  FakePeer.made[0].candidate(SRFLX("203.0.113.40"));
  assert.deepEqual([...(await result)], ["203.0.113.40"]);
  assert.equal(FakePeer.made[0].closed, true);
});

test("nothing answers: the timeout ends it with an empty set", async () => {
  FakePeer.made = [];
  const timers = new FakeTimers();
  const result = publicAddresses(FakePeer, SERVERS, timers, { first: true });
  await flush();
  assert.deepEqual([...timers.due.values()].map((t) => t.ms), [PROBE_TIMEOUT_MS]);
  timers.fire();
  assert.equal((await result).size, 0);
  assert.equal(FakePeer.made[0].closed, true);
});

test("a browser that refuses the probe: null, never a rejection", async () => {
  class Refusing extends FakePeer {
    async createOffer() {
      throw new Error("no");
    }
  }
  const timers = new FakeTimers();
  assert.equal(await publicAddresses(Refusing, SERVERS, timers), null);
  class Throwing {
    constructor() {
      throw new Error("blocked");
    }
  }
  assert.equal(await publicAddresses(Throwing, SERVERS, timers), null);
});
