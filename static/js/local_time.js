// Date-times reach the page in UTC (studio_ui's local_time tag: <time datetime="...Z"
// data-local-time> holding "5 Dec 2026, 20:26 UTC"), since the server knows no creator's time
// zone: a browser in Los Angeles read them 8 hours off. This rewrites each in the browser's
// time zone (Intl.DateTimeFormat), on the page and in whatever htmx swaps in, written as the
// server writes it ("5 Dec 2026, 12:26": British English, 24 hours, as the rest of the studio;
// the phone's credit history is laid out for it); an image's alt named by its time
// (data-local-alt) follows. Without JavaScript the UTC time stays, labelled.
(function () {
  "use strict";
  const DATE = {
    datetime: { day: "numeric", month: "short", year: "numeric" },
    short: { day: "numeric", month: "short" },
    // The day alone (studio_ui.DATE_ONLY_STYLES).
    date: { day: "numeric", month: "long", year: "numeric" },
    date_short: { day: "numeric", month: "short", year: "numeric" },
    day: { day: "numeric", month: "long" },
  };
  const DATE_ONLY = new Set(["date", "date_short", "day"]);
  const CLOCK = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const SELECTOR = "time[data-local-time], img[data-local-alt]";
  const LOCALE = "en-GB";
  const zone = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  const formats = {};

  // [date part, clock part] of `iso` in the browser's zone, or null for an unknown style.
  function parts(iso, style) {
    const when = new Date(iso || "");
    if (!DATE[style] || Number.isNaN(when.getTime())) return null;
    if (!formats[style]) {
      formats[style] = [new Intl.DateTimeFormat(LOCALE, DATE[style]), new Intl.DateTimeFormat(LOCALE, CLOCK)];
    }
    return formats[style].map((format) => format.format(when));
  }

  function localize(root) {
    if (!root || typeof root.querySelectorAll !== "function") return;
    const found = [...root.querySelectorAll(SELECTOR)];
    if (root.matches && root.matches(SELECTOR)) found.push(root);
    for (const element of found) {
      if (element.tagName === "TIME") {
        const local = parts(element.getAttribute("datetime"), element.dataset.localTime);
        if (local && DATE_ONLY.has(element.dataset.localTime)) {
          element.textContent = local[0];
          element.title = `${local[0]} (${zone})`;
          continue;
        }
        const spans = element.querySelectorAll("span");
        if (!local || spans.length !== 2) continue;
        spans[0].textContent = `${local[0]},`;
        spans[1].textContent = local[1];
        element.title = `${local[0]}, ${local[1]} (${zone})`;
      } else {
        const local = parts(element.dataset.datetime, element.dataset.localTime);
        if (local) element.alt = `${element.dataset.localAlt} ${local[0]}, ${local[1]}`;
      }
    }
  }

  localize(document);
  // htmx:load for each element swapped in (out of band too); afterSwap for the swap's target.
  document.addEventListener("htmx:load", (event) => localize(event.target));
  document.addEventListener("htmx:afterSwap", (event) => localize(event.detail && event.detail.target));
})();
