// Live job progress over the /ws/jobs/ websocket. The server pushes
// {"type": "job.updated", "job": {...}}; this only updates attributes (CSS animates) and, when a
// job finishes, asks htmx for its card, whose out-of-band swap adds the thumbnails to the gallery.
// A job's statuses once it has finished (generation.models.Job.Status), for both parts below.
const FINISHED = new Set(["succeeded", "partially_succeeded", "failed", "cancelled"]);

(function () {
  "use strict";
  const labelsEl = document.getElementById("stage-labels");
  const LABELS = labelsEl ? JSON.parse(labelsEl.textContent) : {};
  const form = document.getElementById("generate-form");
  const errors = document.getElementById("generate-errors");
  let socket = null;
  let retry = 0;
  // While any form that adds a job card is posting (generate to #jobs, a tool to the results under
  // its form on a thumbnail's large view), updates for a
  // job this page has no card for yet are held until the response's card is in, so the socket
  // and the response never add the card twice.
  let posting = 0;
  const held = [];
  const refreshing = new Set();
  const refreshAgain = new Set();  // asked for while a refresh was in flight

  function card(id) { return document.getElementById("job-" + id); }

  // A bar never moves back. The database has a running job's progress as of its last lease
  // renewal, seconds behind the live events, so a reload (or a card fetched while the socket
  // is down) showed an earlier figure than the page had: 50% went back to 32%. The tab keeps
  // the furthest stage and figure of each job (sessionStorage) and a card drawn by the server
  // starts from there.
  const SEEN = "vb-progress-";
  function remember(job) {
    try {
      if (FINISHED.has(job.status)) sessionStorage.removeItem(SEEN + job.id);
      else sessionStorage.setItem(SEEN + job.id, JSON.stringify({ progress: job.progress, stage: job.stage, status: job.status }));
    } catch (e) { /* storage off: the bar may step back once */ }
  }
  function furthest(id) {
    try { return JSON.parse(sessionStorage.getItem(SEEN + id) || "null"); } catch (e) { return null; }
  }
  function resumeBars(root) {
    root.querySelectorAll(".job[data-job-id]").forEach((el) => {
      const seen = furthest(el.dataset.jobId);
      const bar = el.querySelector("[role=progressbar]");
      const shown = bar ? Number(bar.getAttribute("aria-valuenow")) : 0;
      if (!seen || seen.status !== el.dataset.status || seen.progress <= shown) return;
      apply({ id: el.dataset.jobId, status: seen.status, stage: seen.stage, progress: seen.progress });
    });
  }

  function stageLabel(stage) {
    return LABELS[stage] || stage.charAt(0).toUpperCase() + stage.slice(1).replace(/_/g, " ");
  }

  // Cards this page's own forms added: when one finishes with a result to read (a tool, Better
  // titles; not a generate card, which collapses into the gallery), it is brought into view.
  const posted = new Set();

  // Scroll `el` to the top of the screen (below the sticky header: html's scroll-padding-top)
  // when it starts out of sight or in the lower part of the screen, where a growing card ran
  // off the bottom; left alone when the creator can already read its start.
  // A smooth scroll can be cut short (the page changing under it, a busy machine): once it
  // should have ended, the move is finished at once, unless the creator scrolled meanwhile.
  const CREATOR_SCROLLS = ["wheel", "touchstart", "keydown", "mousedown"];
  function reveal(el) {
    const top = parseFloat(getComputedStyle(document.documentElement).scrollPaddingTop) || 0;
    const away = () => {
      const now = el.getBoundingClientRect().top;
      return now < top - 1 || now > window.innerHeight * 0.6;
    };
    if (!away()) return;
    const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    el.scrollIntoView({ block: "start", behavior: reduce ? "auto" : "smooth" });
    let scrolled = false;
    const mark = () => { scrolled = true; };
    CREATOR_SCROLLS.forEach((name) => window.addEventListener(name, mark, { passive: true }));
    setTimeout(() => {
      CREATOR_SCROLLS.forEach((name) => window.removeEventListener(name, mark));
      if (!scrolled && el.isConnected && away()) el.scrollIntoView({ block: "start" });
    }, 1000);
  }

  function refreshCard(id) {
    // One refresh per card at a time: two finished cards would add the thumbnails twice. A
    // refresh asked for while one is in flight runs after it: the one in flight may have been
    // asked while the job still ran (the socket's catch-up on connecting), and its answer would
    // otherwise leave a finished job's card showing "running" for good.
    if (!window.htmx || !card(id)) return;
    if (refreshing.has(id)) {
      refreshAgain.add(id);
      return;
    }
    refreshing.add(id);
    // The card is the request's source as well as its target: htmx queues requests per source
    // element, keeping only the newest waiting one and resolving the others' promises at once,
    // so with one shared source (the default, the page's body) cards finishing together were
    // dropped and "revealed" before their finished card was in.
    const source = "#job-" + id;
    htmx.ajax("GET", "/studio/jobs/" + id, { source: source, target: source, swap: "outerHTML" })
      .then(() => {
        const el = card(id);
        if (el && posted.has(id) && FINISHED.has(el.dataset.status) && !el.hasAttribute("data-collapse")) {
          posted.delete(id);
          reveal(el);
        }
      })
      .finally(() => {
        refreshing.delete(id);
        if (refreshAgain.delete(id)) refreshCard(id);
      });
  }

  function apply(job) {
    const el = card(job.id);
    if (!el) {
      if (posting) {
        held.push(job);
      } else if (!FINISHED.has(job.status) && window.htmx) {
        const holder = document.createElement("div");
        holder.id = "job-" + job.id;
        document.getElementById("jobs").prepend(holder);
        refreshCard(job.id);
      }
      return;
    }
    // A finished card stays finished: events reach the page out of order across processes
    // (the web process publishes "cancelled" while the worker's last "running" is on its way).
    if (FINISHED.has(el.dataset.status) && !FINISHED.has(job.status)) return;
    if (el.dataset.status === job.status && FINISHED.has(job.status)) return;
    // Only the figure is held back, and only while the status stays: a job put back in the queue
    // (or retried) shows its new stage, and a finished job's memory goes.
    const seen = furthest(job.id);
    if (seen && seen.status === job.status && seen.progress > job.progress) {
      job = { ...job, progress: seen.progress };
    } else {
      remember(job);
    }
    el.style.setProperty("--progress", job.progress + "%");
    el.dataset.status = job.status;
    el.className = el.className.replace(/status-\S+/, "status-" + job.status);
    const label = stageLabel(job.stage);
    const bar = el.querySelector("[role=progressbar]");
    if (bar) {
      bar.setAttribute("aria-valuenow", job.progress);
      bar.setAttribute("aria-valuetext", label + ", " + job.progress + "%");
    }
    const stage = el.querySelector("[data-stage]");
    if (stage) stage.textContent = label;
    const percent = el.querySelector("[data-percent]");
    if (percent) percent.textContent = job.progress + "%";
    if (FINISHED.has(job.status)) refreshCard(job.id);
  }

  function unfinishedCards() {
    return Array.from(document.querySelectorAll(".job[data-job-id]"))
      .filter((el) => !FINISHED.has(el.dataset.status));
  }

  // While the socket is down, unfinished cards are fetched every POLL_MS instead, so a running
  // job still moves and finishes on the page; reconnects back off to at most RECONNECT_MAX_MS,
  // with jitter (after a restart every open tab does not reconnect in the same instant), and
  // happen at once when the browser comes back online or the tab is shown again. POLL_MS is the
  // server's settings.STUDIO_POLL_MS (the page's #live-updates; 4000 ms without it).
  const liveEl = document.getElementById("live-updates");
  const POLL_MS = (liveEl && Number(JSON.parse(liveEl.textContent).poll_ms)) || 4000;
  const RECONNECT_MAX_MS = 8000;
  let pollTimer = null;
  let reconnectTimer = null;

  function catchUp() {
    unfinishedCards().forEach((el) => refreshCard(el.dataset.jobId));
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/jobs/");
    socket.addEventListener("open", () => {
      retry = 0;
      clearInterval(pollTimer);
      pollTimer = null;
      document.body.dataset.live = "on";
      catchUp(); // anything that finished while the socket was down
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "job.updated") apply(data.job);
    });
    socket.addEventListener("close", (event) => {
      document.body.dataset.live = "off";
      if (event.code === 4401) return; // signed out
      if (!pollTimer) pollTimer = setInterval(() => { if (!document.hidden) catchUp(); }, POLL_MS);
      retry = Math.min(retry + 1, 6);
      const delay = Math.min(500 * 2 ** retry, RECONNECT_MAX_MS) * (0.5 + Math.random() / 2);
      reconnectTimer = setTimeout(connect, delay); // reconnect backoff, not an animation
    });
  }

  function reconnectNow() {
    if (reconnectTimer && !document.hidden) connect();
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", reconnectNow);

  // Error answers that name their own target (HX-Retarget, e.g. the generate form's 400/402/403/
  // 409/429/503 fragments for #generate-errors) are readable messages: swap them, although htmx 2
  // swaps no 4xx/5xx by default. Other error pages (a bare 404 or 500) are never swapped in.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  const addsJobCard = (event) => {
    const target = event.detail.target;
    return Boolean(target) && (target.id === "jobs" || target.classList.contains("tool-results"));
  };
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (addsJobCard(event)) posting += 1;
  });
  // A new card may land below the fold (under a tool's form, or above a long page), and so may
  // a refusal under a tool's form: into view.
  // A card the server drew starts from the tab's furthest figure. After the settle, not the
  // swap: htmx gives a replaced card its old style while it settles, then the server's, which
  // put the bar back to the database's figure under the right percentage.
  document.addEventListener("htmx:afterSettle", () => resumeBars(document));
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    const first = addsJobCard(event) && target.firstElementChild;
    if (first) {
      if (first.dataset.jobId) posted.add(first.dataset.jobId);
      if (FINISHED.has(first.dataset.status) && !first.hasAttribute("data-collapse")) {
        posted.delete(first.dataset.jobId);  // answered at once (a cached result)
      }
      reveal(first);
    } else if (target && target.classList.contains("form-errors") && target.textContent.trim()) {
      reveal(target);
    }
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    if (!addsJobCard(event)) return;
    posting = Math.max(0, posting - 1);
    if (!posting) held.splice(0).forEach(apply);
  });

  if (form) {
    form.addEventListener("htmx:afterRequest", (event) => {
      if (event.detail.elt !== form) return;  // e.g. the project-defaults button inside it
      const xhr = event.detail.xhr;
      const handled = xhr && xhr.status > 0 && (xhr.status < 400 || xhr.getResponseHeader("HX-Retarget"));
      if (!event.detail.successful && !handled && errors) {
        errors.innerHTML = '<p class="error">Could not reach ViewBait (' +
          (xhr && xhr.status ? "error " + xhr.status : "network error") +
          "). Your form is unchanged: try again, you will not be charged twice.</p>";
      }
    });
    // What the current choices make ("9:16 · 2K · 2 images"), under Generate (whose label has
    // their price: syncCredits below): the Output choices sit below the form's fold on a
    // laptop, and the summary links to them.
    const summary = document.getElementById("output-summary");
    const updateSummary = () => {
      const images = Number(form.elements.variations.value || 1);
      summary.textContent = form.elements.aspect_ratio.value + " · " + form.elements.resolution.value +
        " · " + images + (images === 1 ? " image" : " images");
    };
    if (summary) {
      form.addEventListener("change", updateSummary);
      updateSummary();
    }
    // A picked face whose best photo is too small for the chosen resolution: say so before
    // credits are spent (studio/face_quality.py measures the photos; the chip carries the result).
    const soft = document.getElementById("soft-face");
    const SIZES = ["1K", "2K", "4K"];
    const updateSoft = () => {
      const resolution = form.elements.resolution.value;
      const chips = Array.from(form.querySelectorAll(".face-chip[data-sharp-up-to]")).filter(
        (chip) => chip.querySelector("input").checked &&
          SIZES.indexOf(chip.dataset.sharpUpTo) < SIZES.indexOf(resolution));
      // A picked face with no face found in its photos (a photo of a cup): left out beside
      // faces that are cut out (generation/providers/local.py _people_with_cutouts).
      const picked = Array.from(form.querySelectorAll(".face-chip")).filter((chip) => chip.querySelector("input").checked);
      const faceless = picked.filter((chip) => chip.hasAttribute("data-no-face"));
      const nameOf = (list) => list.map((chip) => chip.querySelector(".name").textContent).join(", ");
      const lines = [];
      if (chips.length) {
        const limits = chips.map((chip) => chip.dataset.sharpUpTo).filter(Boolean).sort();
        lines.push(nameOf(chips) + ": " + (limits.length === chips.length
          ? "the photo stays sharp up to " + limits[0] + "; at " + resolution + " the face will look soft."
          : "the photo is small, so the face will look soft.") +
          " A larger photo in the Library fixes it.");
      }
      if (faceless.length) {
        lines.push(nameOf(faceless) + ": no face was found in " + (faceless.length === 1 ? "its photo" : "their photos") +
          (faceless.length < picked.length
            ? ", so beside the other faces it is left out of the thumbnail."
            : ", so it is shown in a frame rather than cut out."));
      }
      soft.hidden = lines.length === 0;
      soft.textContent = lines.join(" ");
    };
    if (soft) {
      form.addEventListener("change", updateSoft);
      updateSoft();
    }
    // The picked style's preview beside its menu (a style was picked by its name alone); none
    // for "No style". A project's defaults change the menu through a form "change" too.
    const stylePreview = document.getElementById("style-preview");
    const updateStylePreview = () => {
      const option = form.elements.style_id.selectedOptions[0];
      const url = option ? option.dataset.preview : "";
      stylePreview.hidden = !url;
      if (url && stylePreview.getAttribute("src") !== url) stylePreview.setAttribute("src", url);
    };
    if (stylePreview) {
      form.addEventListener("change", updateStylePreview);
      updateStylePreview();
    }
  }

  if (document.getElementById("jobs")) {
    resumeBars(document);
    connect();
  }

  // Enter on a focused thumbnail card opens its large view (a click opens it through its link).
  document.addEventListener("keydown", (event) => {
    const el = event.target;
    if (event.key === "Enter" && el instanceof HTMLElement && el.matches(".thumb[data-href]")) {
      window.location.assign(el.dataset.href);
    }
  });
})();

// A delete form with data-confirm asks first (one tap removed a face and its photos, a project
// and its share link, or a thumbnail from its large view). Delegated; without JavaScript the
// form posts as before. The library and the large view load this file.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// --- Better titles (studio/job_types/enhance_title.py) ---------------------------------------
// A suggestion's button carries data-fill-title: clicking it puts the text in the generate
// form's #title (and a concept's data-fill-style in #style) and focuses it. Delegated, so cards added later by htmx work too. Pages without
// the form (a thumbnail's large view) copy the text instead.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-fill-title]") : null;
  if (!button) return;
  const text = button.getAttribute("data-fill-title");
  const title = document.getElementById("title");
  // A concept (suggest_concepts) also carries its style: picked in the form when it is there.
  const style = document.getElementById("style");
  const styleId = button.getAttribute("data-fill-style");
  if (title && style && styleId && style.querySelector(`option[value="${CSS.escape(styleId)}"]`)) {
    style.value = styleId;
    style.dispatchEvent(new Event("change", { bubbles: true }));
  }
  if (title) {
    title.value = text;
    title.dispatchEvent(new Event("input", { bubbles: true }));
    title.focus();
    title.setSelectionRange(text.length, text.length);
    title.scrollIntoView({ block: "nearest" });
  } else if (navigator.clipboard) {
    navigator.clipboard.writeText(text).then(() => { button.dataset.copied = "true"; });
  }
});

// --- Form manners ------------------------------------------------------------------------------
(function () {
  "use strict";
  const form = document.getElementById("generate-form");

  // Enter in a text field of a paid form (Generate, the AI tools) does not submit it: spending
  // credits takes a deliberate press of its button (or Enter on the button itself).
  const PAID_FORMS = "#generate-form, form.tool-form";
  document.addEventListener("keydown", (event) => {
    const el = event.target;
    if (event.key === "Enter" && el instanceof HTMLInputElement && el.closest(PAID_FORMS) &&
        !["submit", "button", "checkbox", "radio", "file"].includes(el.type)) {
      event.preventDefault();
    }
  });

  // The title field's example, shorter where the screen is narrow (its data-placeholder-narrow):
  // the whole one is cut off on a phone. Follows a rotation.
  const title = document.getElementById("title");
  if (title && title.dataset.placeholderNarrow) {
    const wide = title.placeholder;
    const narrow = window.matchMedia("(max-width: 480px)");
    const fit = () => { title.placeholder = narrow.matches ? title.dataset.placeholderNarrow : wide; };
    fit();
    narrow.addEventListener("change", fit);
  }

  // A tool form's request carries an idempotency key (a hidden idempotency_key field), made on
  // its first submit and kept until an answer arrives: a request retried after a lost answer
  // (network error, 5xx) replays the job instead of charging again; any other answer (the job's
  // card, or a refusal to fix) drops it, so the next deliberate submit is a new request. The
  // generate form gets its keys from the server instead (studio.html, #idempotency-key).
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));  // randomUUID needs https
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  document.addEventListener("submit", (event) => {
    const toolForm = event.target;
    if (!(toolForm instanceof HTMLFormElement) || !toolForm.matches("form.tool-form")) return;
    let key = toolForm.querySelector("input[name=idempotency_key]");
    if (!key) {
      key = Object.assign(document.createElement("input"), {type: "hidden", name: "idempotency_key"});
      toolForm.append(key);
    }
    if (!key.value) key.value = newKey();
  }, true);  // capture: before htmx reads the form's values
  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    if (!(elt instanceof HTMLFormElement) || !elt.matches("form.tool-form")) return;
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    const key = elt.querySelector("input[name=idempotency_key]");
    if (key && status > 0 && status < 500) key.value = "";
  });

  // A paid form's last refusal ("change the text, style, palette or faces...") goes when the form
  // is sent again, or stopped by the browser for a field of its own (too many references): it
  // stayed beside the browser's new message, as if it were the answer. Where it is: the
  // errors box beside the form's own results (#results-<type> -> #errors-<type>), or the
  // page's #tool-errors; #generate-errors for Generate. A new refusal comes with the answer.
  function errorsOf(paidForm) {
    if (paidForm.id === "generate-form") return document.getElementById("generate-errors");
    const own = /^#results-(\w+)$/.exec(paidForm.getAttribute("hx-target") || "");
    return document.getElementById(own ? "errors-" + own[1] : "tool-errors");
  }
  function clearErrors(event) {
    const el = event.target;
    const paidForm = el instanceof HTMLFormElement ? el : el instanceof Element && el.form;
    if (!(paidForm instanceof HTMLFormElement) || !paidForm.matches(PAID_FORMS)) return;
    const box = errorsOf(paidForm);
    if (box && box.textContent.trim()) box.replaceChildren();
  }
  document.addEventListener("submit", clearErrors, true);
  document.addEventListener("invalid", clearErrors, true);  // "invalid" does not bubble

  // A picker of at most data-max-picks images, ticked and uploaded together (the edit form's
  // references; the server refuses more): at the limit the unticked boxes are disabled and a
  // note says why; uploads past it are refused by the file field before anything is sent.
  function limitPicks(fieldset) {
    const most = Number(fieldset.dataset.maxPicks);
    const boxes = Array.from(fieldset.querySelectorAll("input[type=checkbox]"));
    const upload = fieldset.querySelector("input[type=file]");
    const uploaded = upload ? upload.files.length : 0;
    const picked = boxes.filter((box) => box.checked).length + uploaded;
    boxes.forEach((box) => { if (!box.checked) box.disabled = picked >= most; });
    const over = picked > most
      ? "That makes " + picked + " references; an edit takes at most " + most + ". Untick some or choose fewer files."
      : "";
    if (upload) upload.setCustomValidity(over);
    const note = fieldset.querySelector(".picks-full");
    if (!note) return;
    note.hidden = picked < most;
    note.textContent = over || (most + " references picked, the most an edit takes: untick one to pick another.");
  }
  document.addEventListener("change", (event) => {
    const fieldset = event.target instanceof Element && event.target.closest("fieldset[data-max-picks]");
    if (fieldset) limitPicks(fieldset);
  });
  document.querySelectorAll("fieldset[data-max-picks]").forEach(limitPicks);  // ticks a reload kept

  // Generate is disabled, with the reason shown (#out-of-credits), while the balance is 0, and
  // so is a tool's button (data-cost) while the balance is below its price, with its own reason
  // (data-needs-credits: "Needs 2 credits; you have 0"); the credits badge is swapped out of
  // band after every job, so watch it. A tool's button is re-enabled only if this disabled it:
  // one htmx holds for a request in flight (hx-disabled-elt) stays held.
  // What Generate costs for the form's current choices, from the generate job type's own prices
  // (#generate-prices: by model, resolution and variations; the server charges the same), null
  // without them. Its label shows it ("Generate · 4 credits") and syncCredits compares it with
  // the balance, on every change of the form's choices as on every change of the badge.
  const pricesEl = document.getElementById("generate-prices");
  const PRICES = pricesEl ? JSON.parse(pricesEl.textContent) : null;
  function generatePrice() {
    if (!PRICES || !form) return null;
    const picked = form.elements.model ? form.elements.model.value : "";
    const byModel = PRICES.prices[picked] || PRICES.prices[PRICES.default];
    const byResolution = byModel && byModel[form.elements.resolution.value];
    const price = byResolution && byResolution[form.elements.variations.value || "1"];
    return typeof price === "number" ? price : null;
  }

  // Whether the balance cannot pay for Generate's current choices (0, or below their price);
  // false without a balance on the page.
  function cannotAfford(balance = balanceNow(), price = generatePrice()) {
    if (balance === null) return false;
    return balance === 0 || (price !== null && price > balance);
  }
  function balanceNow() {
    const badge = document.getElementById("credits");
    return badge && badge.dataset.credits !== undefined ? Number(badge.dataset.credits) : null;
  }

  function syncCredits() {
    const balance = balanceNow();
    if (balance === null) return;
    document.querySelectorAll("button[data-cost]").forEach((button) => {
      const short = Number(button.dataset.cost) > balance;
      const why = button.dataset.needsCredits && document.getElementById(button.dataset.needsCredits);
      if (why) {
        why.hidden = !short;
        const have = why.querySelector("[data-balance]");
        if (have) have.textContent = String(balance);
      }
      if (short) {
        hold(button, true);
        button.dataset.shortOfCredits = "";
      } else if ("shortOfCredits" in button.dataset) {
        delete button.dataset.shortOfCredits;
        hold(button, false);
      }
    });
    const reason = document.getElementById("out-of-credits");
    if (reason) reason.hidden = balance !== 0;
    if (!form || !reason) return;
    // Generate likewise while the current choices cost more than a balance above 0 ("Needs 4
    // credits; you have 1"; at 0 the out-of-credits reason says when credits renew). A request
    // in flight keeps it held (htmx's hx-disabled-elt).
    const price = generatePrice();
    const cost = document.getElementById("cost");
    if (cost && price !== null) cost.textContent = price + (price === 1 ? " credit" : " credits");
    const short = balance > 0 && price !== null && price > balance;
    const needs = document.getElementById("needs-credits-generate");
    if (needs) {
      needs.hidden = !short;
      const amount = needs.querySelector("[data-needs]");
      if (amount && price !== null) amount.textContent = price + (price === 1 ? " credit" : " credits");
      const have = needs.querySelector("[data-balance]");
      if (have) have.textContent = String(balance);
    }
    if (form.classList.contains("htmx-request")) return;
    hold(form.querySelector("button[type=submit]"), cannotAfford(balance, price) || Date.now() < coolingUntil);
  }

  // A button held while the keyboard is on it keeps the keyboard. Disabled, it threw the focus
  // to the page's body (a screen reader lost its place) when Enter on Generate or on a tool's
  // button sent the request (htmx's hx-disabled-elt), or Generate's cooldown or the balance
  // held it. So a focused button is held with aria-disabled instead, its clicks (Enter's and
  // Space's are clicks too) refused; one without the focus is disabled as before. One held for
  // its request in flight (data-held-by-request) is let go when the request ends.
  function hold(button, held) {
    if ("heldByRequest" in button.dataset) return;
    if (held && (document.activeElement === button || button.getAttribute("aria-disabled") === "true")) {
      button.disabled = false;
      button.setAttribute("aria-disabled", "true");
    } else {
      button.removeAttribute("aria-disabled");
      button.disabled = held;
    }
  }
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest('button[aria-disabled="true"]');
    if (button) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  // htmx disables a request's hx-disabled-elt between htmx:beforeRequest and htmx:beforeSend,
  // in the same task, before the browser moves the focus off it: the focused one is taken back
  // and held as above (htmx still re-enables what it marked, data-disabled-by-htmx).
  let focusedAtRequest = null;
  document.addEventListener("htmx:beforeRequest", () => { focusedAtRequest = document.activeElement; });
  document.addEventListener("htmx:beforeSend", () => {
    const button = focusedAtRequest;
    focusedAtRequest = null;
    if (!(button instanceof HTMLButtonElement) || !button.hasAttribute("data-disabled-by-htmx")) return;
    button.disabled = false;
    button.setAttribute("aria-disabled", "true");
    button.dataset.heldByRequest = "";
    if (document.activeElement !== button) button.focus();
  });
  document.addEventListener("htmx:afterRequest", () => {
    const done = document.querySelectorAll("button[data-held-by-request]:not([data-disabled-by-htmx])");
    if (!done.length) return;
    done.forEach((button) => {
      delete button.dataset.heldByRequest;
      button.removeAttribute("aria-disabled");
    });
    syncCredits();  // what else holds it now: Generate's cooldown (begun meanwhile), the balance
  });

  if (form) form.addEventListener("change", () => syncCredits());

  // The second click of a double click (event.detail 2 or more) is not a second request: a
  // fast accept answers the first click within the double-click interval, Generate is enabled
  // again with a fresh idempotency key, and the second click would charge a second job. Keys
  // (Enter, Space) give detail 0 and still generate.
  if (form) {
    form.querySelector("button[type=submit]").addEventListener("click", (event) => {
      if (event.detail > 1) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    }, true);
  }

  // After an accepted generate the plan's cooldown (the "generate-cooldown" item of the
  // RateLimit header, e.g. 12 s on Free) holds Generate, counting down on the button, instead
  // of letting a second click run into a 429.
  let coolingUntil = 0;
  if (form) {
    form.addEventListener("htmx:afterRequest", (event) => {
      if (event.detail.elt !== form) return;
      if (event.detail.successful && event.detail.xhr) coolDown(event.detail.xhr);
    });
  }
  function coolDown(xhr) {
    const match = /"generate-cooldown";r=0;t=(\d+)/.exec(xhr.getResponseHeader("RateLimit") || "");
    if (match) holdGenerate(Number(match[1]), Number(match[1]));
  }
  // A cooldown already running when the page loaded (a reload right after a generate): the
  // page says how long is left (data-cooldown), so Generate is not offered only to be refused.
  if (form && Number(form.dataset.cooldown) > 0) {
    holdGenerate(Number(form.dataset.cooldown), Number(form.dataset.cooldownEvery));
  }
  function holdGenerate(seconds, every) {
    const button = form && form.querySelector("button[type=submit]");
    const wait = button && button.querySelector("[data-wait]");
    if (!wait) return;
    coolingUntil = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((coolingUntil - Date.now()) / 1000);
      // Without the credits for it the countdown would promise a generate that cannot come;
      // the out-of-credits (or needs-credits) reason says why instead. Credits arriving
      // meanwhile (the badge swapped in) bring the countdown back for what is left of it.
      if (left <= 0 || cannotAfford()) {
        wait.textContent = "";
        button.removeAttribute("title");
        if (left <= 0) {
          syncCredits();
          return;
        }
      } else {
        wait.textContent = " (" + left + " s)";
        button.title = "Your plan allows one request every " + every + " s";
      }
      hold(button, true);
      setTimeout(tick, 250);
    };
    tick();
  }

  // A message that is only true for a while ("Try again in 3 s") counts down and then goes.
  function countDown(root) {
    root.querySelectorAll("[data-expires-in]:not([data-counting])").forEach((el) => {
      el.dataset.counting = "1";
      const ends = Date.now() + Number(el.dataset.expiresIn) * 1000;
      const tick = () => {
        const left = Math.ceil((ends - Date.now()) / 1000);
        if (left <= 0 || !el.isConnected) {
          const box = el.parentElement;
          el.remove();
          if (box && box.classList.contains("form-errors") && !box.textContent.trim()) box.replaceChildren();
          return;
        }
        el.firstChild.textContent = el.firstChild.textContent.replace(/in \d+ s\b/, "in " + left + " s");
        setTimeout(tick, 250);
      };
      tick();
    });
  }

  // On a desktop the form scrolls in its own column with Generate pinned at the bottom, so
  // Faces, Output and Project can sit out of sight below the palettes: while more of the form
  // is below, "More settings below" says so and scrolls to it.
  const panel = document.querySelector(".generate");
  const more = document.getElementById("more-settings");
  function syncMore() {
    if (!panel || !more) return;
    more.hidden = panel.scrollHeight - panel.clientHeight - panel.scrollTop < 40;
  }
  if (panel && more) {
    panel.addEventListener("scroll", syncMore, { passive: true });
    window.addEventListener("resize", syncMore);
    if (window.ResizeObserver) new ResizeObserver(syncMore).observe(panel.querySelector("form") || panel);
    more.addEventListener("click", () => {
      const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      panel.scrollBy({ top: panel.clientHeight * 0.7, behavior: smooth ? "smooth" : "auto" });
    });
    syncMore();
  }

  // The Model section sits last in the form, just above the pinned Generate bar: opened, its
  // options came out under the bar until the creator scrolled. Once it opens, the form's
  // column (or the page, where the column does not scroll) scrolls just enough to show it
  // whole above the bar.
  const modelSection = document.querySelector(".generate details.advanced");
  if (modelSection) {
    modelSection.addEventListener("toggle", () => {
      const bar = modelSection.closest("form")?.querySelector(".submit-row");
      if (!modelSection.open || !bar) return;
      const hidden = modelSection.getBoundingClientRect().bottom - bar.getBoundingClientRect().top + 8;
      if (hidden <= 0) return;
      const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      const scrolls = panel && panel.scrollHeight > panel.clientHeight + 1
        && /auto|scroll/.test(getComputedStyle(panel).overflowY);
      (scrolls ? panel : window).scrollBy({ top: hidden, behavior: smooth ? "smooth" : "auto" });
    });
  }

  // A project's default settings (its menu option's data-defaults, saved with "Save these
  // settings as the project's defaults"): picking the project puts them in the form, where
  // the plan allows them. The settings the form held before are kept, and come back when the
  // creator picks "No project" (or a project without defaults), so a Short's 9:16 at 2K does
  // not follow them out of the project. The save button shows while a project is picked.
  const projectPick = document.getElementById("project");
  const saveDefaults = document.getElementById("save-project-defaults");
  const SETTING_SELECTS = ["style_id", "expression", "pose", "aspect_ratio", "resolution", "variations"];
  let settingsBefore = null;
  function readSettings(form) {
    const settings = {};
    SETTING_SELECTS.forEach((name) => {
      const select = form.elements[name];
      if (select) settings[name] = select.value;
    });
    const palette = form.querySelector("input[name=palette_id]:checked");
    settings.palette_id = palette ? palette.value : "";
    settings.face_ids = Array.from(form.querySelectorAll("input[name=face_ids]:checked"), (box) => box.value);
    return settings;
  }
  function writeSettings(form, settings) {
    SETTING_SELECTS.forEach((name) => {
      const select = form.elements[name];
      const value = settings[name] === null || settings[name] === undefined ? "" : String(settings[name]);
      const choice = select && Array.from(select.options || []).find((o) => o.value === value);
      if (choice && !choice.disabled) select.value = value;
    });
    const palette = settings.palette_id === null || settings.palette_id === undefined ? "" : String(settings.palette_id);
    const radios = Array.from(form.querySelectorAll("input[name=palette_id]"));
    if (radios.some((radio) => radio.value === palette)) {  // a palette since deleted: keep the pick
      radios.forEach((radio) => { radio.checked = radio.value === palette; });
    }
    const faces = (settings.face_ids || []).map(String);
    form.querySelectorAll("input[name=face_ids]").forEach((box) => { box.checked = faces.includes(box.value); });
    form.dispatchEvent(new Event("change", { bubbles: true }));  // the price and face hints
  }
  function applyProjectDefaults() {
    const form = document.getElementById("generate-form");
    const option = projectPick.selectedOptions[0];
    if (saveDefaults) saveDefaults.hidden = !projectPick.value;
    const status = document.getElementById("project-defaults-status");
    if (status) status.textContent = "";
    if (!form || !option) return;
    if (!option.dataset.defaults) {
      if (settingsBefore) {
        writeSettings(form, settingsBefore);
        settingsBefore = null;
        if (status) status.textContent = "Your settings from before the project's defaults are back.";
      }
      return;
    }
    if (!settingsBefore) settingsBefore = readSettings(form);
    writeSettings(form, JSON.parse(option.dataset.defaults));
    if (status) status.textContent = "The project's default settings are in the form.";
  }
  if (projectPick) {
    projectPick.addEventListener("change", applyProjectDefaults);
    if (saveDefaults) saveDefaults.hidden = !projectPick.value;
    // The studio opened on one project's thumbnails (the library's "open in the studio", a
    // kept address): new thumbnails go into it, with its defaults. They went into no project,
    // showed at the top of that project's gallery and were gone from it on a reload.
    const shown = document.getElementById("gallery-project");
    const option = shown && /^\d+$/.test(shown.value) &&
      projectPick.querySelector('option[value="' + shown.value + '"]');
    if (option && !projectPick.value) {
      projectPick.value = option.value;
      applyProjectDefaults();
    }
  }
  document.body.addEventListener("projectDefaultsSaved", (event) => {
    const option = projectPick && projectPick.querySelector('option[value="' + event.detail.id + '"]');
    if (option) option.dataset.defaults = JSON.stringify(event.detail.defaults);
  });

  // A card's "Move to project" menu, as studio.html draws it once the creator has a project.
  function addMoveMenu(card, projectOption) {
    const id = card.dataset.thumbnailId;
    const label = document.createElement("label");
    label.className = "visually-hidden";
    label.htmlFor = "move-" + id;
    label.textContent = "Project";
    const select = document.createElement("select");
    select.id = "move-" + id;
    select.className = "move";
    select.name = "project_id";
    select.title = "Move to project";
    const attributes = { "hx-post": card.dataset.moveUrl, "hx-trigger": "change", "hx-target": "closest article", "hx-swap": "outerHTML" };
    Object.entries(attributes).forEach(([name, value]) => select.setAttribute(name, value));
    const none = document.createElement("option");
    none.value = "";
    none.textContent = "No project";
    select.append(none, projectOption);
    card.querySelector("footer .actions").before(label, select);
    delete card.dataset.moveUrl;
    htmx.process(select);
  }

  // A new project from the studio: added to every project menu, picked for the next
  // thumbnails, and nothing the creator typed or picked in the generate form is lost.
  const newProject = document.querySelector("form.new-project");
  if (newProject) {
    // A refusal (JSON `{"error", "code"}` with the API's status: 409 for a name taken) is
    // answered below, under the form: not an error for htmx to log to the console.
    newProject.addEventListener("htmx:beforeSwap", (event) => {
      if (event.detail.xhr.status >= 400 && event.detail.xhr.status < 500) event.detail.isError = false;
    });
    newProject.addEventListener("htmx:afterRequest", (event) => {
      const xhr = event.detail.xhr;
      const status = document.getElementById("new-project-status");
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (error) { body = {}; }
      if (xhr.status === 201) {
        const option = () => {
          const el = document.createElement("option");
          el.value = String(body.id);
          el.textContent = body.name;
          return el;
        };
        // In the menus' order (the server's, which says which project the new one precedes).
        const place = (select, el) => {
          const next = body.before_id === null || body.before_id === undefined ? null
            : select.querySelector('option[value="' + body.before_id + '"]');
          select.insertBefore(el, next);
          return el;
        };
        const pick = document.getElementById("project");
        if (pick) {
          place(pick, option());
          pick.value = String(body.id);
          document.getElementById("project-field").hidden = false;
          if (saveDefaults) saveDefaults.hidden = false;
        }
        const filter = document.getElementById("gallery-project");
        if (filter) place(filter, option());
        const menus = document.querySelectorAll(".thumb select.move");
        menus.forEach((el) => place(el, option()));
        if (!menus.length) {  // the first project: the cards had no menu to add it to
          document.querySelectorAll(".thumb[data-move-url]").forEach((card) => addMoveMenu(card, option()));
        }
        newProject.reset();
        status.classList.remove("error");
        status.textContent = "Project “" + body.name + "” created and picked in the New thumbnail form.";
      } else {
        status.classList.add("error");
        status.textContent = body.error || "Could not create the project; try again.";
      }
    });
  }

  // Finished cards can be dismissed; a generate card whose thumbnails are now in the gallery
  // collapses into it by itself after a few seconds.
  const COLLAPSE_AFTER_MS = 6000;
  function dismiss(card) {
    card.classList.add("leaving");
    setTimeout(() => card.remove(), window.matchMedia("(prefers-reduced-motion: reduce)").matches ? 0 : 250);
  }
  // Where the keyboard goes when the card it was on is dismissed (it fell to the top of the
  // page): the next card's Dismiss, or the one before's, or the gallery's heading (the studio),
  // or the tool's button (a thumbnail's large view).
  function focusAfter(card) {
    const buttons = Array.from(card.parentElement.querySelectorAll(".job:not(.leaving) [data-dismiss-job]"));
    const own = card.querySelector("[data-dismiss-job]");
    const at = buttons.indexOf(own);
    const tool = card.closest(".tool");
    const next = buttons[at + 1] || buttons[at - 1] || document.getElementById("gallery-heading") ||
      (tool && tool.querySelector("button[type=submit]:not([disabled])"));
    if (next) next.focus();
  }
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-dismiss-job]") : null;
    if (!button) return;
    const card = button.closest(".job");
    if (document.activeElement === button) focusAfter(card);
    dismiss(card);
  });
  function collapseDelivered(root) {
    root.querySelectorAll(".job.status-succeeded[data-collapse]:not([data-collapsing])").forEach((card) => {
      card.dataset.collapsing = "1";
      setTimeout(() => { if (card.isConnected && !card.matches(":hover, :focus-within")) dismiss(card); }, COLLAPSE_AFTER_MS);
    });
  }

  // A job that finished just before the page loaded has its thumbnails on the first page
  // already, and a card may be refreshed twice: a thumbnail brought in again is dropped, so
  // each shows once.
  function dropRepeatedLiveCards() {
    document.querySelectorAll("#gallery-live > .thumb[data-thumbnail-id]").forEach((card) => {
      const id = card.dataset.thumbnailId;
      if (document.querySelectorAll(`#gallery-grid .thumb[data-thumbnail-id="${id}"]`).length > 1) card.remove();
    });
  }

  // Finished cards that stay (tool results, failures) pile up above the gallery as a creator
  // presses Better titles again and again: the KEEP_FINISHED that finished last stay, older
  // ones go, unless the pointer or the keyboard is on them. Cards are ordered by when this page
  // first saw them finished (a job started first may finish last), not by their place.
  const KEEP_FINISHED = 3;
  const finishedAt = new Map();
  let finishes = 0;
  function pruneFinished() {
    const cards = Array.from(document.querySelectorAll("#jobs > .job[data-job-id]")).filter(
      (el) => FINISHED.has(el.dataset.status) && !el.hasAttribute("data-collapse") && !el.classList.contains("leaving"));
    // Seen finished in the same pass: the one higher on the page arrived later.
    cards.slice().reverse().forEach((el) => {
      if (!finishedAt.has(el.dataset.jobId)) finishedAt.set(el.dataset.jobId, ++finishes);
    });
    cards
      .sort((a, b) => finishedAt.get(b.dataset.jobId) - finishedAt.get(a.dataset.jobId))
      .slice(KEEP_FINISHED)
      .filter((el) => !el.matches(":hover, :focus-within"))
      .forEach(dismiss);
  }

  document.addEventListener("htmx:afterSettle", (event) => {
    dropRepeatedLiveCards();
    syncCredits();
    countDown(document);
    collapseDelivered(document);
    pruneFinished();
  });
  // The session ended (signed out in another tab, expired) and a request from this page is
  // sent to sign-in (core.middleware.HtmxSignInRedirectMiddleware's HX-Redirect): what the
  // creator typed and picked in the generate form waits in this tab's sessionStorage and comes
  // back when signing in returns them here. Files and the form's hidden fields are not kept.
  const DRAFT = "vb-generate-draft";
  if (form) {
    document.body.addEventListener("htmx:beforeOnLoad", (event) => {
      const xhr = event.detail.xhr;
      if (!xhr || !xhr.getResponseHeader("HX-Redirect")) return;
      const fields = [];
      new FormData(form).forEach((value, name) => {
        if (typeof value === "string") fields.push([name, value]);
      });
      const saved = { owner: form.dataset.owner, fields: fields };
      try { sessionStorage.setItem(DRAFT, JSON.stringify(saved)); } catch (error) { /* storage off */ }
    });
    let draft = null;
    try {
      draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
      sessionStorage.removeItem(DRAFT);
    } catch (error) { draft = null; }
    // Only for the account that typed it: someone else signing in on this tab (a shared
    // computer) does not see it.
    if (draft && draft.owner === form.dataset.owner && Array.isArray(draft.fields)) {
      const values = new Map();
      draft.fields.forEach(([name, value]) => values.set(name, [...(values.get(name) || []), value]));
      Array.from(form.elements).forEach((el) => {
        if (!el.name || el.disabled || el.type === "hidden" || el.type === "file") return;
        const kept = values.get(el.name) || [];
        if (el.type === "checkbox" || el.type === "radio") el.checked = kept.includes(el.value);
        else if (kept.length) el.value = kept[0];
        else return;
        // The cost, the character count and the previews follow; the project's defaults do
        // not (they would overwrite what was picked).
        if (el.id !== "project") el.dispatchEvent(new Event(el.tagName === "SELECT" || el.type === "checkbox" || el.type === "radio" ? "change" : "input", { bubbles: true }));
      });
    }
  }
  syncCredits();
  countDown(document);
})();
