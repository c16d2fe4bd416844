// The page-wide messages (templates/base.html's .messages.toasts): a success or info message
// fades after 8 s (CSS) and is then removed; any message goes at once with its × button.
(function () {
  const list = document.querySelector(".messages.toasts");
  if (!list) return;
  const remove = (item) => {
    item.remove();
    if (!list.querySelector("li")) list.replaceChildren();
  };
  list.addEventListener("click", (event) => {
    const button = event.target.closest(".toast-close");
    if (button) remove(button.closest("li"));
  });
  list.addEventListener("animationend", (event) => {
    if (event.target.matches("li")) remove(event.target);
  });
})();
