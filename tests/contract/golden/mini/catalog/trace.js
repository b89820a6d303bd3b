// The catalog's trace page: asks the static server of `a4co up` for an order's traces
// (../traces/api?order=<id>, built like `a4co trace`) and draws each as a nested list.
"use strict";

(function () {
  const form = document.getElementById("trace-form");
  const input = document.getElementById("order-id");
  const status = document.getElementById("trace-status");
  const result = document.getElementById("trace-result");
  if (!form || !input || !status || !result) {
    return;
  }
  const FROM_FILE =
    "This page was opened from a file: the spans are in the platform's data folder, which " +
    "only the static server of `a4co up` can read. Run `a4co up` and open the event catalog " +
    "at the URL it prints, then Order trace.";

  function say(text, kind) {
    status.textContent = text;
    status.className = `live-status ${kind}`;
    status.dataset.state = kind;
  }

  function ms(value) {
    return `${value.toFixed(1)} ms`;
  }

  function part(name, text) {
    const span = document.createElement("span");
    span.className = name;
    span.textContent = text;
    return span;
  }

  function hopItem(hop) {
    const item = document.createElement("li");
    const line = document.createElement("span");
    line.className = "hop";
    line.append(
      part("offset", `+${ms(hop.offset_ms)}`),
      part("duration", ms(hop.duration_ms)),
      part("service", hop.service),
      part("name", hop.name),
    );
    item.append(line);
    if (hop.children.length) {
      item.append(hopList(hop.children));
    }
    return item;
  }

  function hopList(hops) {
    const list = document.createElement("ul");
    list.className = "trace-tree";
    list.append(...hops.map(hopItem));
    return list;
  }

  function traceSection(trace) {
    const section = document.createElement("section");
    section.className = "trace";
    section.dataset.trace = trace.trace_id;
    const heading = document.createElement("h2");
    const size = `${trace.span_count} spans, ${ms(trace.duration_ms)}`;
    heading.textContent = `trace ${trace.trace_id}: ${size}`;
    section.append(heading, hopList(trace.roots));
    return section;
  }

  async function show(order) {
    result.replaceChildren();
    if (window.location.protocol === "file:") {
      say(FROM_FILE, "unavailable");
      return;
    }
    say(`Looking for the traces of order ${order}\u2026`, "asking");
    const url = new URL("../traces/api", window.location.href);
    url.searchParams.set("order", order);
    let response;
    let body;
    try {
      response = await fetch(url, { cache: "no-store" });
      body = await response.json();
    } catch (error) {
      say(
        `The static server of \`a4co up\` did not answer ${url.pathname} (${error.message}).`,
        "unavailable",
      );
      return;
    }
    if (!response.ok) {
      say(body.error || `${url.pathname} answered HTTP ${response.status}.`, "unavailable");
      return;
    }
    result.replaceChildren(...body.traces.map(traceSection));
    const count = body.traces.length;
    if (count) {
      say(`${count} trace${count === 1 ? "" : "s"} of order ${order}.`, "ok");
    } else {
      say(body.hint, "empty");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const order = input.value.trim();
    const address = new URL(window.location.href);
    address.searchParams.set("order", order);
    window.history.replaceState(null, "", address);
    show(order);
  });
  const order = new URLSearchParams(window.location.search).get("order");
  if (window.location.protocol === "file:") {
    say(FROM_FILE, "unavailable");
  } else if (order) {
    input.value = order;
    show(order);
  }
})();
