// The page `ftune serve` answers GET / with: type a text, see what the model says. Plain HTML and
// JavaScript in one string, no file or library fetched from elsewhere (the server may run
// without a network); it calls the same /v1 routes a client would.
#include "lib/serve/server.h"

namespace ftune {

const char* serve_page_html() {
  return R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ftune serve</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
         color: #1b1b1b; }
  h1 { font-size: 1.4rem; margin-bottom: 0.2rem; }
  #model { color: #555; margin-top: 0; }
  textarea { width: 100%; box-sizing: border-box; font: inherit; padding: 0.5rem; }
  label { display: block; margin: 0.8rem 0 0.2rem; font-weight: 600; }
  button { margin-top: 0.8rem; font: inherit; padding: 0.4rem 1.2rem; cursor: pointer; }
  #error { color: #b00020; white-space: pre-wrap; }
  .row { display: flex; align-items: center; gap: 0.5rem; margin: 0.2rem 0; }
  .name { width: 12rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .bar { height: 0.9rem; background: #3a6fa1; }
  .best { font-weight: 700; }
  .word { display: inline-block; margin: 0.15rem; padding: 0.1rem 0.3rem; border-radius: 3px;
          background: #eef2f7; }
  .word small { color: #3a6fa1; margin-left: 0.2rem; }
  #translation { font-size: 1.15rem; }
  #meta { color: #777; font-size: 0.85rem; margin-top: 0.6rem; }
</style>
</head>
<body>
<h1>ftune serve</h1>
<p id="model">loading the model's description&hellip;</p>
<form id="form">
  <label for="text">Text</label>
  <textarea id="text" rows="4" placeholder="Type a text"></textarea>
  <div id="pair-box" hidden>
    <label for="text_pair">Second text of a pair (optional)</label>
    <textarea id="text_pair" rows="2"></textarea>
  </div>
  <div id="beam-box" hidden>
    <label for="beam">Beam size</label>
    <input id="beam" type="number" min="1" value="1">
  </div>
  <button id="run" type="submit">Run</button>
</form>
<p id="error"></p>
<div id="output"></div>
<p id="meta"></p>
<script>
"use strict";
let info = null;
const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showBars(names, values, best) {
  const out = $("output");
  const order = values.map((v, i) => i).sort((a, b) => values[b] - values[a]).slice(0, 10);
  for (const i of order) {
    const row = element("div", "row" + (best.includes(names[i]) ? " best" : ""));
    row.appendChild(element("span", "name", names[i]));
    const bar = element("span", "bar");
    bar.style.width = (values[i] * 20).toFixed(2) + "rem";
    row.appendChild(bar);
    row.appendChild(element("span", "value", values[i].toFixed(3)));
    out.appendChild(row);
  }
}

function show(result) {
  const out = $("output");
  out.textContent = "";
  if (info.task === "translation") {
    out.appendChild(element("p", "", "")).id = "translation";
    $("translation").textContent = result.translation;
  } else if (info.task === "token_classification") {
    const words = element("p");
    result.tokens.forEach((word, k) => {
      const chip = element("span", "word", word);
      if (result.tags[k] !== "O") chip.appendChild(element("small", "", result.tags[k]));
      words.appendChild(chip);
    });
    out.appendChild(words);
  } else if (info.task === "regression") {
    out.appendChild(element("p", "best", "score " + result.score.toFixed(4)));
  } else if (info.task === "multi_label_classification") {
    out.appendChild(element("p", "best", "labels: " + (result.labels.join(", ") || "(none)")));
    showBars(info.labels, result.probs, result.labels);
  } else {
    out.appendChild(element("p", "best", result.label));
    showBars(info.labels, result.probs, [result.label]);
  }
}

async function run(event) {
  event.preventDefault();
  $("error").textContent = "";
  const text = $("text").value;
  let input = text;
  const body = {};
  if (info.task === "translation") {
    body.beam = Number($("beam").value);
  } else if ($("text_pair").value.trim() !== "") {
    input = {text: text, text_pair: $("text_pair").value};
  }
  body.inputs = [input];
  const started = performance.now();
  try {
    const response = await fetch(info.route, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const answer = await response.json();
    if (!response.ok) {
      $("error").textContent = answer.error ? answer.error.message : "HTTP " + response.status;
      return;
    }
    show(answer.outputs[0]);
    $("meta").textContent = (performance.now() - started).toFixed(0) + " ms" +
        (answer.warning ? " | " + answer.warning : "");
  } catch (e) {
    $("error").textContent = String(e);
  }
}

async function start() {
  try {
    info = await (await fetch("/v1/info")).json();
  } catch (e) {
    $("model").textContent = "cannot reach the server: " + e;
    return;
  }
  $("model").textContent = info.model + " | " + info.task.replace(/_/g, " ") +
      (info.labels ? " | " + info.labels.length + " labels" : "");
  if (info.task === "translation") {
    $("beam-box").hidden = false;
    $("beam").value = info.beam;
    $("beam").max = info.max_beam;
    $("run").textContent = "Translate";
  } else {
    $("pair-box").hidden = info.task === "token_classification";
    $("run").textContent = "Predict";
  }
  $("form").addEventListener("submit", run);
  document.body.dataset.ready = "1";
}
start();
</script>
</body>
</html>
)html";
}

}  // namespace ftune
