// Palette form helper: a colour picker that appends "#RRGGBB" to the colours field, and a live
// swatch preview of what the field holds. Without JavaScript the text field alone works.
(function () {
  "use strict";
  const helper = document.querySelector("[data-color-helper]");
  const field = document.getElementById("palette_colors");
  const preview = document.querySelector("[data-swatch-preview]");
  if (!helper || !field || !preview) return;
  const picker = helper.querySelector("input[type=color]");
  const HEX = /^#[0-9a-f]{6}$/i;

  function colors() {
    return field.value.split(/[\s,]+/).filter((c) => HEX.test(c));
  }

  function render() {
    preview.replaceChildren(...colors().map((color) => {
      const swatch = document.createElement("span");
      swatch.style.background = color;
      return swatch;
    }));
  }

  // The picker refuses what the server would (studio.forms.parse_colors): a seventh colour, or
  // one the palette has, says why here instead of at Save.
  const note = document.querySelector("[data-color-note]");
  const MAX_COLORS = 6;

  function say(text) {
    if (note) note.textContent = text;
  }

  helper.querySelector("[data-add-color]").addEventListener("click", () => {
    const color = picker.value.toUpperCase();
    const current = colors().map((c) => c.toUpperCase());
    if (current.includes(color)) {
      say(`${color} is already in this palette.`);
      return;
    }
    if (current.length >= MAX_COLORS) {
      say(`A palette has 3 to ${MAX_COLORS} colours; this one has ${current.length}. Remove one to add ${color}.`);
      return;
    }
    const typed = field.value.trim().replace(/,\s*$/, "");
    field.value = (typed ? typed + ", " : "") + color;
    say("");
    render();
  });
  field.addEventListener("input", () => {
    say("");
    render();
  });
  helper.hidden = false;
  render();
})();

// A style's or palette's Edit form swaps its whole tile, and the Save button it was sent from
// is gone with the old tile, leaving the keyboard at the top of the page: the focus goes to the
// new tile's form (the first field, under the error saying why it was not saved) or, once
// saved, to its Edit summary (next to the "saved" status).
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (!(target instanceof Element) || !/^(style|palette)-\d+$/.test(target.id)) return;
  const tileId = target.id;
  // The Save button, disabled while the request runs, already let the focus go to the body.
  const active = document.activeElement;
  const hadFocus = !active || active === document.body || target.contains(active);
  document.addEventListener("htmx:afterSettle", function settle() {
    document.removeEventListener("htmx:afterSettle", settle);
    const tile = document.getElementById(tileId);
    const now = document.activeElement;
    if (!tile || !hadFocus || (now && now !== document.body)) return;
    const details = tile.querySelector("details.tile-edit");
    const next = details && details.open ? details.querySelector("input:not([type=hidden]), textarea") : details && details.querySelector("summary");
    if (next) next.focus();
  });
});
