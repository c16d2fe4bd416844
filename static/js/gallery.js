// Virtualized gallery: keeps the DOM bounded however large the library.
// Pages (<section class="gallery-page" data-cursor>) are appended by htmx as the creator scrolls
// down (the `.more` sentinel, hx-trigger="revealed"). Pages far from the viewport are emptied and
// keep their measured height, so nothing shifts; scrolling back refetches exactly that page with
// its start cursor. At most MAX_PAGES pages hold cards at once.
(function () {
  "use strict";
  const feed = document.getElementById("gallery-grid");
  if (!feed || !("IntersectionObserver" in window)) return;
  const MAX_PAGES = 3;

  function pages() {
    return Array.from(feed.querySelectorAll(".gallery-page[data-cursor]"));
  }

  function filled(section) {
    return section.dataset.state !== "placeholder";
  }

  function hollow(section) {
    if (!filled(section) || section.dataset.state === "loading") return;
    section.style.height = section.getBoundingClientRect().height + "px";
    section.replaceChildren();
    section.dataset.state = "placeholder";
    section.setAttribute("aria-hidden", "true");
  }

  function restore(section) {
    if (filled(section)) return;
    section.dataset.state = "loading";
    const url = section.dataset.url + "&part=cards&cursor=" + encodeURIComponent(section.dataset.cursor);
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        if (section.dataset.state !== "loading") return;
        section.innerHTML = html;
        section.style.height = "";
        section.dataset.state = "filled";
        section.removeAttribute("aria-hidden");
        if (window.htmx) htmx.process(section);
        enforceBound();
      })
      .catch(() => { section.dataset.state = "placeholder"; });
  }

  function distance(section) {
    const box = section.getBoundingClientRect();
    const middle = window.innerHeight / 2;
    if (box.bottom < 0) return middle - box.bottom;
    if (box.top > window.innerHeight) return box.top - middle;
    return 0;
  }

  function enforceBound() {
    const live = pages().filter(filled);
    if (live.length <= MAX_PAGES) return;
    live.sort((a, b) => distance(b) - distance(a));
    live.slice(0, live.length - MAX_PAGES).forEach((section) => {
      if (distance(section) > 0) hollow(section);
    });
  }

  const observer = new IntersectionObserver((entries) => {
    // A page is emptied once scrolled past (or to keep the bound), never while it is still
    // ahead: on a phone the first page starts below the form and must not load blank.
    entries.forEach((entry) => {
      if (entry.isIntersecting) restore(entry.target);
      else if (entry.boundingClientRect.top < 0) hollow(entry.target);
    });
    enforceBound();
  }, { rootMargin: "50% 0px" });

  function track(root) {
    const found = root.matches && root.matches(".gallery-page[data-cursor]")
      ? [root] : Array.from(root.querySelectorAll ? root.querySelectorAll(".gallery-page[data-cursor]") : []);
    found.forEach((section) => {
      if (section.dataset.tracked) return;
      section.dataset.tracked = "1";
      section.dataset.state = section.dataset.state || "filled";
      observer.observe(section);
    });
  }

  track(feed);
  document.body.addEventListener("htmx:afterSettle", (event) => {
    track(event.detail.elt.parentNode || feed);
    feed.setAttribute("aria-busy", "false");
  });
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.classList && event.detail.elt.classList.contains("more")) {
      feed.setAttribute("aria-busy", "true");
    }
  });
})();

// An element with data-clear-on-request="<id>" empties that element when its htmx request starts
// (the filters clear the live strip of new thumbnails). In a file, not an hx-on attribute: the
// Content-Security-Policy allows no inline script.
document.addEventListener("htmx:beforeRequest", function (event) {
  const id = event.target instanceof Element ? event.target.dataset.clearOnRequest : undefined;
  const target = id ? document.getElementById(id) : null;
  if (target) target.replaceChildren();
});
