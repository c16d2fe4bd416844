// A text field with a maxlength and a [data-count-for] hint (the thumbnail text): the browser
// silently cut text past the limit, a paste mid-word, its sub-line gone. Near the limit (80%) the
// hint shows the count ("87/100 characters"); a paste the limit cut says so and what it left out,
// in the field's [data-cut-for] status line, until the text changes again. The server still
// refuses a longer text with its own message.
(function () {
  "use strict";
  const NEAR = 0.8;

  function setUp(hint) {
    const field = document.getElementById(hint.dataset.countFor);
    const cut = document.querySelector(`[data-cut-for="${hint.dataset.countFor}"]`);
    if (!field || !(field.maxLength > 0)) return;
    const max = field.maxLength;
    let pasted = null;

    function count() {
      const used = field.value.length;
      hint.hidden = used < Math.floor(max * NEAR);
      hint.textContent = used + "/" + max + " characters" + (used >= max ? ": the limit" : "");
      hint.classList.toggle("at-limit", used >= max);
    }

    field.addEventListener("paste", (event) => {
      const text = event.clipboardData ? event.clipboardData.getData("text") : "";
      pasted = {
        before: field.value.length - (field.selectionEnd - field.selectionStart),
        // A one-line field turns each of a paste's line breaks into a space (as Chromium does).
        text: field.tagName === "INPUT" ? text.replace(/\r\n|[\r\n]/g, " ") : text,
      };
    });
    field.addEventListener("input", (event) => {
      count();
      if (!cut) return;
      const paste = event.inputType === "insertFromPaste" ? pasted : null;
      pasted = null;
      cut.textContent = "";
      if (!paste || field.value.length < max) return;
      const kept = field.value.length - paste.before;
      const left = paste.text.slice(kept).trim();
      if (kept < paste.text.length && left) {
        cut.textContent = `The text takes up to ${max} characters: the end of your paste, “${left}”, was left out.`;
      }
    });
    count();
  }

  document.querySelectorAll("[data-count-for]").forEach(setUp);
})();
