// The member's card: a Telegram Mini App. Hand-written, no library, no network but this server.
// Telegram passes the launch parameters in the URL fragment (tgWebAppData is the signed
// initData, tgWebAppThemeParams the theme); the official telegram-web-app.js is not needed for
// that, and loading it would mean a request to telegram.org.
"use strict";
(function () {
  const launch = new URLSearchParams(location.hash.slice(1));
  const tg = window.Telegram && window.Telegram.WebApp;
  const initData = (tg && tg.initData) || launch.get("tgWebAppData") ||
    sessionStorage.getItem("initData") || "";
  if (initData) sessionStorage.setItem("initData", initData);

  function postEvent(type, data) {
    const body = JSON.stringify({ eventType: type, eventData: data || {} });
    try {
      if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, JSON.stringify(data || {}));
      else if (window.parent !== window) window.parent.postMessage(body, "https://web.telegram.org");
    } catch (e) { /* not inside Telegram */ }
  }

  function applyTheme(raw) {
    let theme = {};
    try { theme = typeof raw === "string" ? JSON.parse(raw) : (raw || {}); } catch (e) { return; }
    for (const [key, value] of Object.entries(theme)) {
      if (/^#[0-9a-fA-F]{3,8}$/.test(value)) {
        document.documentElement.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), value);
      }
    }
  }
  applyTheme((tg && tg.themeParams) || launch.get("tgWebAppThemeParams"));
  window.addEventListener("message", (event) => {
    try {
      const msg = JSON.parse(event.data);
      if (msg.eventType === "theme_changed") applyTheme(msg.eventData.theme_params);
    } catch (e) { /* not ours */ }
  });

  const app = document.getElementById("app");
  let texts = {};

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "on") for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function call(path, body) {
    const response = await fetch("api/" + path, {
      method: body ? "POST" : "GET",
      headers: Object.assign({ Authorization: "tma " + initData },
        body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error((data.error && data.error.message) || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function notice(text, isError) {
    const box = document.getElementById("notice");
    if (!box) return;
    box.textContent = text || "";
    box.className = isError ? "error" : "";
  }

  function historyRows(list, page) {
    for (const entry of page.entries) {
      list.append(el("div", { class: "row" }, el("span", {}, entry.what), el("span", { class: "hint" }, entry.when)));
    }
  }

  function render(d) {
    texts = d.texts;
    document.documentElement.lang = d.language;
    document.title = texts.title;
    app.replaceChildren();
    app.append(el("h1", { id: "hello" }, d.hello));
    app.append(el("p", { id: "notice", role: "status" }));

    const balances = el("div", { class: "balances" },
      el("div", { class: "balance" }, el("span", { class: "hint" }, texts.points), el("b", { id: "points" }, d.points_text)),
      d.coins_text !== null ? el("div", { class: "balance" }, el("span", { class: "hint" }, texts.coins), el("b", { id: "coins" }, d.coins_text)) : null);
    app.append(el("section", {}, balances, d.held_text ? el("p", { class: "hint" }, d.held_text) : null));

    const level = el("section", { id: "level" }, el("h2", {}, d.level_text),
      el("div", { class: "bar", role: "progressbar", "aria-valuenow": d.progress.percent, "aria-valuemin": 0, "aria-valuemax": 100 },
        el("div", { style: "width:" + d.progress.percent + "%" })),
      el("p", { class: "hint" }, d.progress.text));
    if (d.level.perks.length) {
      level.append(el("h2", {}, texts.perks), el("ul", {}, ...d.level.perks.map((p) => el("li", {}, p.text))));
    }
    app.append(level);

    const coupons = el("section", { id: "coupons" }, el("h2", {}, texts.coupons));
    if (!d.coupons.length) coupons.append(el("p", { class: "hint" }, texts.no_coupons));
    for (const c of d.coupons) {
      coupons.append(el("div", { class: "coupon", "data-code": c.code },
        el("img", { src: c.qr_url, alt: c.code, loading: "lazy" }),
        el("div", {}, el("div", { class: "code" }, c.code), el("div", {}, c.value_text), el("div", { class: "hint" }, c.valid_text))));
    }
    app.append(coupons);

    if (d.exchange.enabled) {
      const exchange = el("section", { id: "exchange" }, el("h2", {}, texts.exchange), el("p", { class: "hint" }, d.exchange.left_text));
      for (const offer of d.exchange.offers) {
        exchange.append(el("button", {
          type: "button", class: "offer", "data-value": offer.value_cents, "data-currency": offer.currency,
          disabled: !offer.affordable || d.exchange.left_today <= 0,
          on: { click: () => ask(offer) },
        }, offer.label));
      }
      app.append(exchange);
    }

    if (d.daily.enabled) {
      const button = el("button", { type: "button", id: "daily", disabled: d.daily.claimed_today, on: { click: checkIn } },
        texts.daily_claim);
      app.append(el("section", {}, el("h2", {}, texts.daily), d.daily.claimed_today ? el("p", { class: "hint" }, texts.daily_done) : null, button));
    }

    const history = el("section", { id: "history" }, el("h2", {}, texts.history));
    const list = el("div", {});
    history.append(list);
    if (!d.history.entries.length) list.append(el("p", { class: "hint" }, texts.no_history));
    historyRows(list, d.history);
    let cursor = d.history.next_before_id;
    if (cursor) {
      const more = el("button", { type: "button", class: "secondary", id: "older", on: { click: async () => {
        more.disabled = true;
        const page = await call("history?before=" + cursor);
        historyRows(list, page);
        cursor = page.next_before_id;
        if (cursor) more.disabled = false; else more.remove();
      } } }, texts.older);
      history.append(more);
    }
    app.append(history);
  }

  const dialog = document.getElementById("dialog");
  const confirmButton = document.getElementById("confirm");
  let pending = null;

  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function ask(offer) {
    notice("");
    try {
      const preview = await call("exchange/preview", { value_cents: offer.value_cents, currency: offer.currency });
      document.getElementById("dialog-title").textContent = preview.title;
      document.getElementById("dialog-after").textContent = preview.after;
      document.getElementById("dialog-cut").textContent = preview.cut_short || "";
      confirmButton.textContent = texts.confirm;
      document.getElementById("cancel").textContent = texts.cancel;
      // One confirmation, one key: a second tap (or a retry after a lost answer) repeats the
      // same request, which the server answers with the same coupon.
      pending = { value_cents: offer.value_cents, currency: offer.currency, key: newKey() };
      confirmButton.disabled = false;
      dialog.classList.add("open");
    } catch (error) { notice(error.message, true); }
  }

  confirmButton.addEventListener("click", async () => {
    if (!pending || confirmButton.disabled) return;
    confirmButton.disabled = true;
    const request = pending;
    try {
      const done = await call("exchange", request);
      pending = null;
      dialog.classList.remove("open");
      await load();
      notice(done.message);
    } catch (error) {
      dialog.classList.remove("open");
      pending = null;
      notice(error.message, true);
    }
  });
  document.getElementById("cancel").addEventListener("click", () => { pending = null; dialog.classList.remove("open"); });

  async function checkIn(event) {
    event.target.disabled = true;
    try {
      const done = await call("daily", {});
      await load();
      notice(done.message);
    } catch (error) { notice(error.message, true); event.target.disabled = false; }
  }

  async function load() {
    try {
      render(await call("me"));
    } catch (error) {
      const text = error.status === 401 || !initData ? (texts.denied || "This card opens from the bot in Telegram.") : error.message;
      app.replaceChildren(el("p", { id: "denied", class: "hint" }, text));
    }
  }

  postEvent("web_app_ready");
  postEvent("web_app_expand");
  load();
})();
