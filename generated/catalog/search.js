// Client-side search of the A4CO event catalog: filters the index page's rows by the
// JSON index embedded in it (no network: it works from file:// too).
"use strict";

(function () {
  const input = document.getElementById("search");
  const source = document.getElementById("search-index");
  const count = document.getElementById("search-count");
  if (!input || !source || !count) {
    return;
  }
  const entries = JSON.parse(source.textContent);
  const rows = Array.from(document.querySelectorAll("[data-key]"));

  function matches(entry, terms) {
    return terms.every((term) => entry.text.includes(term));
  }

  function apply() {
    const terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = new Set(entries.filter((e) => matches(e, terms)).map((e) => e.key));
    for (const row of rows) {
      row.hidden = !shown.has(row.dataset.key);
    }
    count.textContent = terms.length
      ? `${shown.size} of ${entries.length} entries match`
      : `${entries.length} entries`;
  }

  input.form.addEventListener("submit", (event) => event.preventDefault());
  input.addEventListener("input", apply);
  const query = new URLSearchParams(window.location.search).get("q");
  if (query) {
    input.value = query;
  }
  apply();
})();
