"""The password policy (R7 checklist ⑦⑧) and argon2id hashing."""

from __future__ import annotations

import pytest

from broker.errors import PasswordRejected
from broker.identity import passwords

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "password",
    ["Kyoto#2024x", "診察室-7-Blue", "ｋｙｏｔｏ＃２０２４ｘ", "correct horse battery"],
    ids=["8+-three-kinds", "japanese-letters", "full-width", "13+-plain"],
)
def test_passwords_meeting_the_policy_are_accepted(password: str) -> None:
    """8+ characters of letters, digits and symbols, or 13+ of anything, are accepted."""
    assert passwords.check_policy(password, "tanaka") == passwords.normalize(password)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Ky#2024", "too_short"),  # 7 characters of three kinds
        ("kyotoclinic2", "too_short"),  # 12 characters, two kinds
        ("aaaaaaaaaaaaaaaa", "too_simple"),
        ("x" * 129, "too_long"),
        ("Password123!", "common"),
        ("iloveyou#2024", "common"),
        ("qwertyuiop1234", "common"),
        ("tanaka-2024!xyz", "username"),
    ],
    ids=[
        "7-chars",
        "12-two-kinds",
        "one-char",
        "129-chars",
        "common",
        "common-decorated",
        "common-13",
        "contains-user-name",
    ],
)
def test_passwords_breaking_a_rule_are_refused_with_its_reason(password: str, reason: str) -> None:
    """Each rule refuses with a stable reason token the page translates."""
    with pytest.raises(PasswordRejected) as refused:
        passwords.check_policy(password, "tanaka")
    assert refused.value.reason == reason


def test_common_list_is_shipped_and_large() -> None:
    """The shipped list holds thousands of entries, the well-known ones included."""
    listed = passwords.common_passwords()
    assert len(listed) > 9000
    assert {"password", "123456789", "iloveyou", "mamori"} <= listed


def test_hash_is_argon2id_and_verifies_only_the_same_password() -> None:
    """Hashes are argon2id, salted (two hashes differ), and verify full/half width alike."""
    first = passwords.hash_password("Kyoto#2024x")
    assert first.startswith("$argon2id$")
    assert first != passwords.hash_password("Kyoto#2024x")
    assert passwords.verify_password(first, "ｋｙｏｔｏ＃２０２４ｘ".replace("ｋ", "K", 1))
    assert not passwords.verify_password(first, "Kyoto#2024y")
    assert not passwords.verify_password("not-a-hash", "Kyoto#2024x")


def test_reuse_of_the_last_five_is_detected_but_not_the_sixth() -> None:
    """History covers the newest five hashes only."""
    old = [passwords.hash_password(f"Clinic#{i}abc") for i in range(6)]
    newest_first = list(reversed(old))
    assert passwords.reused("Clinic#5abc", newest_first)
    assert passwords.reused("Clinic#1abc", newest_first)
    assert not passwords.reused("Clinic#0abc", newest_first)


@pytest.mark.parametrize("password", ["!Password1", "#iloveyou#1", "dragondragon1!", "PASSWORD!!1"])
def test_decorated_common_passwords_are_refused(password: str) -> None:
    """Digits and symbols at either end and a repeated word do not make a common password
    new (issue 12)."""
    with pytest.raises(PasswordRejected) as refused:
        passwords.check_policy(password, "sato.hanako")
    assert refused.value.reason == "common"


@pytest.mark.parametrize(
    "password", ["Hanako2026!", "2026#SATO!x", "Yamada-2026!", "taro1234567890"]
)
def test_the_persons_own_name_with_digits_is_refused(password: str) -> None:
    """A part of the user name or of the person's name (any case) with digits is refused."""
    with pytest.raises(PasswordRejected) as refused:
        passwords.check_policy(password, "sato.hanako", "Yamada Taro")
    assert refused.value.reason == "username"
