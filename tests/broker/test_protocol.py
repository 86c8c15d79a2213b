"""The signaling wire schema, tested with plain data (no sockets)."""

from __future__ import annotations

import dataclasses
import json

import pytest

import mamori_protocol as protocol
from mamori_protocol import CloseCode, Direction

pytestmark = pytest.mark.unit

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
SID = "A" * 22
START = protocol.SessionStart(
    SID,
    "clinic-pc-1",
    "山田 太郎",
    "yamada",
    "さくら内科クリニック",
    watermark=True,
    block_local_input=False,
    end_on_violation=True,
    idle_s=600,
    max_s=28800,
    view_only=False,
)


def frame(**fields: object) -> str:
    return json.dumps(fields)


@pytest.mark.parametrize(
    ("message", "direction"),
    [
        (protocol.AgentHello("clinic-pc-1", "受付PC", "0.1.0"), Direction.AGENT_TO_BROKER),
        (protocol.ViewerJoin("clinic-pc-1"), Direction.VIEWER_TO_BROKER),
        (START, Direction.BROKER_TO_AGENT),
        (
            protocol.Violation("foreign_channel", "channel 'clipboard'", SID),
            Direction.AGENT_TO_BROKER,
        ),
        (protocol.Notice("ending_soon", 300), Direction.BROKER_TO_VIEWER),
        (protocol.Offer(SDP), Direction.VIEWER_TO_BROKER),
        (protocol.Offer(SDP, SID), Direction.BROKER_TO_AGENT),
        (protocol.Answer(SDP, SID), Direction.AGENT_TO_BROKER),
        (protocol.Answer(SDP), Direction.BROKER_TO_VIEWER),
        (
            protocol.IceCandidate("candidate:1 1 udp 1 10.0.0.1 5000 typ host", "0", 0),
            Direction.VIEWER_TO_BROKER,
        ),
        (protocol.IceCandidate("", None, None), Direction.BROKER_TO_VIEWER),
        (protocol.Bye("viewer_left"), Direction.VIEWER_TO_BROKER),
        (protocol.Bye("host_disconnected", SID), Direction.BROKER_TO_AGENT),
        (protocol.Error("unknown_host", "no such host"), Direction.BROKER_TO_VIEWER),
    ],
)
def test_every_message_type_round_trips(message: protocol.Message, direction: Direction) -> None:
    """Each message type encodes to JSON and parses back to an equal value."""
    assert protocol.parse(protocol.encode(message), direction) == message


@pytest.mark.parametrize(
    ("raw", "error", "code"),
    [
        (b'{"type":"bye"}', protocol.MalformedMessage, CloseCode.MALFORMED),
        ("{", protocol.MalformedMessage, CloseCode.MALFORMED),
        ("[1,2]", protocol.MalformedMessage, CloseCode.MALFORMED),
        (frame(reason="x"), protocol.MalformedMessage, CloseCode.MALFORMED),
        (frame(type=5), protocol.MalformedMessage, CloseCode.MALFORMED),
        (
            frame(type="clipboard", text="secret"),
            protocol.UnknownMessageType,
            CloseCode.UNKNOWN_TYPE,
        ),
        (frame(type="file", name="a.pdf"), protocol.UnknownMessageType, CloseCode.UNKNOWN_TYPE),
        (frame(type="answer", sdp=SDP), protocol.UnexpectedMessage, CloseCode.UNEXPECTED),
        (
            frame(type="agent_hello", host_id="a", name="n", version="1"),
            protocol.UnexpectedMessage,
            CloseCode.UNEXPECTED,
        ),
        (frame(type="viewer_join"), protocol.MalformedMessage, CloseCode.MALFORMED),
        (
            frame(type="viewer_join", host_id="a", extra=1),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (
            frame(type="viewer_join", host_id="UPPER"),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (
            frame(type="viewer_join", host_id="a" * 64),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (frame(type="viewer_join", host_id=["a"]), protocol.MalformedMessage, CloseCode.MALFORMED),
        (
            frame(type="viewer_join", host_id="a", session_id=SID),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (frame(type="offer", sdp="hello"), protocol.MalformedMessage, CloseCode.MALFORMED),
        (frame(type="offer", sdp="v=0\x00"), protocol.MalformedMessage, CloseCode.MALFORMED),
        (frame(type="offer", sdp=""), protocol.MalformedMessage, CloseCode.MALFORMED),
        (
            frame(type="ice", candidate="a=candidate:1"),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (
            frame(type="ice", candidate="candidate:1\r\nx"),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (
            frame(type="ice", candidate="", sdp_mline_index=True),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (
            frame(type="ice", candidate="", sdp_mline_index=99),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (
            frame(type="ice", candidate="", sdp_mline_index=1.5),
            protocol.MalformedMessage,
            CloseCode.MALFORMED,
        ),
        (frame(type="bye", reason="Not A Token"), protocol.MalformedMessage, CloseCode.MALFORMED),
    ],
)
def test_viewer_messages_are_refused_with_the_right_close_code(
    raw: str | bytes, error: type[protocol.ProtocolError], code: CloseCode
) -> None:
    """Binary, non-JSON, unknown, misdirected or ill-formed viewer frames are refused."""
    with pytest.raises(error) as refused:
        protocol.parse(raw, Direction.VIEWER_TO_BROKER)
    assert refused.value.close_code == code
    assert refused.value.reason


def test_oversized_frame_is_refused_before_parsing() -> None:
    """A frame over 64 KiB is MessageTooBig (close 1009), even if it is valid JSON."""
    raw = frame(type="offer", sdp="v=0" + "x" * protocol.MAX_MESSAGE_BYTES)
    with pytest.raises(protocol.MessageTooBig) as refused:
        protocol.parse(raw, Direction.VIEWER_TO_BROKER)
    assert refused.value.close_code == CloseCode.MESSAGE_TOO_BIG


def test_multibyte_text_counts_in_bytes() -> None:
    """The limit is on UTF-8 bytes: 30,000 three-byte characters (90 kB) are too big."""
    raw = json.dumps({"type": "error", "code": "x", "message": "あ" * 30_000}, ensure_ascii=False)
    assert len(raw) < protocol.MAX_MESSAGE_BYTES
    with pytest.raises(protocol.MessageTooBig):
        protocol.parse(raw, Direction.BROKER_TO_VIEWER)


def test_broker_to_agent_messages_must_name_the_session() -> None:
    """Offers relayed to an agent without a session id are refused by the agent."""
    with pytest.raises(protocol.MalformedMessage):
        protocol.parse(frame(type="offer", sdp=SDP), Direction.BROKER_TO_AGENT)


def test_session_id_must_be_a_random_token() -> None:
    """A short or oddly shaped session id is refused."""
    with pytest.raises(protocol.MalformedMessage):
        protocol.parse(frame(type="bye", reason="x", session_id="short"), Direction.AGENT_TO_BROKER)


def test_host_name_must_be_one_printable_line() -> None:
    """An agent name with a newline or control character is refused."""
    for name in ("a\nb", "a\x07", ""):
        with pytest.raises(protocol.MalformedMessage):
            protocol.parse(
                frame(type="agent_hello", host_id="pc", name=name, version="1"),
                Direction.AGENT_TO_BROKER,
            )


def test_encode_refuses_what_parse_would_refuse() -> None:
    """A sender cannot put an invalid message on the wire."""
    with pytest.raises(protocol.MalformedMessage):
        protocol.encode(protocol.ViewerJoin("Bad Host"))


def test_close_reason_fits_the_websocket_limit() -> None:
    """Close reasons are truncated to the 123 bytes a WebSocket close frame allows."""
    error = protocol.MalformedMessage("理由" * 100)
    assert len(error.reason.encode()) <= 123


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"watermark": 1}, "true or false"),
        ({"idle_s": True}, "integer"),
        ({"max_s": -1}, "0.."),
        ({"max_s": 10**9}, "0.."),
        ({"viewer_id": "Yamada Taro"}, "invalid characters"),
        ({"organization": "a\nb"}, "one line"),
        ({"viewer_name": ""}, "1..100"),
        ({"view_only": "yes"}, "true or false"),
        ({"view_only": 1}, "true or false"),
        ({"time_zone": "../../etc/passwd"}, "invalid characters"),
        ({"time_zone": "Asia/Tokyo\n"}, "invalid characters"),
        ({"time_zone": "A" * 65}, "1..64"),
        ({"time_zone": 9}, "string"),
    ],
)
def test_session_start_fields_are_checked(change: dict[str, object], why: str) -> None:
    """The policy an agent enforces arrives typed and bounded, or not at all."""
    data = json.loads(protocol.encode(START))
    data.update(change)
    with pytest.raises(protocol.MalformedMessage, match=why):
        protocol.parse(json.dumps(data), Direction.BROKER_TO_AGENT)


def test_session_start_without_view_only_is_refused() -> None:
    """An agent is never left to guess whether input is allowed: the field is required."""
    data = json.loads(protocol.encode(START))
    del data["view_only"]
    with pytest.raises(protocol.MalformedMessage, match="missing field"):
        protocol.parse(json.dumps(data), Direction.BROKER_TO_AGENT)


def test_session_start_may_name_the_clinics_time_zone() -> None:
    """The zone is optional (an older broker sends none) and round-trips when given."""
    plain = protocol.parse(protocol.encode(START), Direction.BROKER_TO_AGENT)
    assert isinstance(plain, protocol.SessionStart)
    assert plain.time_zone is None
    assert "time_zone" not in protocol.encode(START)
    zoned = dataclasses.replace(START, time_zone="America/Argentina/Buenos_Aires")
    assert protocol.parse(protocol.encode(zoned), Direction.BROKER_TO_AGENT) == zoned


def test_session_start_only_travels_from_broker_to_agent() -> None:
    """A viewer cannot send a policy to the broker, nor the broker relay one to a viewer."""
    text = protocol.encode(START)
    for direction in (
        Direction.VIEWER_TO_BROKER,
        Direction.BROKER_TO_VIEWER,
        Direction.AGENT_TO_BROKER,
    ):
        with pytest.raises(protocol.UnexpectedMessage):
            protocol.parse(text, direction)


@pytest.mark.parametrize("reason", ["ended_by_admin", "idle_timeout", "max_session_time", "x"])
def test_a_viewer_cannot_give_the_brokers_reasons_for_its_bye(reason: str) -> None:
    """A viewer's bye says only viewer_left, peer_failed or webrtc: a page writing
    ended_by_admin (or any other reason) into the audit trail is refused."""
    with pytest.raises(protocol.MalformedMessage):
        protocol.parse(f'{{"type":"bye","reason":"{reason}"}}', Direction.VIEWER_TO_BROKER)
    for allowed in sorted(protocol.VIEWER_BYE_REASONS):
        raw = f'{{"type":"bye","reason":"{allowed}"}}'
        assert protocol.parse(raw, Direction.VIEWER_TO_BROKER) == protocol.Bye(allowed)
    # The broker's own reasons still reach the viewer.
    raw = f'{{"type":"bye","reason":"{reason}"}}'
    assert protocol.parse(raw, Direction.BROKER_TO_VIEWER) == protocol.Bye(reason)
