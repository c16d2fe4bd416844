// The page-wide messages (templates/base.html's .messages.toasts): a success or info message
// fades after 8 s (CSS) and is then removed; any message goes at once with its × button.
// A message from an htmx answer (its HX-Trigger header's {"showMessage": {"level", "text"}},
// e.g. a gallery card whose thumbnail was deleted in another tab) goes in a list of its own,
// .live, pinned to the bottom of the screen (app.css): the page's list is at its top, out of
// sight on a phone scrolled down to the card.
(function () {
  const main = document.getElementById("main");
  let list = null;
  const remove = (item) => {
    const from = item.parentElement;
    item.remove();
    if (from && !from.querySelector("li")) from.replaceChildren();
  };
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(".messages.toasts .toast-close") : null;
    if (button) remove(button.closest("li"));
  });
  document.addEventListener("animationend", (event) => {
    if (event.target instanceof Element && event.target.matches(".messages.toasts li")) remove(event.target);
  });
  function show(level, text) {
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages toasts live";
      list.setAttribute("role", "status");
      if (main) main.before(list);
      else document.body.prepend(list);
    }
    const item = document.createElement("li");
    item.className = ["success", "info", "warning", "error"].includes(level) ? level : "info";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    item.append(text, close);
    // The same words twice in a row (two stale cards clicked): one message.
    const last = list.querySelector("li:last-child");
    if (last && last.firstChild && last.firstChild.textContent === text) last.remove();
    // A status region made just now: its text a moment later, so screen readers announce it.
    setTimeout(() => list.append(item), 50);
  }
  document.addEventListener("showMessage", (event) => {
    const detail = event.detail || {};
    if (typeof detail.text === "string" && detail.text) show(detail.level, detail.text);
  });
})();
