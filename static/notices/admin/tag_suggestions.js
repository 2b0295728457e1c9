// The notice form's tag box: suggestions from existing tags for the name being typed (the
// text after the last separator), offered through a <datalist> as the whole box's new value.
"use strict";
(function () {
  const SEPARATORS = /[，、；;,]/;

  function setUp(input) {
    const list = document.createElement("datalist");
    list.id = input.id + "-suggestions";
    input.after(list);
    input.setAttribute("list", list.id);
    let asked = "";

    input.addEventListener("input", function () {
      const text = input.value;
      const parts = text.split(SEPARATORS);
      const typed = parts[parts.length - 1].trim();
      const head = text.slice(0, text.length - parts[parts.length - 1].length);
      if (!typed || typed === asked) {
        return;
      }
      asked = typed;
      const url = input.dataset.suggestions + "?q=" + encodeURIComponent(typed);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : { tags: [] }))
        .then((data) => {
          if (asked !== typed) {
            return; // an older answer
          }
          list.replaceChildren(
            ...data.tags.map((name) => {
              const option = document.createElement("option");
              const shown = SEPARATORS.test(name) || /\s/.test(name) ? '"' + name + '"' : name;
              option.value = head + shown;
              return option;
            })
          );
        })
        .catch(() => list.replaceChildren());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-suggestions]").forEach(setUp);
  });
})();
