/**
 * UI text in Japanese (the default) and English. Every string the client shows goes
 * through `t`, error codes from the broker included (`translateError`).
 *
 * No storage and no DOM here: app/shell.js reads the saved choice (localStorage
 * `mamori.lang`) and passes it to `setLanguage`.
 */

import { alertsEn, alertsJa } from "./i18n_alerts.js";
import { auditEn, auditJa } from "./i18n_audit.js";
import { authEn, authJa } from "./i18n_auth.js";
import { consoleEn, consoleJa } from "./i18n_console.js";
import { hostsEn, hostsJa } from "./i18n_hosts.js";
import { grantsEn, grantsJa } from "./i18n_grants.js";
import { devicesEn, devicesJa } from "./i18n_devices.js";

export const DEFAULT_LANGUAGE = "ja";
export const LANGUAGES = Object.freeze(["ja", "en"]);
export const STORAGE_KEY = "mamori.lang";

const ja = {
  "app.title": "Mamori リモート接続",
  "app.brand": "Mamori",
  "app.tagline": "院内の端末に、画面だけで安全に接続します",
  "lang.switch": "English",
  "lang.switchLabel": "Switch to English",

  "hosts.heading": "接続できる院内の端末",
  "hosts.loading": "読み込み中…",
  "hosts.empty": "いま接続できる端末はありません。院内の端末で Mamori エージェントが動いているか確認してください。",
  "hosts.noGrant": "まだどの院内の端末にも接続する許可がありません。管理者に、接続の許可（管理 → 接続の許可）を追加してもらってください。",
  "hosts.deviceFirst": "この端末の登録と承認が必要です",
  "hosts.unauthorized": "サインインしていません。",
  "hosts.error": "端末の一覧を取得できませんでした。5 秒ごとに再試行します。",
  "hosts.online": "接続できます",
  "hosts.busy": "使用中",
  "hosts.busyHint": "ほかの方が使用しています",
  "hosts.open": "接続する",
  "hosts.openLabel": "{name} に接続する",
  "hosts.updated": "{time} に更新",

  "viewer.back": "一覧に戻る",
  "viewer.reconnect": "再接続",
  "viewer.stats": "統計",
  "viewer.textLabel": "文字入力",
  "viewer.textHint": "ここで入力・変換した文字を院内の端末に送ります（Enter で確定・改行）",
  "viewer.touchDirect": "タッチ: 直接",
  "viewer.touchTrackpad": "タッチ: トラックパッド",
  "viewer.touchLabel": "タッチ操作の切り替え（直接 ⇔ トラックパッド）",
  "viewer.keyboard": "キーボード",
  "viewer.keyboardLabel": "画面のキーボードを出す",
  "viewer.keysLabel": "院内の端末へのキー入力",
  "viewer.monitor": "モニター",
  "viewer.monitorLabel": "表示する院内の端末のモニター",
  "viewer.monitorItem": "モニター {n}（{w}×{h}）",
  "viewer.monitorPrimary": "モニター {n}（{w}×{h}・メイン）",
  "viewer.monitorAll": "すべて（1 つの画面として）",
  "quality.label": "接続の品質",
  "quality.good": "良好",
  "quality.unstable": "不安定",
  "quality.lost": "切断",
  "viewer.frozen": "画面が止まっています（{seconds} 秒前の画像）",
  "viewer.statsLabel": "接続の統計を表示（Ctrl+Alt+S）",
  "viewer.videoLabel": "リモート画面: {host}。クリックするとキーボード操作が端末に送られます。",
  "viewer.retryIn": "{seconds} 秒後に自動で再接続します。",
  "viewer.retryManual": "「再接続」を押すともう一度接続します。",
  "viewer.attempt": "再接続しています…（{attempt} 回目）",

  "state.idle": "待機中",
  "state.connecting": "接続中…",
  "state.connected": "接続しました",
  "state.host_disconnected": "ホストとの接続が切れました",
  "state.disconnected": "通信が途切れました",
  "state.ended": "セッションが終了しました",
  "state.error": "接続できませんでした",
  "state.closed": "切断しました",

  "error.unknown_host": "この端末は見つからないか、いまオンラインではありません。",
  "error.host_busy": "この端末はほかの方が使用中です。",
  "error.resume_refused": "サーバーの再起動後、この接続を引き継げませんでした。もう一度接続してください。",
  "error.unavailable": "サーバーが再起動中です。少し待ってから、もう一度接続してください。",
  "error.host_disconnected": "院内の端末との接続が切れました。",
  "error.unauthorized": "サインインが必要です。ページを再読み込みしてサインインしてください。",
  "error.reauth_required": "しばらく操作がなかったため、画面を隠しました。もう一度、二要素認証をしてください。",
  "error.malformed": "通信エラーが発生しました（不正なメッセージ）。",
  "error.unknown_type": "通信エラーが発生しました（不明なメッセージ）。",
  "error.unexpected": "通信エラーが発生しました（順序の誤り）。",
  "error.not_in_session": "セッションはすでに終了しています。",
  "error.too_big": "通信エラーが発生しました（メッセージが大きすぎます）。",
  "error.internal_error": "サーバーで問題が発生しました。",
  "error.network": "サーバーに接続できません。ネットワークを確認してください。",
  "error.webrtc": "画面の通信路を確立できませんでした。",
  "error.peer_failed": "画面の通信が途切れました。",
  "error.unknown": "エラーが発生しました（{code}）。",

  "bye.viewer_left": "接続を終了しました。",
  "bye.idle_timeout": "しばらく操作がなかったため、画面を隠しました（クリアスクリーン）。もう一度、二要素認証をしてください。",
  "bye.max_session_time": "セッションの最大時間に達したため、接続を終了しました。",
  "bye.sdp_refused": "許可されていない接続方法だったため、接続を終了しました。",
  "bye.foreign_channel": "画面と操作以外のデータを送ろうとしたため、接続を終了しました。",
  "bye.foreign_message": "画面と操作以外のデータを送ろうとしたため、接続を終了しました。",
  "bye.oversized_message": "許可されていない大きさのデータを送ろうとしたため、接続を終了しました。",
  "bye.input_flood": "操作の送信が多すぎるため、接続を終了しました。",
  "bye.broker_shutdown": "サーバーの再起動のため、接続を終了しました。少し待ってから、もう一度接続してください。",
  "notice.ending_soon": "あと{minutes}分でセッションが終了します。作業を保存してください。",
  "error.policy_violation": "セキュリティポリシーにより接続できません。",
  "bye.unknown": "端末側でセッションが終了しました（{reason}）。",

  "stats.title": "接続の統計",
  "stats.fps": "フレームレート",
  "stats.bitrate": "ビットレート",
  "stats.rtt": "往復遅延",
  "stats.codec": "コーデック",
  "stats.resolution": "解像度",
  "stats.dropped": "ドロップしたフレーム",
  "stats.route": "経路（この端末 → 院内の端末）",
  "stats.rendering": "表示方式",
  "stats.renderingVideo": "video 要素",
  "stats.renderingCanvas": "キャンバス（WebCodecs）",
  "stats.renderingFallback": "video 要素（キャンバス表示は使えませんでした）",
  "stats.none": "—",
  "stats.fpsValue": "{value} fps",
  "stats.kbpsValue": "{value} kbit/s",
  "stats.msValue": "{value} ms",
};

const en = {
  "app.title": "Mamori remote access",
  "app.brand": "Mamori",
  "app.tagline": "Reach the clinic's computers safely: only the picture leaves the clinic",
  "lang.switch": "日本語",
  "lang.switchLabel": "日本語に切り替える",

  "hosts.heading": "Clinic computers you can open",
  "hosts.loading": "Loading…",
  "hosts.empty": "No computer is available right now. Check that the Mamori agent is running on the clinic computer.",
  "hosts.noGrant": "You are not allowed to open any clinic computer yet. Ask an admin to add one for you (Admin → Access rules).",
  "hosts.deviceFirst": "Register this browser first",
  "hosts.unauthorized": "You are not signed in.",
  "hosts.error": "Could not load the list of computers. Retrying every 5 seconds.",
  "hosts.online": "Available",
  "hosts.busy": "In use",
  "hosts.busyHint": "Someone else is using it",
  "hosts.open": "Connect",
  "hosts.openLabel": "Connect to {name}",
  "hosts.updated": "Updated {time}",

  "viewer.back": "Back to list",
  "viewer.reconnect": "Reconnect",
  "viewer.stats": "Stats",
  "viewer.textLabel": "Text",
  "viewer.textHint": "What you type and convert here is sent to the clinic PC (Enter confirms and goes to a new line)",
  "viewer.touchDirect": "Touch: direct",
  "viewer.touchTrackpad": "Touch: trackpad",
  "viewer.touchLabel": "Switch touch mode (direct ⇔ trackpad)",
  "viewer.keyboard": "Keyboard",
  "viewer.keyboardLabel": "Show the on-screen keyboard",
  "viewer.keysLabel": "Keys for the clinic PC",
  "viewer.monitor": "Monitor",
  "viewer.monitorLabel": "Which of the clinic PC's monitors to show",
  "viewer.monitorItem": "Monitor {n} ({w}×{h})",
  "viewer.monitorPrimary": "Monitor {n} ({w}×{h}, main)",
  "viewer.monitorAll": "All (as one desktop)",
  "quality.label": "Connection quality",
  "quality.good": "Good",
  "quality.unstable": "Unstable",
  "quality.lost": "Disconnected",
  "viewer.frozen": "Picture frozen ({seconds} s old)",
  "viewer.statsLabel": "Show connection statistics (Ctrl+Alt+S)",
  "viewer.videoLabel": "Remote screen: {host}. Click it to send keyboard input to the computer.",
  "viewer.retryIn": "Reconnecting automatically in {seconds} s.",
  "viewer.retryManual": "Press Reconnect to try again.",
  "viewer.attempt": "Reconnecting… (attempt {attempt})",

  "state.idle": "Idle",
  "state.connecting": "Connecting…",
  "state.connected": "Connected",
  "state.host_disconnected": "The computer disconnected",
  "state.disconnected": "Connection lost",
  "state.ended": "Session ended",
  "state.error": "Could not connect",
  "state.closed": "Disconnected",

  "error.unknown_host": "This computer does not exist or is not online.",
  "error.host_busy": "Someone else is using this computer.",
  "error.resume_refused": "After the server restarted, this session could not be taken back. Please connect again.",
  "error.unavailable": "The server is restarting. Please connect again in a moment.",
  "error.host_disconnected": "The clinic computer disconnected.",
  "error.unauthorized": "You need to sign in. Reload the page and sign in.",
  "error.reauth_required": "The screen was hidden after a period without input. Show your second factor again to continue.",
  "error.malformed": "Communication error (malformed message).",
  "error.unknown_type": "Communication error (unknown message).",
  "error.unexpected": "Communication error (unexpected message).",
  "error.not_in_session": "The session has already ended.",
  "error.too_big": "Communication error (message too big).",
  "error.internal_error": "The server had a problem.",
  "error.network": "Cannot reach the server. Check the network.",
  "error.webrtc": "Could not set up the screen connection.",
  "error.peer_failed": "The screen connection was lost.",
  "error.unknown": "An error occurred ({code}).",

  "bye.viewer_left": "You ended the session.",
  "bye.idle_timeout": "The screen was hidden after a period without input. Show your second factor again to continue.",
  "bye.max_session_time": "The session reached its maximum length and was ended.",
  "bye.sdp_refused": "The connection was not of an allowed kind and was ended.",
  "bye.foreign_channel": "Something other than screen and input was sent, so the session was ended.",
  "bye.foreign_message": "Something other than screen and input was sent, so the session was ended.",
  "bye.oversized_message": "Oversized data was sent, so the session was ended.",
  "bye.input_flood": "Too much input was sent, so the session was ended.",
  "bye.broker_shutdown": "The server is restarting, so the session was ended. Please connect again in a moment.",
  "notice.ending_soon": "The session ends in {minutes} min. Please save your work.",
  "error.policy_violation": "The security policy does not allow this connection.",
  "bye.unknown": "The computer ended the session ({reason}).",

  "stats.title": "Connection statistics",
  "stats.fps": "Frame rate",
  "stats.bitrate": "Bitrate",
  "stats.rtt": "Round trip",
  "stats.codec": "Codec",
  "stats.resolution": "Resolution",
  "stats.dropped": "Frames dropped",
  "stats.route": "Route (this device → clinic PC)",
  "stats.rendering": "Rendering",
  "stats.renderingVideo": "video element",
  "stats.renderingCanvas": "canvas (WebCodecs)",
  "stats.renderingFallback": "video element (the canvas could not be used)",
  "stats.none": "—",
  "stats.fpsValue": "{value} fps",
  "stats.kbpsValue": "{value} kbit/s",
  "stats.msValue": "{value} ms",
};

export const DICTIONARIES = Object.freeze({
  ja: Object.freeze({ ...ja, ...authJa, ...consoleJa, ...alertsJa, ...hostsJa, ...grantsJa, ...auditJa, ...devicesJa }),
  en: Object.freeze({ ...en, ...authEn, ...consoleEn, ...alertsEn, ...hostsEn, ...grantsEn, ...auditEn, ...devicesEn }),
});

let current = DEFAULT_LANGUAGE;

/**
 * A supported language for any value: "en-US" -> "en", unknown or missing -> "ja".
 * @param {unknown} value
 * @returns {"ja" | "en"}
 */
export function normalizeLanguage(value) {
  if (typeof value !== "string") return DEFAULT_LANGUAGE;
  const primary = value.trim().toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.includes(primary) ? primary : DEFAULT_LANGUAGE;
}

/** Use `lang` from now on; returns the language actually chosen. */
export function setLanguage(lang) {
  current = normalizeLanguage(lang);
  return current;
}

export function getLanguage() {
  return current;
}

/** The language the switch button goes to. */
export function otherLanguage(lang = current) {
  return normalizeLanguage(lang) === "ja" ? "en" : "ja";
}

const has = (dict, key) => Object.prototype.hasOwnProperty.call(dict, key);

/** Whether `key` exists in the current language or the Japanese fallback. */
export function hasKey(key) {
  return has(DICTIONARIES[current], key) || has(DICTIONARIES[DEFAULT_LANGUAGE], key);
}

/**
 * Translate `key`, filling `{name}` placeholders from `params`.
 *
 * Falls back to Japanese when the current language lacks the key, then to the key itself
 * (visible, so a missing string is noticed rather than shown blank). A placeholder without
 * a parameter stays as written.
 *
 * @param {string} key
 * @param {Record<string, unknown>} [params]
 * @param {string} [lang] defaults to the current language
 * @returns {string}
 */
export function t(key, params = {}, lang = current) {
  return translate(DICTIONARIES, lang, key, params);
}

/**
 * `t` over any set of dictionaries (so the fallback rules are tested on small ones).
 * @param {Record<string, Record<string, string>>} dictionaries by language; must hold "ja"
 * @param {string} lang
 * @param {string} key
 * @param {Record<string, unknown>} [params]
 */
export function translate(dictionaries, lang, key, params = {}) {
  const dict = dictionaries[normalizeLanguage(lang)] ?? {};
  const fallback = dictionaries[DEFAULT_LANGUAGE] ?? {};
  let template;
  if (has(dict, key)) template = dict[key];
  else if (has(fallback, key)) template = fallback[key];
  else return key;
  return String(template).replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name) =>
    params !== null && typeof params === "object" && has(params, name) ? String(params[name]) : whole,
  );
}

/**
 * The message for an error token from the broker (`error.code`, a bye reason or a close
 * code's token); unknown tokens show the generic message naming the token.
 * @param {string} code
 * @returns {string}
 */
export function translateError(code, lang = current) {
  const key = `error.${code}`;
  if (typeof code === "string" && /^[a-z][a-z0-9_]{0,39}$/.test(code) && has(DICTIONARIES.ja, key)) {
    return t(key, {}, lang);
  }
  return t("error.unknown", { code: String(code).slice(0, 40) }, lang);
}
