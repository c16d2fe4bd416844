// Live job progress over the /ws/jobs/ websocket. The server pushes
// {"type": "job.updated", "job": {...}}; this only updates attributes (CSS animates) and, when a
// job finishes, asks htmx for its card, whose out-of-band swap adds the thumbnails to the gallery.
(function () {
  "use strict";
  const FINISHED = new Set(["succeeded", "partially_succeeded", "failed", "cancelled"]);
  let socket = null;
  let retry = 0;

  function card(id) { return document.getElementById("job-" + id); }

  function refreshCard(id) {
    if (window.htmx && card(id)) {
      htmx.ajax("GET", "/studio/jobs/" + id, { target: "#job-" + id, swap: "outerHTML" });
    }
  }

  function apply(job) {
    const el = card(job.id);
    if (!el) {
      if (!FINISHED.has(job.status) && window.htmx) {
        const holder = document.createElement("div");
        holder.id = "job-" + job.id;
        document.getElementById("jobs").prepend(holder);
        refreshCard(job.id);
      }
      return;
    }
    if (el.dataset.status === job.status && FINISHED.has(job.status)) return;
    el.style.setProperty("--progress", job.progress + "%");
    el.dataset.status = job.status;
    el.className = el.className.replace(/status-\S+/, "status-" + job.status);
    const bar = el.querySelector("[role=progressbar]");
    if (bar) bar.setAttribute("aria-valuenow", job.progress);
    const stage = el.querySelector("[data-stage]");
    if (stage) stage.textContent = job.stage.charAt(0).toUpperCase() + job.stage.slice(1).replace(/_/g, " ");
    if (FINISHED.has(job.status)) refreshCard(job.id);
  }

  function unfinishedCards() {
    return Array.from(document.querySelectorAll(".job[data-job-id]"))
      .filter((el) => !FINISHED.has(el.dataset.status));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/jobs/");
    socket.addEventListener("open", () => {
      retry = 0;
      document.body.dataset.live = "on";
      // Catch up on anything that finished while the socket was down.
      unfinishedCards().forEach((el) => refreshCard(el.dataset.jobId));
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "job.updated") apply(data.job);
    });
    socket.addEventListener("close", (event) => {
      document.body.dataset.live = "off";
      if (event.code === 4401) return; // signed out
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry); // reconnect backoff, not an animation
    });
  }

  if (document.getElementById("jobs")) connect();
})();
