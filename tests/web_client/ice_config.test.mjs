// web_client/core/ice_config.js: the viewer's peer connection configuration from a ticket.
import assert from "node:assert/strict";
import { test } from "node:test";

import { iceServersOf, isRelayCandidate, peerConfiguration } from "../../web_client/core/ice_config.js";

const TURN = {
  urls: ["turn:turn.example.jp:3478?transport=udp", "turns:turn.example.jp:443?transport=tcp"],
  username: "1764800000:user7",
  credential: "bWFtb3JpLXRlc3Q=",
};

test("the ticket's servers and policy become the RTCConfiguration", () => {
  const config = peerConfiguration({ iceServers: [{ urls: ["stun:turn.example.jp:3478"] }, TURN], icePolicy: "relay" });
  assert.deepEqual(config, {
    iceServers: [{ urls: ["stun:turn.example.jp:3478"] }, TURN],
    iceTransportPolicy: "relay",
  });
  assert.deepEqual(peerConfiguration({}), { iceServers: [], iceTransportPolicy: "all" });
  assert.equal(peerConfiguration({ icePolicy: "RELAY" }).iceTransportPolicy, "all");
});

test("servers of another shape are dropped, not passed to the browser", () => {
  assert.deepEqual(iceServersOf("turn:x"), []);
  assert.deepEqual(iceServersOf([{ urls: ["http://evil.example/"] }, { urls: "stun:x" }, null]), []);
  assert.deepEqual(iceServersOf([{ urls: ["stun:a", "javascript:alert(1)"] }]), [{ urls: ["stun:a"] }]);
  assert.equal(iceServersOf(Array.from({ length: 20 }, () => ({ urls: ["stun:a"] }))).length, 8);
});

test("relay candidates are told apart by their type", () => {
  assert.equal(isRelayCandidate("candidate:1 1 udp 41885439 203.0.113.1 50000 typ relay raddr 0.0.0.0 rport 0"), true);
  assert.equal(isRelayCandidate("candidate:1 1 udp 2122260223 198.51.100.10 50000 typ host"), false);
  assert.equal(isRelayCandidate("candidate:1 1 udp 1686052607 203.0.113.34 50000 typ srflx"), false);
  assert.equal(isRelayCandidate(null), false);
});
