// Live countdowns to a show's start: every [data-countdown-to] element shows hh:mm:ss until then,
// and its data-t-soon text once the time has come. Without JavaScript it keeps the start time.
const pad = (n) => String(n).padStart(2, "0");

export function formatRemaining(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  return `${pad(hours)}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}

function tick(elements) {
  const now = Date.now();
  for (const el of elements) {
    const left = Date.parse(el.dataset.countdownTo) - now;
    el.textContent = left > 0 ? formatRemaining(left) : el.dataset.tSoon || formatRemaining(0);
  }
}

export function startCountdowns(root = document) {
  const elements = [...root.querySelectorAll("[data-countdown-to]")].filter((el) => !Number.isNaN(Date.parse(el.dataset.countdownTo)));
  if (elements.length === 0) return;
  tick(elements);
  setInterval(() => tick(elements), 1000);
}

startCountdowns();
