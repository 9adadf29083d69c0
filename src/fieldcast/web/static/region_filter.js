// Product search's province → city → county selects. Without JavaScript they are a plain GET
// form (each search lists the choices under the region picked); here a pick fills the next select
// at once from /api/v1/regions, and clears the ones below it.
const LEVELS = ["province", "city", "county"];

async function childrenOf(code) {
  const response = await fetch(`/api/v1/regions?parent=${encodeURIComponent(code)}`, { headers: { accept: "application/json" } });
  if (!response.ok) return [];
  return (await response.json()).items;
}

function fill(select, items) {
  const all = select.options[0];
  select.replaceChildren(all);
  for (const region of items) select.append(new Option(region.name, region.code));
  select.value = "";
  select.disabled = items.length === 0;
}

for (const filter of document.querySelectorAll("[data-region-filter]")) {
  const selects = LEVELS.map((level) => filter.querySelector(`select[data-level="${level}"]`));
  filter.querySelector("[data-no-js-hint]")?.setAttribute("hidden", "");
  selects.forEach((select, i) => {
    const next = selects[i + 1];
    if (!next) return;
    select.addEventListener("change", async () => {
      for (const below of selects.slice(i + 2)) fill(below, []);
      fill(next, select.value ? await childrenOf(select.value) : []);
      filter.dataset.ready = select.value;
    });
  });
}
