// The post-show report's charts (analytics/postshow.html): audience and sales by minute with the
// "explaining now" marks as labelled bands, and buyers by province on the map of China. The figures
// come from the JSON the page carries (the same as GET /api/v1/sessions/<id>/report); the map from
// the vendored /static/vendor/china.json (nothing fetched elsewhere). SVG renderer: the charts stay
// sharp when the page is printed or saved as PDF. Every label comes from the template.
import { yuan } from "../live/shelf.js";

const article = document.querySelector("[data-report]");
const MINUTE_MS = 60000;
// The axis shows Beijing time wherever the browser is (as the page's tables do): ECharts formats
// in UTC and every instant is moved on by eight hours.
const BEIJING_MS = 8 * 3600 * 1000;
const BAND_COLOURS = ["rgba(25,118,210,0.12)", "rgba(56,142,60,0.14)", "rgba(245,124,0,0.14)", "rgba(123,31,162,0.12)"];

const beijing = (iso) => new Date(iso).getTime() + BEIJING_MS;

// The show's span: its start to its end, widened to every minute counted.
function span(data) {
  const times = data.minutes.map((m) => beijing(m.minute));
  const first = Math.min(...times, data.started_at ? beijing(data.started_at) : Infinity);
  const last = Math.max(...times.map((t) => t + MINUTE_MS), data.ended_at ? beijing(data.ended_at) : -Infinity);
  return Number.isFinite(first) && Number.isFinite(last) ? [first, Math.max(last, first + MINUTE_MS)] : [undefined, undefined];
}

// Each "explaining now" mark as a band from its moment to the next mark (or the end), named by its product.
function bands(marks, [first, last]) {
  return marks.map((m, i) => {
    const from = beijing(m.at);
    const until = m.until ? beijing(m.until) : last ?? from + MINUTE_MS;
    return [
      {
        name: m.product_title,
        xAxis: from,
        itemStyle: { color: BAND_COLOURS[i % BAND_COLOURS.length] },
        // Neighbouring labels alternate top and bottom, so short bands do not write over each other.
        label: { position: i % 2 ? "insideBottomLeft" : "insideTopLeft" },
      },
      { xAxis: Math.max(until, from + 1000) },
    ];
  });
}

const charts = [];
function chart(name) {
  const box = article.querySelector(`[data-chart="${name}"]`);
  if (!box || !window.echarts) return null;
  const c = window.echarts.init(box, null, { renderer: "svg" });
  charts.push(c);
  return c;
}

function markArea(marks, range) {
  return {
    silent: true,
    label: { show: true, position: "insideTopLeft", fontSize: 11, color: "#333" },
    data: bands(marks, range),
  };
}

function drawTime(data) {
  const t = article.dataset;
  const range = span(data);
  const points = (name, scale = 1) => data.minutes.map((m) => [beijing(m.minute) + MINUTE_MS / 2, m[name] / scale]);
  const common = {
    animation: false,
    useUTC: true,
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 48, right: 56, top: 48, bottom: 28 },
    xAxis: { type: "time", min: range[0], max: range[1], minInterval: MINUTE_MS, axisLabel: { formatter: "{HH}:{mm}", hideOverlap: true } },
  };
  const few = data.minutes.length < 3;
  chart("audience")?.setOption({
    ...common,
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", minInterval: 1 }],
    series: [
      { name: t.tViewers, type: "line", data: points("viewers"), showSymbol: few, markArea: markArea(data.marks, range) },
      { name: t.tComments, type: "bar", yAxisIndex: 1, data: points("comments"), barMaxWidth: 16 },
    ],
  });
  chart("sales")?.setOption({
    ...common,
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value" }],
    series: [
      { name: t.tOrders, type: "bar", data: points("orders"), barMaxWidth: 16, markArea: markArea(data.marks, range) },
      { name: t.tPaidYuan, type: "line", yAxisIndex: 1, data: points("paid_fen", 100), showSymbol: few },
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
