/**
 * UI text of the console's settings, dashboard and compliance report pages, in Japanese
 * and English. Merged into core/i18n.js.
 */

export const consoleJa = {
  "console.settings": "設定",
  "settings.heading": "リモート接続の設定",
  "settings.intro": "ここで変えた値は、これから始まる接続に使われます。いま接続中の画面には影響しません。",
  "settings.idle": "操作がないときに切断するまで（分）",
  "settings.max": "1 回の接続の上限（分）",
  "settings.warn": "上限の何分前に知らせるか（分）",
  "settings.watermark": "画面に利用者名・日時の透かしを入れる",
  "settings.blockLocal": "接続中は院内の端末のキーボードとマウスを止める",
  "settings.endOnViolation": "コピーやファイル送信が試みられたら接続を終了する",
  "settings.default": "既定値: {value}",
  "settings.on": "する",
  "settings.off": "しない",
  "settings.save": "保存する",
  "settings.saved": "保存しました。",
  "settings.updated": "最終変更: {time}",
  "settings.neverChanged": "まだ変更されていません（既定値で動いています）。",
  "settings.range": "{low}〜{high} 分",
  "api.setting_out_of_range": "設定できる範囲を超えています。",
  "api.setting_warn_after_max": "お知らせは上限より前の時刻にしてください。",
  "api.setting_unknown": "知らない設定項目です。",
};

export const consoleEn = {
  "console.settings": "Settings",
  "settings.heading": "Remote session settings",
  "settings.intro": "Changes apply to sessions that start from now on; open sessions keep theirs.",
  "settings.idle": "End a session after this many idle minutes",
  "settings.max": "Longest session (minutes)",
  "settings.warn": "Warn this many minutes before the limit",
  "settings.watermark": "Put the person's name and the time as a watermark on the screen",
  "settings.blockLocal": "Lock the clinic PC's own keyboard and mouse during a session",
  "settings.endOnViolation": "End the session when someone tries to copy or send a file",
  "settings.default": "Default: {value}",
  "settings.on": "on",
  "settings.off": "off",
  "settings.save": "Save",
  "settings.saved": "Saved.",
  "settings.updated": "Last changed: {time}",
  "settings.neverChanged": "Never changed (the defaults apply).",
  "settings.range": "{low}–{high} minutes",
  "api.setting_out_of_range": "That value is outside the allowed range.",
  "api.setting_warn_after_max": "The warning must come before the limit.",
  "api.setting_unknown": "Unknown setting.",
};
