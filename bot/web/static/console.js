// The owner's console: hand-written, no library; charts are inline SVG drawn here.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const launch = new URLSearchParams(location.hash.slice(1));
  let overviewData = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "on") for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function call(path, body, headers) {
    const response = await fetch("api/" + path, {
      method: body ? "POST" : "GET",
      credentials: "same-origin",
      headers: Object.assign(body ? { "Content-Type": "application/json" } : {}, headers || {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error((data.error && data.error.message) || response.statusText);
      error.status = response.status;
      error.code = data.error && data.error.code;
      throw error;
    }
    return data;
  }

  function say(text, kind) {
    $("message").textContent = text || "";
    $("message").className = kind || "";
  }

  function key() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const fmt = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));

  function show(view) {
    for (const id of ["signed-out", "overview", "members", "export"]) $(id).hidden = id !== view;
    for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.view === view);
  }

  // -- charts -------------------------------------------------------------------------------

  function lineChart(days, series) {
    const width = 720, height = 220, left = 48, bottom = 22, top = 8;
    const max = Math.max(1, ...series.flatMap((s) => days.map((d) => d[s.key])));
    const x = (i) => left + (i * (width - left - 8)) / Math.max(days.length - 1, 1);
    const y = (v) => top + (height - top - bottom) * (1 - v / max);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": "Points per day" });
    for (const frac of [0, 0.5, 1]) {
      const value = Math.round(max * frac);
      chart.append(svg("line", { x1: left, x2: width - 8, y1: y(value), y2: y(value), stroke: "#e5e7eb" }),
        svg("text", { x: left - 6, y: y(value) + 3, "text-anchor": "end" }, fmt(value)));
    }
    for (let i = 0; i < days.length; i += 15) {
      chart.append(svg("text", { x: x(i), y: height - 6, "text-anchor": "middle" }, days[i].day.slice(5)));
    }
    for (const s of series) {
      const points = days.map((d, i) => `${x(i).toFixed(1)},${y(d[s.key]).toFixed(1)}`).join(" ");
      chart.append(svg("polyline", { points, fill: "none", stroke: s.color, "stroke-width": 1.6 }, svg("title", {}, s.label)));
    }
    return chart;
  }

  function barChart(items, color) {
    // Horizontal bars as plain boxes: readable at any width, no scaling of text.
    const max = Math.max(1, ...items.map((i) => i.value));
    return el("div", { class: "bars" }, items.map((item) => el("div", { class: "bar-row" },
      el("span", { class: "bar-label" }, item.label),
      el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(100 * item.value) / max}%;background:${color}` })),
      el("span", { class: "bar-value" }, fmt(item.value)))));
  }

  // -- overview -----------------------------------------------------------------------------

  function kpi(title, value, ...rest) {
    return el("div", { class: "card" }, el("h2", {}, title), el("div", { class: "big" }, value), ...rest.map((r) => el("div", { class: "hint" }, r)));
  }

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    return seconds < 3600 ? Math.round(seconds / 60) + " min" : (seconds / 3600).toFixed(1) + " h";
  }

  function renderOverview(d) {
    const box = $("overview");
    const c = d.coupons;
    const issued = c.active + c.used + c.expired + c.burned;
    const ratingTotal = Object.values(d.ratings).reduce((a, b) => a + b, 0);
    const ratingAvg = ratingTotal ? (Object.entries(d.ratings).reduce((a, [k, v]) => a + k * v, 0) / ratingTotal).toFixed(2) : "—";
    const health = Object.entries(d.health || {});
    box.replaceChildren(
      el("div", { class: "grid" },
        el("div", { class: "card", id: "kpi-members" }, el("h2", {}, "Members"), el("div", { class: "big" }, fmt(d.members.total)),
          el("div", { class: "hint" }, `${fmt(d.members.linked)} linked to Telegram`),
          el("div", { class: "hint" }, `${fmt(d.members.active_30d)} active in 30 days`)),
        el("div", { class: "card", id: "kpi-liability" }, el("h2", {}, "Outstanding liability"), el("div", { class: "big" }, d.liability.total_text),
          el("div", { class: "hint" }, `points ${fmt(d.liability.points)} = ${d.liability.points_text}`),
          el("div", { class: "hint" }, `coins ${fmt(d.liability.coins)} = ${d.liability.coins_text}`),
          el("div", { class: "hint" }, `active coupons = ${d.liability.coupons_text}`)),
        kpi("Coupons", fmt(issued) + " issued", `${fmt(c.active)} active · ${fmt(c.used)} used`, `${fmt(c.expired)} expired · ${fmt(c.burned)} burnt`),
        kpi("Support", `${fmt(d.tickets.open)} open`, `${fmt(d.tickets.closed)} closed`,
          `median first answer ${minutes(d.tickets.median_first_answer_seconds)}`, `rating ${ratingAvg} (${fmt(ratingTotal)} rated)`),
        kpi("Reminders (30 days)", `${fmt(d.reminders.sent)} sent`, `${fmt(d.reminders.failed)} failed · ${fmt(d.reminders.skipped)} skipped`,
          `${fmt(d.reminders.deferred)} deferred · ${fmt(d.reminders.pending)} pending`),
        el("div", { class: "card", id: "health" }, el("h2", {}, "Health"),
          health.length ? health.map(([name, state]) => el("div", {}, name + ": ", el("b", { class: state === "ok" ? "ok" : "bad" }, state)))
            : el("div", { class: "hint" }, "no report"),
          (d.connectors || []).map((c) => el("div", { class: "hint" },
            `${c.platform}: ${fmt(c.deliveries)} webhooks in 24 h (${fmt(c.ignored)} ignored), ` +
            `${fmt(c.tasks_pending)} shop calls pending (${fmt(c.tasks_overdue)} overdue), ${fmt(c.tasks_refused)} refused`)))),
      el("div", { class: "grid" },
        el("div", { class: "card wide" }, el("h2", {}, "Points per day, last 90 days"),
          el("div", { class: "legend" }, el("span", {}, el("i", { style: "background:var(--earned)" }), "earned"),
            el("span", {}, el("i", { style: "background:var(--spent)" }), "spent"),
            el("span", {}, el("i", { style: "background:var(--taken)" }), "taken back")),
          lineChart(d.points_by_day, [
            { key: "earned", color: "#16a34a", label: "earned" },
            { key: "spent", color: "#2563eb", label: "spent" },
            { key: "taken_back", color: "#dc2626", label: "taken back" },
          ])),
        el("div", { class: "card half" }, el("h2", {}, "Members by level"),
          barChart(d.by_level.map((l) => ({ label: l.name, value: l.members })), "#2563eb")),
        el("div", { class: "card half" }, el("h2", {}, "Ratings"),
          barChart(["5", "4", "3", "2", "1"].map((s) => ({ label: s + " ★", value: d.ratings[s] || 0 })), "#f59e0b"))),
      el("p", { class: "hint" }, `${d.programme.name} · read at ${d.read_at}`));
  }

  async function loadOverview() {
    overviewData = await call("overview");
    renderOverview(overviewData);
    show("overview");
  }

  // -- members ------------------------------------------------------------------------------

  async function search(event) {
    if (event) event.preventDefault();
    const q = $("search").value.trim();
    if (!q) return;
    const found = await call("members?q=" + encodeURIComponent(q));
    const rows = found.members.map((m) => el("tr", { class: "click", "data-member": m.member_id, on: { click: () => openMember(m.member_id) } },
      el("td", {}, m.member_id), el("td", {}, m.name || ""), el("td", {}, m.email || ""), el("td", {}, m.level_code),
      el("td", { class: "num" }, fmt(m.points)), el("td", { class: "num" }, fmt(m.coins)), el("td", {}, m.username ? "@" + m.username : "")));
    $("results").replaceChildren(found.members.length
      ? el("table", {}, el("thead", {}, el("tr", {}, ["id", "name", "e-mail", "level", "points", "coins", "Telegram"].map((h) => el("th", {}, h)))), el("tbody", {}, rows))
      : el("p", { class: "hint" }, "No member matches."));
  }

  function ledgerRows(tbody, page) {
    for (const e of page.entries) {
      tbody.append(el("tr", { "data-ledger": e.id }, el("td", {}, e.created_at), el("td", {}, e.reason), el("td", { class: "num" }, (e.amount > 0 ? "+" : "") + fmt(e.amount)),
        el("td", {}, e.currency), el("td", { class: "num" }, fmt(e.balance_after)), el("td", { class: "actor" }, e.actor || ""), el("td", {}, e.note || e.ref || "")));
    }
  }

  async function act(memberId, path, body, done) {
    say("");
    try {
      await call(`members/${encodeURIComponent(memberId)}/${path}`, body);
      await openMember(memberId);
      say(done, "ok");
    } catch (error) { say(error.message, "error"); }
  }

  async function openMember(memberId) {
    const m = await call("members/" + encodeURIComponent(memberId));
    const tbody = el("tbody", {});
    ledgerRows(tbody, m.ledger);
    let cursor = m.ledger.next_before_id;
    const more = el("button", { type: "button", class: "act", id: "ledger-older", hidden: !cursor, on: { click: async () => {
      const page = await call(`members/${encodeURIComponent(memberId)}/ledger?before=${cursor}`);
      ledgerRows(tbody, page);
      cursor = page.next_before_id;
      more.hidden = !cursor;
    } } }, "Older");

    const grant = el("form", { id: "grant-form", on: { submit: (event) => {
      event.preventDefault();
      const amount = parseInt($("grant-amount").value, 10);
      const currency = $("grant-currency").value;
      const reason = $("grant-reason").value;
      if (!window.confirm(`${amount > 0 ? "Give" : "Take"} ${Math.abs(amount)} ${currency} ${amount > 0 ? "to" : "from"} ${memberId}?`)) return;
      act(memberId, "grant", { amount, currency, reason, key: key() }, "Recorded.");
    } } },
      el("input", { id: "grant-amount", type: "number", required: true, placeholder: "± amount", step: 1 }),
      el("select", { id: "grant-currency" }, el("option", { value: "points" }, "points"), m.coins_enabled ? el("option", { value: "coins" }, "coins") : null),
      el("input", { id: "grant-reason", required: true, maxlength: 500, placeholder: "reason (the member sees it)", size: 30 }),
      el("button", { class: "act", type: "submit" }, "Grant"));

    const goodwill = m.coupon_values.length ? el("form", { id: "coupon-form", on: { submit: (event) => {
      event.preventDefault();
      const value = parseInt($("coupon-value").value, 10);
      const reason = $("coupon-reason").value;
      if (!window.confirm(`Give ${memberId} a goodwill coupon?`)) return;
      act(memberId, "coupon", { value_cents: value, reason, key: key() }, "Coupon given.");
    } } },
      el("select", { id: "coupon-value" }, m.coupon_values.map((v) => el("option", { value: v }, (v / 100).toFixed(2)))),
      el("input", { id: "coupon-reason", required: true, maxlength: 500, placeholder: "reason", size: 30 }),
      el("button", { class: "act", type: "submit" }, "Goodwill coupon")) : null;

    const linkActions = m.telegram_user_id ? el("form", { on: { submit: (e) => e.preventDefault() } },
      el("button", { class: "act danger", type: "button", id: "unlink", on: { click: () => {
        if (window.confirm(`Unlink ${memberId} from Telegram user ${m.telegram_user_id}?`)) act(memberId, "unlink", {}, "Unlinked.");
      } } }, "Unlink Telegram"),
      m.banned ? el("span", { class: "bad" }, "banned from support") : el("input", { id: "ban-reason", placeholder: "ban reason", size: 24 }),
      m.banned ? null : el("button", { class: "act danger", type: "button", id: "ban", on: { click: () => {
        const reason = $("ban-reason").value;
        if (window.confirm(`Ban ${memberId} from support?`)) act(memberId, "ban", { reason }, "Banned from support.");
      } } }, "Ban from support")) : el("p", { class: "hint" }, "Not linked to Telegram.");

    $("member").replaceChildren(
      el("div", { class: "grid" },
        el("div", { class: "card half", id: "member-card" }, el("h2", {}, m.member_id), el("div", { class: "big", id: "member-points" }, fmt(m.points) + " points"),
          el("div", { class: "hint" }, `${fmt(m.coins)} coins · ${fmt(m.points_held)} held`),
          el("div", {}, `Level ${m.level.name}`), el("div", { class: "hint" }, [m.name, m.email].filter(Boolean).join(" · "))),
        el("div", { class: "card half" }, el("h2", {}, "Actions (recorded with your id)"), grant, goodwill, linkActions)),
      el("div", { class: "card" }, el("h2", {}, "Ledger"),
        el("table", { id: "ledger" }, el("thead", {}, el("tr", {}, ["when", "reason", "amount", "", "balance", "actor", "note / ref"].map((h) => el("th", {}, h)))), tbody), more),
      el("div", { class: "grid" },
        el("div", { class: "card half" }, el("h2", {}, "Coupons"), m.coupons.length ? el("table", {}, m.coupons.map((c) =>
          el("tr", {}, el("td", {}, c.code), el("td", {}, c.value_text), el("td", {}, c.status), el("td", { class: "hint" }, "until " + c.expires_at.slice(0, 10))))) : el("p", { class: "hint" }, "none")),
        el("div", { class: "card" }, el("h2", {}, "Tickets"), m.tickets.length ? el("table", {}, m.tickets.map((t) =>
          el("tr", {}, el("td", {}, "#" + t.id), el("td", {}, t.status), el("td", {}, t.subject || ""), el("td", {}, t.rating ? t.rating + " ★" : ""), el("td", { class: "hint" }, t.opened_at)))) : el("p", { class: "hint" }, "none")),
        el("div", { class: "card" }, el("h2", {}, "Console actions"), m.actions.length ? el("table", { id: "audit" }, m.actions.map((a) =>
          el("tr", {}, el("td", {}, a.action), el("td", {}, "admin " + a.admin_id), el("td", {}, a.detail.reason || a.detail.code || ""), el("td", { class: "hint" }, a.created_at)))) : el("p", { class: "hint" }, "none"))));
  }

  // -- export -------------------------------------------------------------------------------

  $("ledger-export").addEventListener("submit", (event) => {
    event.preventDefault();
    location.href = `export/ledger.csv?from=${$("from").value}&to=${$("to").value}`;
  });

  // -- sign-in and start --------------------------------------------------------------------

  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener("click", async () => {
      say("");
      if (b.dataset.view === "overview") await loadOverview().catch(fail);
      else show(b.dataset.view);
    });
  }
  $("search-form").addEventListener("submit", (event) => search(event).catch(fail));

  function fail(error) {
    if (error.status === 401 || error.status === 403) {
      show("signed-out");
      if (error.status === 403) $("signed-out-text").textContent = error.message;
    } else say(error.message, "error");
  }

  async function start() {
    const today = new Date().toISOString().slice(0, 10);
    $("to").value = today;
    $("from").value = new Date(Date.now() - 29 * 86400000).toISOString().slice(0, 10);
    const token = launch.get("login");
    const initData = launch.get("tgWebAppData");
    if (token || initData) {
      history.replaceState(null, "", location.pathname);  // the token leaves the address bar
      try {
        const who = token ? await call("login", { token }) : await call("session", {}, { Authorization: "tma " + initData });
        $("who").textContent = "admin " + who.admin_id;
      } catch (error) {
        show("signed-out");
        say(error.message, "error");
        return;
      }
    }
    await loadOverview().catch(fail);
  }
  start();
})();
