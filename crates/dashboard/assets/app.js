// dtfhe dashboard: draws the charts of a page from its JSON data blocks
// (<script type="application/json">, data only) with the vendored ECharts. No inline
// script anywhere (CSP script-src 'self'); nothing is fetched.
"use strict";
(function () {
  function draw(el) {
    var block = document.getElementById(el.getAttribute("data-spec"));
    if (!block || typeof window.echarts === "undefined") { return; }
    var spec = JSON.parse(block.textContent);
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.on("finished", function () {
      if (!el.hasAttribute("data-drawn")) {
        el.setAttribute("data-drawn-ms", String(Math.round(performance.now())));
        el.setAttribute("data-drawn", "1");
      }
    });
    chart.setOption({
      animation: false,
      title: { text: spec.title, left: "center", textStyle: { fontSize: 14 } },
      legend: { top: 28 },
      // Drawn on the canvas: an HTML tooltip would need inline styles (CSP style-src 'self').
      tooltip: { trigger: "axis", renderMode: "richText" },
      grid: { top: 70, left: 60, right: 20, bottom: 40 },
      xAxis: { type: "category", data: spec.categories },
      yAxis: { type: "value", name: spec.unit, nameGap: 12 },
      series: spec.series.map(function (s) {
        return { name: s.name, type: "bar", data: s.values };
      })
    });
  }
  // A live view: reload when the server says the view's dataset has new chunks.
  function live() {
    var el = document.querySelector("[data-live-src]");
    if (!el || typeof window.EventSource === "undefined") { return; }
    var source = new EventSource(el.getAttribute("data-live-src"));
    source.addEventListener("changed", function () {
      source.close();
      el.textContent = "New chunks arrived: releasing fresh numbers…";
      window.location.reload();
    });
  }
  function start() {
    var charts = document.querySelectorAll(".chart[data-spec]");
    for (var i = 0; i < charts.length; i++) { draw(charts[i]); }
    live();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
