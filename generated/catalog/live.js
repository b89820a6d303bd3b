// The catalog's live page: sends the queries embedded in the page to Prometheus (through the
// static server of `a4co up`, at ../prometheus/api/v1/query) every few seconds and fills in
// the graph's traffic and the tables; says clearly when no Prometheus can be reached.
"use strict";

(function () {
  const source = document.getElementById("live-model");
  const status = document.getElementById("live-status");
  if (!source || !status) {
    return;
  }
  const model = JSON.parse(source.textContent);
  const SVG = "http://www.w3.org/2000/svg";

  function say(text, kind) {
    status.textContent = text;
    status.className = `live-status ${kind}`;
    status.dataset.state = kind;
  }

  if (window.location.protocol === "file:") {
    say(
      "No Prometheus: this page was opened from a file, and its figures come from Prometheus " +
        "through the static server of `a4co up`. Run `a4co up` and open the event catalog at " +
        "the URL it prints, then Live.",
      "unavailable",
    );
    return;
  }

  class Unavailable extends Error {}

  async function query(expr) {
    const url = new URL("../prometheus/api/v1/query", window.location.href);
    url.searchParams.set("query", expr);
    let response;
    try {
      response = await fetch(url, { cache: "no-store" });
    } catch (error) {
      throw new Unavailable(`the static server did not answer (${error.message})`);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok || !body || body.status !== "success") {
      throw new Unavailable(
        body && body.error
          ? body.error
          : `${url.pathname} answered HTTP ${response.status}: this page reads Prometheus ` +
              "through the static server of `a4co up`",
      );
    }
    return body.data.result;
  }

  function byLabels(result, names) {
    const values = new Map();
    for (const series of result) {
      const key = names.map((name) => series.metric[name] || "").join("|");
      values.set(key, Number(series.value[1]));
    }
    return values;
  }

  function fixed(value, digits) {
    return Number.isFinite(value) ? value.toFixed(digits) : "\u2013";
  }

  function showConsumers(handled, lag) {
    const edges = new Map();
    for (const consumer of model.consumers) {
      const rate = handled.get(`${consumer.service}|${consumer.operation}`);
      const waiting = lag.get(`${consumer.service}|${consumer.durable}`);
      const row = document.querySelector(`tr[data-key="durable:${consumer.durable}"]`);
      if (row) {
        row.querySelector(".rate").textContent = fixed(rate, 1);
        row.querySelector(".lag").textContent = fixed(waiting, 0);
      }
      for (const producer of consumer.producers) {
        const pair = `${producer}|${consumer.service}`;
        edges.set(pair, (edges.get(pair) || 0) + (Number.isFinite(rate) ? rate : 0));
      }
    }
    return edges;
  }

  function showTraffic(edges) {
    for (const edge of document.querySelectorAll("#service-graph .edge")) {
      const rate = edges.get(`${edge.dataset.from}|${edge.dataset.to}`) || 0;
      const path = edge.querySelector("path");
      let label = edge.querySelector("text.traffic");
      const busy = rate >= 0.05;
      edge.dataset.rate = rate.toFixed(1);
      edge.classList.toggle("busy", busy);
      path.style.strokeWidth = busy ? String(Math.min(12, 1.5 + 2 * Math.log2(1 + rate))) : "";
      if (!busy) {
        if (label) {
          label.remove();
        }
        continue;
      }
      if (!label) {
        const middle = path.getPointAtLength(path.getTotalLength() / 2);
        label = document.createElementNS(SVG, "text");
        label.setAttribute("class", "traffic");
        label.setAttribute("x", middle.x.toFixed(1));
        label.setAttribute("y", (middle.y - 4).toFixed(1));
        edge.appendChild(label);
      }
      label.textContent = `${rate.toFixed(1)}/s`;
    }
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function showSagas(result) {
    const rows = result
      .map((series) => [
        series.metric.service || "",
        series.metric.step || "",
        Number(series.value[1]),
      ])
      .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
    const body = document.querySelector("#saga-table tbody");
    body.replaceChildren(
      ...rows.map(([service, step, count]) => {
        const tr = document.createElement("tr");
        tr.dataset.step = step;
        tr.append(cell(service), cell(step), cell(fixed(count, 0)));
        return tr;
      }),
    );
    document.getElementById("saga-none").hidden = rows.length > 0;
  }

  function showObjectives(ratios) {
    for (const objective of model.objectives) {
      const row = document.querySelector(`tr[data-key="${objective.key}"]`);
      if (!row) {
        continue;
      }
      const slow = ratios.get(`${objective.kind}|${objective.service}|${objective.operation}`);
      let state = "no traffic";
      if (Number.isFinite(slow)) {
        state = slow > objective.budget ? "burning" : "met";
      }
      row.dataset.state = state;
      row.querySelector(".slow").textContent = Number.isFinite(slow)
        ? `${fixed(slow * 100, 1)} %`
        : "\u2013";
      const label = row.querySelector(".state");
      label.textContent = state;
      label.className = `state ${state.replace(" ", "-")}`;
    }
  }

  let asking = false;

  async function refresh() {
    if (asking) {
      return;
    }
    asking = true;
    try {
      const names = ["handled", "lag", "sagas", "slow_ratio"];
      const [handled, lag, sagas, ratios] = await Promise.all(
        names.map((name) => query(model.queries[name])),
      );
      const edges = showConsumers(
        byLabels(handled, ["service", "operation"]),
        byLabels(lag, ["service", "durable"]),
      );
      showTraffic(edges);
      showSagas(sagas);
      showObjectives(byLabels(ratios, ["kind", "service", "operation"]));
      say(
        `Prometheus answered at ${new Date().toLocaleTimeString()}; ` +
          `the page asks again every ${model.refresh_seconds} s.`,
        "ok",
      );
    } catch (error) {
      if (!(error instanceof Unavailable)) {
        throw error;
      }
      say(
        `No Prometheus is reachable, so there are no live figures: ${error.message}.`,
        "unavailable",
      );
    } finally {
      asking = false;
    }
  }

  refresh();
  window.setInterval(refresh, model.refresh_seconds * 1000);
})();
