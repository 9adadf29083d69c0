// The host's live dashboard, a tab of the cockpit (live/console.html): the show's figures from
// GET /api/v1/sessions/<id>/metrics (minute by minute, totals with verified GMV beside raw, the
// shelf ranked by sales with its stock left, coupon claims, alerts standing), read again every
// 15 s and soon after a purchase; the viewers on now and the likes come from the room socket's
// counters as they change (cockpit.js passes its frames on as "cockpit:frame" events). Charts are
// ECharts (vendored from npm, nothing fetched elsewhere); every label comes from the template.
import { yuan } from "./shelf.js";

const panel = document.querySelector("[data-dashboard]");
const REFRESH_MS = 15000;
const AFTER_PURCHASE_MS = 2000;

function text(name, value) {
  for (const slot of panel.querySelectorAll(`[data-kpi="${name}"]`)) slot.textContent = value;
}

function hhmm(iso) {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function percent(x) {
  return `${(Number(x) * 100).toFixed(1)}%`;
}

function duration(seconds) {
  const s = Math.round(Number(seconds) || 0);
  return s >= 60 ? `${Math.floor(s / 60)}′${String(s % 60).padStart(2, "0")}″` : `${s}″`;
}

const charts = {};
function chart(name) {
  const box = panel.querySelector(`[data-chart="${name}"]`);
  if (!box || !window.echarts) return null;
  if (!charts[name]) charts[name] = window.echarts.init(box, null, { renderer: "svg" });
  return charts[name];
}

function draw(minutes) {
  const t = panel.dataset;
  const x = minutes.map((m) => hhmm(m.minute));
  chart("audience")?.setOption({
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 40, right: 40, top: 30, bottom: 24 },
    xAxis: { type: "category", data: x },
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", minInterval: 1 }],
    series: [
      { name: t.tViewers, type: "line", data: minutes.map((m) => m.viewers), smooth: true, showSymbol: minutes.length < 3 },
      { name: t.tComments, type: "bar", yAxisIndex: 1, data: minutes.map((m) => m.comments) },
    ],
  });
  chart("sales")?.setOption({
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 40, right: 56, top: 30, bottom: 24 },
    xAxis: { type: "category", data: x },
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value" }],
    series: [
      { name: t.tOrders, type: "bar", data: minutes.map((m) => m.orders) },
      { name: t.tPaidYuan, type: "line", yAxisIndex: 1, data: minutes.map((m) => m.paid_fen / 100), showSymbol: minutes.length < 3 },
    ],
  });
}

function products(list) {
  const body = panel.querySelector("[data-dashboard-products]");
  if (!body) return;
  body.replaceChildren(
    ...list.map((p, i) => {
      const row = document.createElement("tr");
      const cells = [String(i + 1), `${p.title} ${p.spec_label}`.trim(), String(p.units), yuan(p.paid_fen), p.available === null ? "—" : String(p.available)];
      for (const value of cells) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.append(cell);
      }
      row.dataset.skuId = String(p.sku_id);
      return row;
    }),
  );
  panel.querySelector("[data-dashboard-no-products]")?.toggleAttribute("hidden", list.length > 0);
}

function show(m) {
  const t = m.totals;
  text("peak_viewers", String(t.peak_viewers));
  text("unique_viewers", String(t.unique_viewers));
  text("likes", String(t.likes));
  text("comments", String(t.comments));
  text("orders", `${t.paid_orders} / ${t.orders}`);
  text("raw", yuan(m.gmv.raw_fen));
  text("paid", yuan(m.gmv.paid_fen));
  text("refunded", yuan(m.gmv.refunded_fen));
  text("flagged", yuan(m.gmv.flagged_fen));
  text("verified", yuan(m.gmv.verified_fen));
  text("conversion", percent(t.conversion));
  text("avg_watch", duration(t.avg_watch_s));
  text("coupon_claims", String(t.coupon_claims));
  const alerts = panel.querySelector("[data-dashboard-alerts]");
  if (alerts) {
    alerts.hidden = m.alerts_standing === null;
    text("alerts", String(m.alerts_standing ?? 0));
    alerts.classList.toggle("warning", Boolean(m.alerts_standing));
  }
  draw(m.minutes);
  products(m.products);
  panel.dataset.loaded = "true";
}

let timer = null;
async function load() {
  clearTimeout(timer);
  try {
    const response = await fetch(`/api/v1/sessions/${panel.dataset.sessionId}/metrics`, { headers: { Accept: "application/json" } });
    if (response.ok) show(await response.json());
  } catch {
    // offline for a moment: the next round tries again
  }
  timer = setTimeout(load, REFRESH_MS);
}

if (panel) {
  document.getElementById("console")?.addEventListener("cockpit:frame", (event) => {
    const frame = event.detail || {};
    if (frame.type === "room.counters") {
      const data = frame.data || {};
      if (data.viewers !== undefined) text("viewers", String(data.viewers));
      if (data.likes !== undefined) text("likes", String(data.likes));
    } else if (frame.type === "room.purchase") {
      clearTimeout(timer);
      timer = setTimeout(load, AFTER_PURCHASE_MS);
    }
  });
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  // A chart drawn in a hidden tab has no size: draw again when the tab opens.
  new MutationObserver(() => {
    if (!panel.hidden) Object.values(charts).forEach((c) => c.resize());
  }).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
  load();
}
