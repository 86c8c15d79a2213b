"""Accounts in real headless Chromium: enroll TOTP from the page's secret and sign in, a
passkey through Chromium's virtual authenticator, the viewer only after MFA, a replayed
TOTP code refused, the sixth wrong password locked."""

from __future__ import annotations

import pyotp
import pytest
from playwright.async_api import BrowserContext, Page, WebSocket

from broker.identity import accounts, totp
from broker.identity.accounts import Purpose, Role
from devkit.broker import RunningBroker
from devkit.browser import approve_this_browser, password_step, screen_is
from devkit.identity import Org, Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID

pytestmark = pytest.mark.e2e

PASSWORD = "Hinode#Clinic7"


async def invite(broker: RunningBroker, org: Org, username: str, role: Role = Role.DOCTOR) -> str:
    """An enrollment link as an admin's invitation makes it."""
    now = broker.clock.now()
    async with broker.db.session() as s:
        user = await accounts.create_user(s, org.id, username, "山田 花子", role, now)
        token = await accounts.issue_link(s, user, Purpose.INVITE, None, now, 24 * 3600)
        await s.commit()
    return f"{broker.public_origin}/#/enroll/{token}"


async def set_password(page: Page, link: str) -> None:
    await page.goto(link)
    await screen_is(page, "enroll")
    await page.wait_for_function(
        "() => document.getElementById('screen-enroll').dataset.step === 'password'"
    )
    greeting = await page.locator("#enroll-greeting").inner_text()
    assert "山田 花子" in greeting
    assert "テスト診療所" in greeting
    await page.fill("#enroll-password", PASSWORD)
    await page.fill("#enroll-password2", PASSWORD)
    await page.click("#enroll-password-form button[type=submit]")
    await page.wait_for_function(
        "() => document.getElementById('screen-enroll').dataset.step === 'factor'"
    )


async def finish_codes(page: Page) -> list[str]:
    await page.wait_for_function(
        "() => document.getElementById('screen-enroll').dataset.step === 'codes'"
    )
    codes = await page.locator("#enroll-code-list li").all_inner_texts()
    assert len(codes) == 10
    await page.click("#enroll-done")
    await screen_is(page, "hosts")
    return codes


async def log_out(page: Page) -> None:
    await page.click("#nav-logout")
    await screen_is(page, "login")


async def enroll_totp(page: Page, broker: RunningBroker, link: str) -> tuple[str, int]:
    """Enroll with the authenticator-app option, typing the code of the page's secret."""
    await set_password(page, link)
    await page.click("#factor-totp")
    await page.wait_for_selector("img.totp-qr")
    qr_width = await page.eval_on_selector("img.totp-qr", "(img) => img.naturalWidth")
    assert qr_width > 0, "the QR code image did not load (CSP or data URL problem)"
    secret = (await page.locator(".totp-secret").inner_text()).replace(" ", "")
    step = totp.step_at(broker.clock.now())
    await page.fill("#factor-totp-code", pyotp.TOTP(secret).at(step * 30))
    await page.click("#enroll-factor form button[type=submit]")
    await finish_codes(page)
    return secret, step


async def test_enroll_totp_from_the_qr_secret_and_sign_in(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """A new person opens the link, sets a password, enrolls TOTP from the shown secret,
    gets ten recovery codes, reaches the hosts; later signs in with password and TOTP."""
    page = await browser.new_page()
    secret, step = await enroll_totp(page, broker, await invite(broker, org, "yamada"))
    await page.wait_for_function(
        "() => document.getElementById('nav-user').textContent === '山田 花子（テスト診療所）'"
    )
    await log_out(page)
    await password_step(page, broker, "yamada", PASSWORD)
    await screen_is(page, "mfa")
    await page.fill("#mfa-totp-code", pyotp.TOTP(secret).at((step + 1) * 30))
    await page.click("#mfa-totp-form button[type=submit]")
    await screen_is(page, "hosts")


async def test_a_replayed_totp_code_is_refused(
    browser: BrowserContext, broker: RunningBroker, doctor: Person
) -> None:
    """The code that just signed in is refused on the next sign-in, with a message."""
    page = await browser.new_page()
    code = doctor.next_code(broker)
    for attempt in range(2):
        await password_step(page, broker, doctor.username, doctor.password)
        await screen_is(page, "mfa")
        await page.fill("#mfa-totp-code", code)
        await page.click("#mfa-totp-form button[type=submit]")
        if attempt == 0:
            await screen_is(page, "hosts")
            await log_out(page)
    await page.wait_for_function("() => document.getElementById('mfa-message').textContent !== ''")
    assert "確認できませんでした" in await page.locator("#mfa-message").inner_text()
    assert await page.evaluate("() => document.body.dataset.screen") == "mfa"


async def test_passkey_registration_and_sign_in(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """With Chromium's virtual authenticator (CDP WebAuthn), a person enrolls a passkey and
    later signs in with password + passkey; the account page lists it."""
    page = await browser.new_page()
    cdp = await browser.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    await set_password(page, await invite(broker, org, "kato"))
    await page.click("#factor-passkey")
    await finish_codes(page)
    await log_out(page)
    await password_step(page, broker, "kato", PASSWORD)
    await screen_is(page, "mfa")
    await page.wait_for_function("() => document.body.dataset.mfaMethods.includes('passkey')")
    await page.click("#mfa-passkey-button")
    await screen_is(page, "hosts")
    await page.goto(f"{broker.public_origin}/#/account")
    await screen_is(page, "account")
    await page.wait_for_function(
        "() => document.querySelectorAll('#account-passkeys li button').length === 1"
    )


async def test_viewer_only_after_mfa(
    browser: BrowserContext, broker: RunningBroker, doctor: Person, agent: BrokerLink
) -> None:
    """With only the password, opening a host's URL shows the second-factor screen and no
    WebSocket is even attempted; after the TOTP code, and once this browser is an approved
    viewing device, the same URL shows the host."""
    page = await browser.new_page()
    sockets: list[str] = []

    def opened(ws: WebSocket) -> None:
        sockets.append(ws.url)

    page.on("websocket", opened)
    await password_step(page, broker, doctor.username, doctor.password)
    await screen_is(page, "mfa")
    await page.goto(f"{broker.public_origin}/#/host/{HOST_ID}")
    await page.reload()
    await screen_is(page, "mfa")
    assert await page.locator("#remote-video").is_hidden()
    assert sockets == []
    await page.fill("#mfa-totp-code", doctor.next_code(broker))
    await page.click("#mfa-totp-form button[type=submit]")
    # Signed in, but this browser is no approved viewing device yet: still no WebSocket.
    await page.wait_for_function(
        "() => document.body.dataset.connectionError === 'device_unregistered'"
    )
    # The real reason and what to do, and no 再接続 (it cannot help).
    detail = await page.inner_text("#connection-status-detail")
    assert "登録" in detail, detail
    assert "再接続" not in detail, detail
    assert await page.locator("#reconnect-button").is_hidden()
    await page.goto(f"{broker.public_origin}/#/")
    # The host list does not call the PC 接続できます while this browser cannot open it.
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#host-list .badge')]"
        ".some((b) => b.textContent === 'この端末の登録と承認が必要です')"
    )
    await approve_this_browser(page, broker, doctor)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#host-list .badge')]"
        ".some((b) => b.textContent.startsWith('接続できます'))"
    )
    await page.goto(f"{broker.public_origin}/#/host/{HOST_ID}")
    await page.wait_for_function(
        "() => document.body.dataset.connection === 'connected'"
        " && document.body.dataset.video === 'playing'",
        timeout=30_000,
    )
    assert len(sockets) == 1
    assert "/ws/viewer?ticket=" in sockets[0]


async def test_the_sixth_wrong_password_locks(
    browser: BrowserContext, broker: RunningBroker, doctor: Person
) -> None:
    """Five wrong passwords, then the right one: the sixth attempt is refused as locked."""
    page = await browser.new_page()
    for i in range(5):
        await password_step(page, broker, doctor.username, f"Wrong#password{i}")
        await page.wait_for_function(
            "() => document.getElementById('login-message').textContent.includes('違います')"
            " && !document.getElementById('login-submit').disabled"
        )
        await page.evaluate("() => { document.getElementById('login-message').textContent = ''; }")
    await password_step(page, broker, doctor.username, doctor.password)
    await page.wait_for_function(
        "() => document.getElementById('login-message').textContent.includes('15 分間ロック')"
    )
    assert await page.evaluate("() => document.body.dataset.screen") == "login"


async def test_the_fifth_wrong_code_says_the_lock_at_once(
    browser: BrowserContext, broker: RunningBroker, doctor: Person
) -> None:
    """After five wrong authenticator codes the page is back at sign-in saying the account
    is locked and for how long, without another password attempt (it used to say only
    「サインインしてください」, the lock showing at the next password)."""
    page = await browser.new_page()
    await password_step(page, broker, doctor.username, doctor.password)
    await screen_is(page, "mfa")
    for guess in ("000000", "111111", "222222", "333333", "444444"):
        await page.fill("#mfa-totp-code", guess)
        await page.click("#mfa-totp-form button[type=submit]")
        await page.wait_for_function(
            "() => document.getElementById('mfa-message').textContent !== ''"
            " && ![...document.querySelectorAll('#mfa-totp-form button')].some((b) => b.disabled)"
        )
        if guess != "444444":
            await page.evaluate(
                "() => { document.getElementById('mfa-message').textContent = ''; }"
            )
    await screen_is(page, "login")
    message = await page.inner_text("#login-message")
    assert "15 分間ロック" in message, message


async def test_renewing_recovery_codes_asks_for_the_second_factor_again(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """Past the step-up time, 新しいコードを作る on the account page opens the step-up dialog;
    a wrong code is refused there, the authenticator's code lets the renewal through."""
    page = await browser.new_page()
    secret, step = await enroll_totp(page, broker, await invite(broker, org, "sato"))
    broker.clock.advance(301)  # MAMORI_STEP_UP_S: 300
    await page.goto(f"{broker.public_origin}/#/account")
    await screen_is(page, "account")
    await page.click("#account-recovery-renew")
    await page.wait_for_selector("dialog#step-up[open]")
    await page.fill("#step-up-code", "000000")
    await page.click("dialog#step-up button[type=submit]")
    await page.wait_for_function(
        "() => document.getElementById('step-up-message').textContent !== ''"
    )
    now_step = totp.step_at(broker.clock.now())
    await page.fill("#step-up-code", pyotp.TOTP(secret).at(max(now_step, step + 1) * 30))
    await page.click("dialog#step-up button[type=submit]")
    await page.wait_for_selector("dialog#step-up", state="detached")
    await page.wait_for_function(
        "() => document.querySelectorAll('#account-code-list li').length === 10"
    )
