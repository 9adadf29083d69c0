// Recompute a lucky draw's winners in the browser, mirroring fieldcast/draws/verify.py exactly:
//   sha256(seed) == seed_hash; entrants ascending by user id; for rank r = 1..min(n, entrants):
//   h = HMAC-SHA256(key = seed, message = UTF-8 "<draw id>:<r>") read big-endian,
//   winner = pool[h mod pool.length], removed from the pool.
// Only the public API is read: GET /api/v1/draws/<id> and its entrants_url.

const enc = new TextEncoder();

function fromHex(hex) {
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) throw new Error("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function toBigInt(buffer) {
  const hex = toHex(buffer);
  return hex ? BigInt(`0x${hex}`) : 0n;
}

/** Winners in rank order, as draws/verify.py pick_winners. */
export async function pickWinners(seed, drawId, entrantIds, n) {
  const pool = [...entrantIds].sort((a, b) => a - b);
  if (new Set(pool).size !== pool.length) throw new Error("an entrant id appears twice");
  const key = await crypto.subtle.importKey("raw", seed, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const winners = [];
  for (let rank = 1; rank <= Math.min(n, pool.length); rank += 1) {
    const mac = await crypto.subtle.sign("HMAC", key, enc.encode(`${drawId}:${rank}`));
    const index = Number(toBigInt(mac) % BigInt(pool.length));
    winners.push(pool.splice(index, 1)[0]);
  }
  return winners;
}

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function verify(root) {
  const t = root.dataset;
  const status = root.querySelector("[data-verify-status]");
  const checks = root.querySelector("[data-verify-checks]");
  const check = (ok, text) => {
    const li = document.createElement("li");
    li.dataset.ok = ok ? "y" : "n";
    li.className = ok ? "check-ok" : "check-bad";
    li.textContent = `${ok ? "✓" : "✗"} ${text}`;
    checks.append(li);
    return ok;
  };
  if (!globalThis.crypto || !crypto.subtle) {
    status.textContent = t.tNoCrypto;
    return;
  }
  status.textContent = t.tLoading;
  let draw;
  let list;
  try {
    draw = await getJson(`/api/v1/draws/${Number(t.drawId)}`);
    if (!draw.seed || !["drawn", "cancelled"].includes(draw.state)) {
      status.textContent = t.tNotYet;
      return;
    }
    list = await getJson(draw.entrants_url);
  } catch {
    status.textContent = t.tFailed;
    return;
  }
  const seed = fromHex(String(draw.seed));
  const hashOk = toHex(await crypto.subtle.digest("SHA-256", seed)) === String(draw.seed_hash || "").toLowerCase();
  check(hashOk, hashOk ? t.tHashOk : t.tHashBad);
  const ids = list.entrants.map((e) => Number(e.user_id));
  const ascending = ids.every((id, i) => i === 0 || ids[i - 1] < id);
  check(ascending, ascending ? t.tOrderOk : t.tOrderBad);
  if (draw.entrant_count !== ids.length) check(false, t.tCountBad);
  const labels = new Map(list.entrants.map((e) => [Number(e.user_id), e.label]));
  const computed = await pickWinners(seed, Number(draw.id), ids, Number(draw.winners_count));
  const out = root.querySelector("[data-verify-winners]");
  out.replaceChildren(
    ...computed.map((id) => {
      const li = document.createElement("li");
      li.dataset.userId = String(id);
      li.textContent = labels.get(id) ?? String(id);
      return li;
    }),
  );
  root.querySelector("[data-verify-result]").hidden = false;
  let same = true;
  if (draw.state === "drawn") {
    const published = [...draw.winners].sort((a, b) => a.rank - b.rank).map((w) => Number(w.user_id));
    same = published.length === computed.length && published.every((id, i) => id === computed[i]);
    check(same, same ? t.tWinnersOk : t.tWinnersBad);
  } else {
    check(true, t.tCancelled);
  }
  root.dataset.verified = hashOk && ascending && same ? "ok" : "failed";
  status.textContent = "";
}

for (const root of document.querySelectorAll("[data-draw-verify]")) verify(root);
