// A text field with a maxlength and a [data-count-for] hint (the thumbnail text): the browser
// silently cut text past the limit, a paste mid-word, its sub-line gone. Near the limit (80%) the
// hint shows the count ("87/100 characters"); a paste the limit cut keeps its whole words and says
// what it left out, in the field's [data-cut-for] status line, until the text changes again. The server still
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
        start: field.selectionStart,
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
      let kept = field.value.length - paste.before;
      // Cut inside a word ("…In The A"): the paste keeps its whole words only, the word the
      // limit split goes with the rest (a headline never ends on a fragment).
      const inWord = (at) => at > 0 && at < paste.text.length && /\S/.test(paste.text[at - 1]) && /\S/.test(paste.text[at]);
      if (inWord(kept)) {
        const wordStart = paste.text.slice(0, kept).search(/\s\S*$/);
        if (wordStart > 0) {
          const value = field.value;
          field.value = value.slice(0, paste.start + wordStart) + value.slice(paste.start + kept);
          field.setSelectionRange(paste.start + wordStart, paste.start + wordStart);
          kept = wordStart;
          count();
        }
      }
      const left = paste.text.slice(kept).trim();
      if (kept < paste.text.length && left) {
        cut.textContent = `The text takes up to ${max} characters: the end of your paste, “${left}”, was left out.`;
      }
    });
    count();
  }

  document.querySelectorAll("[data-count-for]").forEach(setUp);
})();
