// The post-show report's charts (analytics/report.html): audience and sales by minute with the
// "explaining now" marks as labelled bands, and buyers by province on the map of China. The figures
// come from the JSON the page carries (the same as GET /api/v1/sessions/<id>/report); the map from
// the vendored /static/vendor/china.json (nothing fetched elsewhere). SVG renderer: the charts stay
// sharp when the page is printed or saved as PDF. Every label comes from the template.
import { yuan } from "../live/shelf.js";

const article = document.querySelector("[data-report]");
const MINUTE_MS = 60000;
const BAND_COLOURS = ["rgba(25,118,210,0.10)", "rgba(56,142,60,0.12)", "rgba(245,124,0,0.12)", "rgba(123,31,162,0.10)"];
const clock = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false });

function floorMinute(iso) {
  return Math.floor(new Date(iso).getTime() / MINUTE_MS) * MINUTE_MS;
}

// Every minute from the first to the last (a minute without a row is a zero), so the axis is time.
function timeline(minutes) {
  if (!minutes.length) return { slots: [], rows: [] };
  const byMinute = new Map(minutes.map((m) => [floorMinute(m.minute), m]));
  const first = floorMinute(minutes[0].minute);
  const last = floorMinute(minutes[minutes.length - 1].minute);
  const slots = [];
  const rows = [];
  for (let t = first; t <= last; t += MINUTE_MS) {
    slots.push(t);
    rows.push(byMinute.get(t) || null);
  }
  return { slots, rows };
}

function bands(marks, slots) {
  if (!slots.length) return [];
  const first = slots[0];
  const last = slots[slots.length - 1];
  const at = (t) => clock.format(new Date(Math.min(last, Math.max(first, t))));
  return marks
    .map((m, i) => {
      const from = floorMinute(m.at);
      const until = m.until ? floorMinute(m.until) : last;
      if (until < first || from > last) return null;
      return [
        { name: m.product_title, xAxis: at(from), itemStyle: { color: BAND_COLOURS[i % BAND_COLOURS.length] } },
        { xAxis: at(Math.max(from, until)) },
      ];
    })
    .filter(Boolean);
}

const charts = [];
function chart(name) {
  const box = article.querySelector(`[data-chart="${name}"]`);
  if (!box || !window.echarts) return null;
  const c = window.echarts.init(box, null, { renderer: "svg" });
  charts.push(c);
  return c;
}

function markArea(marks, slots) {
  return {
    silent: true,
    label: { show: true, position: "insideTop", fontSize: 11, color: "#333", overflow: "truncate" },
    data: bands(marks, slots),
  };
}

function drawTime(data) {
  const t = article.dataset;
  const { slots, rows } = timeline(data.minutes);
  const x = slots.map((s) => clock.format(new Date(s)));
  const value = (name, scale = 1) => rows.map((m) => (m ? m[name] / scale : 0));
  const common = {
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 48, right: 56, top: 48, bottom: 28 },
    xAxis: { type: "category", data: x, boundaryGap: false },
  };
  chart("audience")?.setOption({
    ...common,
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", minInterval: 1 }],
    series: [
      { name: t.tViewers, type: "line", data: value("viewers"), showSymbol: x.length < 3, markArea: markArea(data.marks, slots) },
      { name: t.tComments, type: "bar", yAxisIndex: 1, data: value("comments") },
    ],
  });
  chart("sales")?.setOption({
    ...common,
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value" }],
    series: [
      { name: t.tOrders, type: "bar", data: value("orders"), markArea: markArea(data.marks, slots) },
      { name: t.tPaidYuan, type: "line", yAxisIndex: 1, data: value("paid_fen", 100), showSymbol: x.length < 3 },
    ],
  });
}

async function drawMap(data) {
  const c = chart("map");
  if (!c) return;
  const geo = await (await fetch("/static/vendor/china.json")).json();
  window.echarts.registerMap("china", geo);
  const names = new Map(geo.features.map((f) => [String(f.properties.id || f.id), f.properties.name]));
  const t = article.dataset;
  const rows = data.provinces.filter((p) => names.has(p.code));
  const most = Math.max(1, ...rows.map((p) => p.buyers));
  c.setOption({
    animation: false,
    tooltip: {
      trigger: "item",
      formatter: (p) => (p.data ? `${p.name}<br>${t.tBuyers}: ${p.data.value}<br>${t.tPaid}: ${yuan(p.data.paid_fen)}` : `${p.name}<br>${t.tNoBuyers}`),
    },
    visualMap: { min: 0, max: most, left: 8, bottom: 8, text: [String(most), "0"], calculable: false, inRange: { color: ["#e3f2fd", "#1565c0"] } },
    series: [
      {
        name: t.tBuyers,
        type: "map",
        map: "china",
        roam: false,
        label: { show: false },
        emphasis: { label: { show: true } },
        data: rows.map((p) => ({ name: names.get(p.code), value: p.buyers, paid_fen: p.paid_fen })),
      },
    ],
  });
}

async function main() {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  drawTime(data);
  try {
    await drawMap(data);
  } finally {
    article.dataset.rendered = "true";
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  // Paper is narrower than the screen: fit the charts to it before printing, and back after.
  window.addEventListener("beforeprint", () => charts.forEach((c) => c.resize()));
  window.addEventListener("afterprint", () => charts.forEach((c) => c.resize()));
  article.querySelector("[data-print]")?.addEventListener("click", () => window.print());
}

if (article) {
  if (window.echarts) main();
  else window.addEventListener("load", main, { once: true });
}
