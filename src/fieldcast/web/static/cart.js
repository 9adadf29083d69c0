// The cart's "Buy this now" boxes: an unticked line's checkout fields are disabled, so the form
// posts only the ticked lines, and the subtotals and the total follow. Without JavaScript every
// line that can be bought is bought.
const total = document.querySelector("[data-cart-total]");
const button = document.querySelector("[data-checkout-button]");
const groups = [...document.querySelectorAll("[data-cart-group]")];
const yuan = (fen) =>
  "¥" + (fen / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function update() {
  let fen = 0;
  let chosen = 0;
  for (const group of groups) {
    let groupFen = 0;
    for (const line of group.querySelectorAll("[data-testid=cart-line]")) {
      const box = line.querySelector("[data-include]");
      if (!box) continue;
      for (const field of line.querySelectorAll("[data-checkout-field]")) field.disabled = !box.checked;
      if (box.checked) {
        groupFen += Number(line.dataset.lineTotalFen);
        chosen += 1;
      }
    }
    const subtotal = group.querySelector("[data-group-subtotal]");
    if (subtotal) subtotal.textContent = yuan(groupFen);
    fen += groupFen;
  }
  if (total) total.textContent = yuan(fen);
  if (button) button.disabled = chosen === 0;
}

for (const label of document.querySelectorAll("[data-include-label]")) {
  label.hidden = false;
  label.querySelector("[data-include]").addEventListener("change", update);
}
update();
