// Cascading province → city → county pickers that fill the six-digit region code field.
// Without JavaScript the code field alone works.
async function childrenOf(code) {
  const url = code ? `/api/v1/regions?parent=${encodeURIComponent(code)}` : "/api/v1/regions";
  const response = await fetch(url, { headers: { accept: "application/json" } });
  if (!response.ok) return [];
  return (await response.json()).items;
}

function fill(select, items) {
  const placeholder = select.options[0];
  select.replaceChildren(placeholder);
  for (const region of items) {
    const option = document.createElement("option");
    option.value = region.code;
    option.textContent = region.name;
    select.append(option);
  }
  select.disabled = items.length === 0;
}

for (const picker of document.querySelectorAll("[data-region-picker]")) {
  const selects = picker.querySelector(".region-selects");
  const [province, city, county] = ["province", "city", "county"].map((level) =>
    picker.querySelector(`select[data-level="${level}"]`));
  const code = picker.querySelector("[data-region-code]");
  selects.hidden = false;
  city.disabled = true;
  county.disabled = true;
  province.addEventListener("change", async () => {
    code.value = province.value;
    fill(city, province.value ? await childrenOf(province.value) : []);
    fill(county, []);
  });
  city.addEventListener("change", async () => {
    code.value = city.value || province.value;
    fill(county, city.value ? await childrenOf(city.value) : []);
  });
  county.addEventListener("change", () => {
    code.value = county.value || city.value || province.value;
  });
}
