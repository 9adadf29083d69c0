// The payment page notices the payment by itself: it asks for the payment's state every two
// seconds while it is pending, and shows the time left to pay.
const root = document.querySelector("[data-testid=pay]");
if (root && root.dataset.state === "pending") {
  const stateEl = root.querySelector("[data-testid=pay-state]");
  const expires = Date.parse(root.dataset.expiresAt);
  const tick = () => {
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    const el = root.querySelector("[data-testid=pay-left]");
    if (el) el.textContent = root.dataset.tLeft.replace("{m}", Math.floor(left / 60)).replace("{s}", left % 60);
  };
  const poll = async () => {
    try {
      const r = await fetch(root.dataset.apiUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) {
        const p = await r.json();
        if (p.state !== "pending") {
          root.dataset.state = p.state;
          stateEl.textContent = p.state === "paid" ? root.dataset.tPaid : root.dataset.tClosed;
          for (const el of root.querySelectorAll(".pay-qr, [data-testid=pay-open], form")) el.remove();
          window.parent?.postMessage({ type: "fieldcast.payment", id: p.id, state: p.state }, location.origin);
          return;
        }
      }
    } catch (_) { /* offline for a moment: try again */ }
    setTimeout(poll, 2000);
  };
  tick();
  setInterval(tick, 1000);
  setTimeout(poll, 2000);
}
