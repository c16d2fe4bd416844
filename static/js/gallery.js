// Virtualized gallery: keeps the DOM bounded however large the library, in one continuous grid.
// #gallery-grid is a CSS grid; the live section (new thumbnails) and each page
// (<section class="gallery-page" data-cursor>) are `display: contents`, so every card is a cell of
// the same grid and pages join with no short rows. Pages are appended by htmx as the creator
// scrolls down (the `.more` sentinel, hx-trigger="revealed"). A page scrolled past is emptied and
// replaced by spacers that fill exactly the cells and rows its cards held (a partial first row,
// one block for the full rows, a partial last row), so nothing shifts; scrolling back refetches
// exactly that page with its start cursor. At most MAX_PAGES pages hold cards at once.
(function () {
  "use strict";
  const feed = document.getElementById("gallery-grid");
  if (!feed) return;
  const MAX_PAGES = 3;
  let scheduled = false;

  function pages() {
    return Array.from(feed.querySelectorAll(".gallery-page[data-cursor]"));
  }

  function filled(section) {
    return section.dataset.state !== "placeholder" && section.dataset.state !== "loading";
  }

  function cardCount(section) {
    return filled(section) ? section.querySelectorAll(":scope > .thumb").length : Number(section.dataset.count || 0);
  }

  function grid() {
    const style = getComputedStyle(feed);
    return {
      columns: Math.max(1, style.gridTemplateColumns.split(" ").filter(Boolean).length),
      gap: parseFloat(style.rowGap) || 0,
    };
  }

  // Spacers standing in for `count` cards that start at grid column `start` (0-based).
  function spacers(count, start, columns, rowHeight, gap) {
    const nodes = [];
    const cell = () => {
      const el = document.createElement("div");
      el.className = "gallery-spacer";
      el.style.height = rowHeight + "px";
      return el;
    };
    let left = count;
    const head = start ? Math.min(left, columns - start) : 0;
    for (let i = 0; i < head; i += 1) nodes.push(cell());
    left -= head;
    const rows = Math.floor(left / columns);
    if (rows) {
      const block = document.createElement("div");
      block.className = "gallery-spacer rows";
      block.style.height = rows * rowHeight + (rows - 1) * gap + "px";
      nodes.push(block);
    }
    for (let i = 0; i < left % columns; i += 1) nodes.push(cell());
    return nodes;
  }

  // Rebuilds every emptied page's spacers for the grid as it is now (columns change with the
  // width; new or deleted cards before a page move its first card to another column).
  function relayout() {
    const { columns, gap } = grid();
    let index = feed.querySelectorAll("#gallery-live > .thumb").length;
    pages().forEach((section) => {
      const count = cardCount(section);
      if (section.dataset.state === "placeholder") {
        const start = index % columns;
        const signature = [count, start, columns, section.dataset.rowHeight].join(",");
        if (section.dataset.layout !== signature) {
          section.dataset.layout = signature;
          section.replaceChildren(...spacers(count, start, columns, Number(section.dataset.rowHeight), gap));
        }
      }
      index += count;
    });
  }

  function hollow(section) {
    if (!filled(section)) return;
    const first = section.querySelector(":scope > .thumb");
    if (!first) return;
    section.dataset.count = String(cardCount(section));
    section.dataset.rowHeight = String(first.getBoundingClientRect().height);
    section.dataset.layout = "";
    section.dataset.state = "placeholder";
    section.setAttribute("aria-hidden", "true");
    relayout();
  }

  function restore(section) {
    if (section.dataset.state !== "placeholder") return;
    section.dataset.state = "loading";
    const url = section.dataset.url + "&part=cards&cursor=" + encodeURIComponent(section.dataset.cursor);
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((response) => {
        // The session ended: the server answers as it does htmx (HX-Redirect to sign-in).
        const away = response.headers.get("HX-Redirect");
        if (away) {
          location.assign(away);
          return Promise.reject(response.status);
        }
        return response.ok ? response.text() : Promise.reject(response.status);
      })
      .then((html) => {
        if (section.dataset.state !== "loading") return;
        section.innerHTML = html;
        section.dataset.state = "filled";
        section.removeAttribute("aria-hidden");
        if (window.htmx) htmx.process(section);
        relayout();
        schedule();
      })
      .catch(() => { section.dataset.state = "placeholder"; });
  }

  // Distance in px from the page's extent to the viewport (0 when they overlap); negative
  // `bottom` means the page is above the viewport.
  function extent(section) {
    const first = section.firstElementChild;
    const last = section.lastElementChild;
    if (!first || !last) return null;
    return { top: first.getBoundingClientRect().top, bottom: last.getBoundingClientRect().bottom };
  }

  function distance(box) {
    if (box.bottom < 0) return -box.bottom;
    if (box.top > window.innerHeight) return box.top - window.innerHeight;
    return 0;
  }

  function update() {
    scheduled = false;
    const margin = window.innerHeight / 2;
    const live = [];
    pages().forEach((section) => {
      const box = extent(section);
      if (!box) return;
      const far = distance(box);
      if (section.dataset.state === "placeholder") {
        if (far <= margin) restore(section);
      } else if (filled(section)) {
        // Emptied once scrolled past, never while still ahead: on a phone the first page starts
        // below the form and must not load blank.
        if (box.bottom < -margin) hollow(section);
        else live.push([far, section]);
      }
    });
    if (live.length > MAX_PAGES) {
      live.sort((a, b) => b[0] - a[0]);
      live.slice(0, live.length - MAX_PAGES).forEach(([far, section]) => { if (far > 0) hollow(section); });
    }
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(update);
  }

  // The last card deleted, moved out or unfavourited under a filter: say so, as the server's
  // page does, instead of a blank grid; and the note goes when a first thumbnail arrives.
  function sayWhenEmpty() {
    const note = feed.querySelector(".empty");
    if (feed.querySelector("#gallery-live > .thumb") || pages().some((s) => cardCount(s) > 0)) {
      if (note) note.remove();
      return;
    }
    if (note || feed.querySelector(".more")) return;
    const filters = document.querySelector("form.gallery-filters");  // what the grid was asked for
    const filtered = Boolean(filters) && (
      filters.elements.q.value.trim() !== "" || filters.elements.favorites.checked ||
      !["", "all"].includes(filters.elements.project.value));
    const made = document.createElement("p");
    made.className = "muted empty";
    made.setAttribute("role", "article");  // a feed holds articles only (axe: aria-required-children)
    made.textContent = filtered ? "No thumbnails match." : "Your thumbnails will appear here.";
    document.getElementById("gallery-pages").append(made);
  }
  // The keyboard's place in the grid. A card's Favourite button comes back focused with its
  // card (its id: after a swap htmx focuses the element with the focused one's id); a deleted
  // card leaves nothing to focus, and the focus fell to the top of the page: it goes to the
  // card that takes its place (or the one before, or the gallery's heading) instead.
  feed.addEventListener("htmx:beforeSwap", (event) => {
    const card = event.detail.target;
    if (!(card instanceof HTMLElement) || !card.matches(".thumb") || !card.contains(document.activeElement)) return;
    // A 404 that removes the card (its thumbnail deleted in another tab) is swapped by
    // studio.js's listener, which runs after this one: its HX-Retarget says it will be.
    const swaps = event.detail.shouldSwap || Boolean(event.detail.xhr.getResponseHeader("HX-Retarget"));
    if (!swaps || event.detail.serverResponse.trim()) return;  // kept or replaced
    const cards = Array.from(feed.querySelectorAll(".thumb"));
    const at = cards.indexOf(card);
    const next = cards[at + 1] || cards[at - 1] || document.getElementById("gallery-heading");
    // The swap runs right after this event, in the same task.
    queueMicrotask(() => { if (!card.isConnected && next && next.isConnected) next.focus(); });
  });
  // A card's project menu whose move failed (refused, the project or the card's thumbnail gone,
  // no network) goes back to the project the card is in, not left on one it never went to.
  feed.addEventListener("htmx:afterRequest", (event) => {
    const menu = event.detail.elt;
    if (event.detail.successful || !(menu instanceof HTMLSelectElement) || !menu.matches("select.move")) return;
    Array.from(menu.options).forEach((option) => { option.selected = option.defaultSelected; });
  });
  window.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", () => { relayout(); schedule(); });
  // New thumbnails (live section), deleted cards and appended pages change what precedes a page.
  new MutationObserver((records) => {
    if (records.some((r) => !(r.target instanceof Element && r.target.dataset.state === "placeholder"))) {
      relayout();
      schedule();
      sayWhenEmpty();
    }
  }).observe(feed, { childList: true, subtree: true });
  document.body.addEventListener("htmx:afterSettle", () => feed.setAttribute("aria-busy", "false"));
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.classList && event.detail.elt.classList.contains("more")) {
      feed.setAttribute("aria-busy", "true");
    }
  });
  schedule();
})();

// An element with data-clear-on-request="<id>" empties that element when its htmx request starts
// (the filters clear the live strip of new thumbnails). In a file, not an hx-on attribute: the
// Content-Security-Policy allows no inline script.
document.addEventListener("htmx:beforeRequest", function (event) {
  const id = event.target instanceof Element ? event.target.dataset.clearOnRequest : undefined;
  const target = id ? document.getElementById(id) : null;
  if (target) target.replaceChildren();
});
