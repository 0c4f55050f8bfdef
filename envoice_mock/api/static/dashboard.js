// envoice-mock dashboard: reads the control plane, follows /_mock/events, draws the timeline.
// Plain JavaScript, no build step. Every value from the server is put in the page as text.
(function () {
  "use strict";

  var KEY = document.body.dataset.key;
  var SECRET = document.body.dataset.secret;
  var SVGNS = "http://www.w3.org/2000/svg";
  var MAX_DELIVERIES = 600;
  var MAX_ACTIVITIES = 300;
  var MAX_REQUESTS = 200;

  var KINDS = {
    live: { label: "live", shape: "circle" },
    retry: { label: "retry", shape: "square" },
    probe: { label: "probe", shape: "diamond" },
    catchup: { label: "catch-up", shape: "triangle" },
    duplicate: { label: "duplicate", shape: "ring" },
    replay: { label: "replay", shape: "down" },
  };
  var STATES = {
    healthy: { icon: "●", text: "healthy" },
    retrying: { icon: "↻", text: "retrying" },
    failing: { icon: "✖", text: "failing" },
  };

  var model = {
    webhooks: [],
    removed: [],
    deliveries: [],
    activities: [],
    requests: [],
    lastEventId: 0,
    clock: null,
    clockAt: 0,
    selected: null,
    runId: null,
    runLogs: {},
  };

  // --- small helpers -------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function ms(iso) {
    if (!iso) return NaN;
    return Date.parse(String(iso).replace(/\.(\d{3})\d*Z$/, ".$1Z").replace(/\.(\d{1,2})Z$/, "Z"));
  }
  function shortTime(iso) {
    var t = ms(iso);
    if (isNaN(t)) return String(iso || "");
    return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }
  function duration(msec) {
    var s = Math.round(msec / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60 ? " " + (s % 60) + "s" : "");
    if (s < 86400) return Math.floor(s / 3600) + "h" + (Math.floor(s / 60) % 60 ? " " + (Math.floor(s / 60) % 60) + "m" : "");
    return Math.floor(s / 86400) + "d" + (Math.floor(s / 3600) % 24 ? " " + (Math.floor(s / 3600) % 24) + "h" : "");
  }
  function later(fn, wait) {
    var timer = null;
    return function () {
      if (timer) return;
      timer = setTimeout(function () { timer = null; fn(); }, wait);
    };
  }
  function say(text, bad) {
    var node = $("action-result");
    node.textContent = text;
    node.className = "result" + (bad ? " bad" : " good");
  }

  function api(method, path, body) {
    // x-envoice-mock-ui: the dashboard's own reads stay out of the request journal.
    var headers = { "x-auth-key": KEY, "x-auth-secret": SECRET, "x-mock-enum-style": "string", "Accept": "application/json", "x-envoice-mock-ui": "1" };
    var init = { method: method, headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      if (r.status === 204) return null;
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
        if (!r.ok) {
          var msg = data && data.ErrorMessages && data.ErrorMessages[0] ? data.ErrorMessages[0].FaultMessage : r.status + " " + r.statusText;
          throw new Error(msg);
        }
        return data;
      });
    });
  }
  function act(label, promise) {
    say(label + "…");
    return promise.then(function (answer) {
      say(label + ": done" + (answer && typeof answer === "object" ? " " + JSON.stringify(answer).slice(0, 160) : ""));
      refreshWebhooks();
      refreshClock();
      return answer;
    }, function (err) { say(label + " failed: " + err.message, true); });
  }

  // --- the snapshot and the stream -------------------------------------------------------------
  function load() {
    return api("GET", "/_mock/ui/state").then(function (s) {
      model.webhooks = s.Webhooks;
      model.removed = s.RemovedWebhooks;
      model.deliveries = s.Deliveries.slice(-MAX_DELIVERIES);
      model.activities = s.Activities.slice().reverse();
      model.lastEventId = s.LastEventId;
      setClock(s.Clock);
      refreshClock();  // the control plane's view of this account's clock
      $("activities-count").textContent = "(" + s.TotalActivities + ")";
      renderWebhooks();
      renderActivities();
      drawTimeline();
      loadRequests();
      loadInvoices();
      return s;
    });
  }

  var streamAbort = null;
  function connect() {
    if (streamAbort) streamAbort.abort();
    var controller = new AbortController();
    streamAbort = controller;
    var headers = { "x-auth-key": KEY, "x-auth-secret": SECRET, "Accept": "text/event-stream" };
    if (model.lastEventId) headers["Last-Event-ID"] = String(model.lastEventId);
    fetch("/_mock/events", { headers: headers, signal: controller.signal, cache: "no-store" }).then(function (r) {
      if (!r.ok || !r.body) throw new Error("stream answered " + r.status);
      $("stream-status").textContent = "live";
      $("stream-status").className = "stream live";
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error("stream ended");
          buffer += decoder.decode(chunk.value, { stream: true });
          var cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            var frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            onFrame(frame);
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (controller.signal.aborted) return;
      $("stream-status").textContent = "reconnecting…";
      $("stream-status").className = "stream down";
      setTimeout(connect, 1000);
    });
  }

  function onFrame(frame) {
    var id = null, type = "message", data = "";
    frame.split("\n").forEach(function (line) {
      if (line.indexOf("id: ") === 0) id = Number(line.slice(4));
      else if (line.indexOf("event: ") === 0) type = line.slice(7);
      else if (line.indexOf("data: ") === 0) data += line.slice(6);
    });
    if (!data) return;
    var payload;
    try { payload = JSON.parse(data); } catch (e) { return; }
    if (id) model.lastEventId = id;
    handle(type, payload);
  }

  var redraw = later(function () { drawTimeline(); }, 120);
  var refreshWebhooks = later(function () {
    api("GET", "/_mock/webhooks").then(function (hooks) { model.webhooks = hooks; renderWebhooks(); redraw(); }, function () {});
  }, 250);
  var rerenderActivities = later(renderActivities, 200);
  var rerenderRequests = later(renderRequests, 200);

  function handle(type, data) {
    if (type === "delivery") {
      model.deliveries.push(data);
      if (model.deliveries.length > MAX_DELIVERIES) model.deliveries.splice(0, model.deliveries.length - MAX_DELIVERIES);
      redraw();
      refreshWebhooks();
    } else if (type === "webhook") {
      model.webhooks.forEach(function (h) {
        if (h.Id === data.Id) {
          h.State = data.State;
          h.History = (h.History || []).concat([[data.At, data.State]]);
        }
      });
      renderWebhooks();
      redraw();
      refreshWebhooks();
    } else if (type === "activity") {
      model.activities.unshift(data);
      if (model.activities.length > MAX_ACTIVITIES) model.activities.length = MAX_ACTIVITIES;
      var count = $("activities-count");
      count.textContent = "(" + (parseInt(count.textContent.replace(/\D/g, ""), 10) + 1 || model.activities.length) + ")";
      rerenderActivities();
    } else if (type === "request") {
      if (matchesRequestFilter(data)) {
        model.requests.unshift(data);
        var total = $("requests-count");
        total.textContent = "(" + ((parseInt(total.textContent.replace(/\D/g, ""), 10) || 0) + 1) + ")";
        if (model.requests.length > MAX_REQUESTS) model.requests.length = MAX_REQUESTS;
        rerenderRequests();
      }
    } else if (type === "control") {
      refreshWebhooks();
      refreshClock();
      if (/\/_mock\/reset$/.test(data.Path) || /\/_mock\/webhooks/.test(data.Path)) load();
    } else if (type === "scenario") {
      var lines = model.runLogs[data.RunId] = model.runLogs[data.RunId] || [];
      if (data.Line) lines.push(data.Line);
      if (data.Done) lines.push("— run " + data.Status + " —");
      if (data.RunId === model.runId) {
        showRunLog();
        if (data.Done) say("Scenario run " + data.Status, data.Status !== "passed");
      }
    } else if (type === "reset") {
      load();
    }
  }

  // --- clock ---------------------------------------------------------------------------------
  function setClock(c) {
    model.clock = c;
    model.clockAt = Date.now();
    $("clock-kind").textContent = c.Speed === 0 ? "(virtual, stopped: moves when advanced)" : c.Speed === 1 && !c.Virtual ? "(real time)" : "(virtual, ×" + c.Speed + ")";
    tickClock();
  }
  function tickClock() {
    if (!model.clock) return;
    var now = ms(model.clock.Now) + (Date.now() - model.clockAt) * (model.clock.Speed || 0);
    var node = $("clock-now");
    var text = isNaN(now) ? model.clock.Now : new Date(now).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
    if (node.textContent !== text) node.textContent = text;
    node.setAttribute("datetime", isNaN(now) ? "" : new Date(now).toISOString());
  }
  var refreshClock = later(function () { api("GET", "/_mock/clock").then(setClock, function () {}); }, 200);
  setInterval(tickClock, 1000);

  // --- webhooks table ------------------------------------------------------------------------
  function stateBadge(state, catchingUp) {
    var s = STATES[state] || { icon: "?", text: state };
    var badge = el("span", { "class": "state state-" + state }, s.icon + " " + s.text + (catchingUp ? " · catching up" : ""));
    return badge;
  }
  function renderWebhooks() {
    var body = $("webhooks-body");
    clear(body);
    if (!model.webhooks.length) {
      var row = el("tr");
      row.appendChild(el("td", { colspan: "7", "class": "muted" }, "No webhook yet: register a receiver's URL below (try `envoice-mock sink --port 9000`)."));
      body.appendChild(row);
    }
    model.webhooks.forEach(function (h) {
      var tr = el("tr", { "data-webhook": h.Id });
      var url = el("td"); url.appendChild(el("code", null, h.Url)); tr.appendChild(url);
      var st = el("td", { "class": "webhook-state" }); st.appendChild(stateBadge(h.State, h.CatchingUp)); tr.appendChild(st);
      tr.appendChild(el("td", { "class": "num" }, h.Pending));
      tr.appendChild(el("td", { "class": "num" }, h.Delivered));
      tr.appendChild(el("td", { "class": "num" }, h.Failed));
      var sec = el("td");
      var reveal = el("button", { type: "button", "aria-expanded": "false", "aria-label": "Show the signing secrets of " + h.Url }, "Show");
      var shown = el("span", { "class": "secret", hidden: "" });
      shown.appendChild(el("code", null, h.Secret));
      shown.appendChild(document.createTextNode(" "));
      shown.appendChild(el("code", null, h.StandardWebhooksSecret));
      reveal.addEventListener("click", function () {
        var open = shown.hasAttribute("hidden");
        if (open) shown.removeAttribute("hidden"); else shown.setAttribute("hidden", "");
        reveal.setAttribute("aria-expanded", String(open));
        reveal.textContent = open ? "Hide" : "Show";
      });
      sec.appendChild(reveal); sec.appendChild(shown); tr.appendChild(sec);
      var actions = el("td");
      var remove = el("button", { type: "button", "aria-label": "Remove webhook " + h.Url, "class": "danger" }, "Remove");
      remove.addEventListener("click", function () {
        act("Remove " + h.Url, api("DELETE", "/_mock/webhooks/" + encodeURIComponent(h.Id))).then(load);
      });
      actions.appendChild(remove); tr.appendChild(actions);
      body.appendChild(tr);
    });
    var target = $("scenario-target");
    if (!target.value && model.webhooks.length) target.value = model.webhooks[0].Url;
  }

  // --- the timeline --------------------------------------------------------------------------
  function lanes() {
    var out = model.webhooks.map(function (h) { return { id: h.Id, url: h.Url, state: h.State, history: h.History || [] }; });
    var known = {};
    out.forEach(function (l) { known[l.id] = true; });
    model.deliveries.forEach(function (d) {
      if (!known[d.WebhookId]) {
        known[d.WebhookId] = true;
        out.push({ id: d.WebhookId, url: d.Url, state: "removed", history: [] });
      }
    });
    return out;
  }

  // Arrival marks per lane: an out-of-order arrival is a delivered activity older than one
  // already delivered; a duplicate arrival is an activity delivered a second time.
  function classify(points) {
    var best = null, seen = {};
    points.forEach(function (p) {
      var d = p.d;
      p.outOfOrder = false; p.dupArrival = false;
      if (d.Outcome !== "delivered") return;
      var key = [ms(d.ActivityCreatedOn) || 0, d.ActivityId];
      if (seen[d.ActivityId]) { p.dupArrival = true; return; }
      seen[d.ActivityId] = true;
      if (best && (key[0] < best[0] || (key[0] === best[0] && key[1] < best[1]))) p.outOfOrder = true;
      else best = key;
    });
  }

  function drawShape(g, shape, x, y, r, delivered) {
    var cls = delivered ? "mark ok" : "mark bad";
    var node;
    if (shape === "circle") node = svg("circle", { cx: x, cy: y, r: r });
    else if (shape === "square") node = svg("rect", { x: x - r, y: y - r, width: 2 * r, height: 2 * r });
    else if (shape === "diamond") node = svg("polygon", { points: [x, y - r - 2, x + r + 2, y, x, y + r + 2, x - r - 2, y].join(" ") });
    else if (shape === "triangle") node = svg("polygon", { points: [x, y - r - 2, x + r + 1, y + r, x - r - 1, y + r].join(" ") });
    else if (shape === "down") node = svg("polygon", { points: [x - r - 1, y - r, x + r + 1, y - r, x, y + r + 2].join(" ") });
    else {
      node = svg("circle", { cx: x, cy: y, r: r });
      g.appendChild(svg("circle", { cx: x, cy: y, r: r + 3, "class": "mark-ring" + (delivered ? " ok" : " bad") }));
    }
    node.setAttribute("class", cls);
    g.appendChild(node);
    if (!delivered) g.appendChild(svg("path", { d: "M" + (x - 3) + " " + (y - 3) + "L" + (x + 3) + " " + (y + 3) + "M" + (x + 3) + " " + (y - 3) + "L" + (x - 3) + " " + (y + 3), "class": "cross" }));
  }

  function drawLegend() {
    var legend = $("legend");
    if (legend.childNodes.length) return;
    Object.keys(KINDS).forEach(function (k) {
      var item = el("span", { "class": "legend-item" });
      var s = svg("svg", { width: "22", height: "22", "aria-hidden": "true" });
      drawShape(s, KINDS[k].shape, 11, 11, 5, true);
      item.appendChild(s);
      item.appendChild(document.createTextNode(KINDS[k].label));
      legend.appendChild(item);
    });
    [["ok", "filled: delivered (200)"], ["bad", "hollow with ×: failed"]].forEach(function (pair) {
      var item = el("span", { "class": "legend-item" });
      var s = svg("svg", { width: "22", height: "22", "aria-hidden": "true" });
      drawShape(s, "circle", 11, 11, 5, pair[0] === "ok");
      item.appendChild(s);
      item.appendChild(document.createTextNode(pair[1]));
      legend.appendChild(item);
    });
    [["↶", "arrived out of order"], ["×2", "arrived again (duplicate)"], ["⚡", "chaos injected"], ["— —", "retries of one activity"]].forEach(function (pair) {
      var item = el("span", { "class": "legend-item" });
      item.appendChild(el("b", { "class": "badge-sample", "aria-hidden": "true" }, pair[0]));
      item.appendChild(document.createTextNode(pair[1]));
      legend.appendChild(item);
    });
    [["retrying", "band: retrying"], ["failing", "hatched band: failing (outage)"]].forEach(function (pair) {
      var item = el("span", { "class": "legend-item" });
      item.appendChild(el("span", { "class": "band-sample band-" + pair[0], "aria-hidden": "true" }));
      item.appendChild(document.createTextNode(pair[1]));
      legend.appendChild(item);
    });
  }

  function drawTimeline() {
    drawLegend();
    var root = $("timeline");
    var wrap = root.parentNode;
    var atEnd = wrap.scrollLeft + wrap.clientWidth >= wrap.scrollWidth - 8;
    clear(root);
    var LABEL = 0, TOP = 28, LANE = 76, GAP_CUT = 60000;
    var ls = lanes();
    var points = model.deliveries.map(function (d, i) { return { d: d, t: ms(d.SentAt), i: i }; })
      .filter(function (p) { return !isNaN(p.t); });
    points.sort(function (a, b) { return a.t - b.t || a.i - b.i; });
    // x positions: the same instant steps a little; a gap grows with its log; long gaps are cut.
    var START = LABEL + 24, x = START, cuts = [];
    points.forEach(function (p, k) {
      if (k > 0) {
        var gap = p.t - points[k - 1].t;
        var step = gap <= 0 ? 17 : Math.min(110, 22 + 26 * Math.log10(1 + gap / 250));
        if (gap > GAP_CUT) cuts.push({ k: k, gap: gap });
        x += step;
      }
      p.x = x;
    });
    // Few attempts: spread them over the width available (at most three times wider).
    var room = (wrap.clientWidth || 800) - 60;
    if (x > START && x < room) {
      var stretch = Math.min(3, (room - START) / (x - START));
      points.forEach(function (p) { p.x = START + (p.x - START) * stretch; });
      x = START + (x - START) * stretch;
    }
    cuts.forEach(function (c) { c.x = (points[c.k - 1].x + points[c.k].x) / 2; });
    var width = Math.max(wrap.clientWidth || 800, x + 60);
    var height = TOP + Math.max(1, ls.length) * LANE + 8;
    root.setAttribute("width", width);
    root.setAttribute("height", height);
    root.setAttribute("viewBox", "0 0 " + width + " " + height);
    var labels = $("timeline-labels");
    clear(labels);
    labels.setAttribute("width", "210");
    labels.setAttribute("height", height);
    labels.setAttribute("viewBox", "0 0 210 " + height);

    var defs = svg("defs");
    var pattern = svg("pattern", { id: "hatch", width: "8", height: "8", patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
    pattern.appendChild(svg("rect", { width: "8", height: "8", "class": "hatch-bg" }));
    pattern.appendChild(svg("line", { x1: "0", y1: "0", x2: "0", y2: "8", "class": "hatch-line" }));
    defs.appendChild(pattern);
    root.appendChild(defs);

    function xAt(t) {
      if (!points.length) return LABEL + 24;
      if (t <= points[0].t) return points[0].x;
      var last = points[points.length - 1];
      if (t > last.t) return last.x;
      var lo = 0, hi = points.length - 1;  // the first point at or after t
      while (lo < hi) { var mid = (lo + hi) >> 1; if (points[mid].t < t) lo = mid + 1; else hi = mid; }
      var b = points[lo], a = points[lo - 1];
      return b.t === t || !a ? b.x : a.x + (b.x - a.x) * (t - a.t) / (b.t - a.t);
    }

    function xBefore(t) {  // the x of the last attempt sent at or before t
      var found = null;
      for (var k = 0; k < points.length && points[k].t <= t; k++) found = points[k];
      return found ? found.x : xAt(t);
    }

    // axis: a time label where time moved, spaced out; cuts where a long quiet stretch was shortened
    var axis = svg("g", { "class": "axis" });
    var lastLabel = -1e9, lastT = null;
    points.forEach(function (p, k) {
      if (p.t === lastT || p.x - lastLabel < 150) return;
      lastT = p.t; lastLabel = p.x;
      axis.appendChild(svg("line", { x1: p.x, y1: 17, x2: p.x, y2: TOP, "class": "tick-line" }));
      var tick = svg("text", { x: k === 0 ? p.x - 6 : p.x, y: 13, "class": k === 0 ? "tick first" : "tick" });
      tick.textContent = k === 0 ? shortTime(p.d.SentAt) : shortTime(p.d.SentAt).slice(11);
      axis.appendChild(tick);
    });
    cuts.forEach(function (c) {
      axis.appendChild(svg("line", { x1: c.x, y1: TOP - 4, x2: c.x, y2: height - 4, "class": "cut" }));
      var label = svg("text", { x: c.x, y: height - 6, "class": "cut-label" });
      label.textContent = "≈ " + duration(c.gap) + " later";
      axis.appendChild(label);
    });
    root.appendChild(axis);

    var byLane = {};
    points.forEach(function (p) { (byLane[p.d.WebhookId] = byLane[p.d.WebhookId] || []).push(p); });
    var nowT = points.length ? points[points.length - 1].t : 0;
    var total = 0;
    ls.forEach(function (lane, li) {
      var y0 = TOP + li * LANE, cy = y0 + LANE / 2;
      var g = svg("g", { "class": "lane", "data-webhook": lane.id });
      g.appendChild(svg("rect", { x: 0, y: y0, width: width, height: LANE, "class": li % 2 ? "lane-bg odd" : "lane-bg" }));
      var mine = byLane[lane.id] || [];
      classify(mine);
      // state bands from the webhook's history
      var hist = lane.history || [];
      for (var h = 0; h < hist.length; h++) {
        var st = hist[h][1];
        if (st !== "failing" && st !== "retrying") continue;
        var from = ms(hist[h][0]);
        var to = h + 1 < hist.length ? ms(hist[h + 1][0]) : nowT;
        // a state changes right after the attempt that caused it: start (and end) at that mark
        var start = xBefore(from);
        if (st === "retrying") {  // from the first failure since the webhook was last healthy
          var since = h > 0 ? ms(hist[h - 1][0]) : -Infinity;
          var firstFail = mine.filter(function (p) { return p.d.Outcome !== "delivered" && p.t >= since && p.t <= from; })[0];
          if (firstFail) start = firstFail.x;
        }
        var end = h + 1 < hist.length ? xBefore(to) : xAt(to);
        if (st === "failing") {  // an outage ends with the probe that got through
          var probe = mine.filter(function (p) { return p.d.Kind === "probe" && p.d.Outcome === "delivered" && p.t >= from; })[0];
          if (probe) end = probe.x;
        }
        var x1 = start - 8, x2 = Math.max(end + 8, x1 + 16);
        g.appendChild(svg("rect", { x: x1, y: y0 + 4, width: x2 - x1, height: LANE - 8, "class": "band band-" + st }));
        var bl = svg("text", { x: x1 + 3, y: y0 + LANE - 8, "class": "band-label" });
        bl.textContent = st;
        g.appendChild(bl);
      }
      // the lane's name stays in the fixed column on the left while the time axis scrolls
      labels.appendChild(svg("rect", { x: 0, y: y0, width: 210, height: LANE, "class": li % 2 ? "lane-bg odd" : "lane-bg" }));
      var name = svg("text", { x: 8, y: cy - 4, "class": "lane-label" });
      name.textContent = lane.url.length > 30 ? "…" + lane.url.slice(-29) : lane.url;
      labels.appendChild(name);
      var sub = svg("text", { x: 8, y: cy + 12, "class": "lane-state" });
      var sInfo = STATES[lane.state];
      sub.textContent = (sInfo ? sInfo.icon + " " + sInfo.text : lane.state) + " · " + lane.id;
      labels.appendChild(sub);
      // join the attempts of one activity (live → retries → probe/catch-up)
      var chains = {};
      mine.forEach(function (p) {
        if (p.d.Kind === "duplicate" || p.d.Kind === "replay") return;
        (chains[p.d.ActivityId] = chains[p.d.ActivityId] || []).push(p);
      });
      Object.keys(chains).forEach(function (aid) {
        var chain = chains[aid];
        if (chain.length < 2) return;
        g.appendChild(svg("polyline", { points: chain.map(function (p) { return p.x + "," + cy; }).join(" "), "class": "chain" }));
      });
      mine.forEach(function (p) {
        var d = p.d, kind = KINDS[d.Kind] || KINDS.live, ok = d.Outcome === "delivered";
        var chaos = (d.Chaos || []).some(function (m) { return m.indexOf("chaos:") === 0; });
        var what = (ok ? "delivered" : "failed " + (d.StatusCode || d.Error || "")) +
          (p.outOfOrder ? ", arrived out of order" : "") + (p.dupArrival ? ", arrived again" : "") + (chaos ? ", chaos injected" : "");
        var label = "Activity " + d.ActivityId + " " + d.ActivityType + ", attempt " + d.Attempt + " (" + kind.label + "), " + what + ", sent " + shortTime(d.SentAt);
        var mg = svg("g", { "class": "attempt" + (model.selected === d.DeliveryId ? " selected" : ""), tabindex: "0", role: "button", "aria-label": label, "data-delivery": d.DeliveryId, "data-kind": d.Kind, "data-outcome": d.Outcome });
        var title = svg("title"); title.textContent = label; mg.appendChild(title);
        var off = (d.Kind === "duplicate" || d.Kind === "replay") ? -14 : 0;
        drawShape(mg, kind.shape, p.x, cy + off, 6, ok);
        var badge = p.outOfOrder ? "↶" : p.dupArrival ? "×2" : "";
        if (badge) {
          var b = svg("text", { x: p.x, y: cy + off - 11, "class": "badge" + (p.outOfOrder ? " ooo" : " dup") });
          b.textContent = badge; mg.appendChild(b);
        }
        if (chaos) {
          var c = svg("text", { x: p.x, y: cy + off + 20, "class": "badge chaos" });
          c.textContent = "⚡"; mg.appendChild(c);
        }
        mg.addEventListener("click", function () { showDetail(d.DeliveryId); });
        mg.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); showDetail(d.DeliveryId); }
        });
        g.appendChild(mg);
        total += 1;
      });
      root.appendChild(g);
    });
    if (!ls.length) {
      var empty = svg("text", { x: 16, y: TOP + 30, "class": "empty" });
      empty.textContent = "No webhook registered: nothing is delivered yet.";
      root.appendChild(empty);
    }
    var failed = model.deliveries.filter(function (d) { return d.Outcome !== "delivered"; }).length;
    $("timeline-summary").textContent = total + " attempts shown (" + (total - failed) + " delivered, " + failed + " failed) on " + ls.length + " lane(s)";
    if (atEnd) wrap.scrollLeft = wrap.scrollWidth;
  }

  // --- attempt detail --------------------------------------------------------------------------
  function verdict(value, yes, no, unknown) {
    if (value === true) return el("span", { "class": "verdict ok" }, "✔ " + yes);
    if (value === false) return el("span", { "class": "verdict bad" }, "✖ " + no);
    return el("span", { "class": "verdict" }, unknown);
  }
  function showDetail(deliveryId) {
    model.selected = deliveryId;
    redraw();
    var box = $("detail");
    api("GET", "/_mock/deliveries/" + encodeURIComponent(deliveryId)).then(function (d) {
      clear(box);
      var kind = KINDS[d.Kind] || { label: d.Kind };
      box.appendChild(el("h3", null, "Attempt " + d.Attempt + " (" + kind.label + ") of activity " + d.ActivityId + " " + d.ActivityType));
      var dl = el("dl", { "class": "facts" });
      function fact(term, value) {
        dl.appendChild(el("dt", null, term));
        var dd = el("dd");
        if (value instanceof Node) dd.appendChild(value); else dd.textContent = value === null || value === undefined ? "—" : String(value);
        dl.appendChild(dd);
      }
      fact("Webhook", d.Url);
      fact("Outcome", d.Outcome === "delivered" ? "✔ delivered" : "✖ failed");
      fact("Receiver status", d.StatusCode !== null ? d.StatusCode : d.Error);
      fact("Delivery id", d.DeliveryId);
      fact("Scheduled", shortTime(d.ScheduledAt));
      fact("Sent", shortTime(d.SentAt));
      fact("Duration", d.DurationMs + " ms");
      fact("Chaos", d.Chaos && d.Chaos.length ? d.Chaos.join(", ") : "none");
      fact("Signature", verdict(d.SignatureValid, "verifies (X-Envoice-Signature, the webhook's secret)", "does not verify", "webhook removed: secret unknown"));
      fact("Standard Webhooks", verdict(d.StandardSignatureValid, "webhook-signature verifies", "webhook-signature does not verify", d.Sent ? "not checked" : "not sent (chaos answered in its place)"));
      box.appendChild(dl);
      box.appendChild(el("h4", null, "Request headers as sent"));
      var table = el("table", { "class": "kv" });
      if (d.RequestHeaders) {
        Object.keys(d.RequestHeaders).forEach(function (k) {
          var tr = el("tr"); tr.appendChild(el("th", { scope: "row" }, k)); tr.appendChild(el("td", null, d.RequestHeaders[k])); table.appendChild(tr);
        });
        box.appendChild(table);
      } else {
        box.appendChild(el("p", { "class": "muted" }, "Nothing went over the wire for this attempt (chaos answered in its place), or it is too old to be kept."));
      }
      box.appendChild(el("h4", null, "Body"));
      box.appendChild(el("pre", { "class": "log" }, d.Payload ? JSON.stringify(d.Payload, null, 2) : d.Body));
      box.appendChild(el("h4", null, "Receiver's answer"));
      box.appendChild(el("pre", { "class": "log" }, d.Answer === null ? "—" : (d.Answer || "(empty)") + (d.AnswerTruncated ? "\n…" : "")));
    }, function (err) {
      clear(box);
      box.appendChild(el("p", { "class": "bad" }, err.message));
    });
  }

  // --- activities ------------------------------------------------------------------------------
  function renderActivities() {
    var list = $("activities");
    var needle = $("activities-filter").value.toLowerCase();
    clear(list);
    model.activities.filter(function (a) {
      return !needle || (a.TypeName + " " + a.Message + " " + (a.InvoiceNumber || "") + " " + (a.OrderNumber || "") + " " + a.Id).toLowerCase().indexOf(needle) >= 0;
    }).slice(0, 100).forEach(function (a) {
      var li = el("li");
      var btn = el("button", { type: "button", "class": "link", "aria-label": "Attempts of activity " + a.Id }, "#" + a.Id);
      btn.addEventListener("click", function () { showActivity(a); });
      li.appendChild(btn);
      li.appendChild(el("strong", null, " " + a.TypeName + " "));
      li.appendChild(document.createTextNode(a.Message + " "));
      li.appendChild(el("span", { "class": "muted" }, shortTime(a.CreatedOn)));
      list.appendChild(li);
    });
  }
  function showActivity(a) {
    var box = $("detail");
    clear(box);
    box.appendChild(el("h3", null, "Activity " + a.Id + " " + a.TypeName));
    box.appendChild(el("p", null, a.Message));
    var attempts = model.deliveries.filter(function (d) { return d.ActivityId === a.Id; });
    if (!attempts.length) box.appendChild(el("p", { "class": "muted" }, "No delivery attempt of it is shown."));
    var ul = el("ul");
    attempts.forEach(function (d) {
      var li = el("li");
      var b = el("button", { type: "button", "class": "link" }, "attempt " + d.Attempt + " (" + d.Kind + ") → " + d.Url + ": " + (d.Outcome === "delivered" ? "✔ delivered" : "✖ " + (d.StatusCode || d.Error)));
      b.addEventListener("click", function () { showDetail(d.DeliveryId); });
      li.appendChild(b); ul.appendChild(li);
    });
    box.appendChild(ul);
  }
  $("activities-filter").addEventListener("input", renderActivities);

  // --- the request journal -----------------------------------------------------------------------
  function requestQuery() {
    var q = [];
    if ($("rq-method").value) q.push("method=" + encodeURIComponent($("rq-method").value));
    if ($("rq-path").value.trim()) q.push("path=" + encodeURIComponent($("rq-path").value.trim()));
    if ($("rq-status").value.trim()) q.push("status=" + encodeURIComponent($("rq-status").value.trim()));
    return q;
  }
  function matchesRequestFilter(r) {
    var m = $("rq-method").value, p = $("rq-path").value.trim().toLowerCase(), s = $("rq-status").value.trim().toLowerCase();
    if (m && r.Method !== m) return false;
    if (p) {
      var path = r.Path.toLowerCase().replace(/\/+$/, "");
      var re = new RegExp("^" + p.replace(/\/+$/, "").replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
      if (!re.test(path)) return false;
    }
    if (s) {
      var code = String(r.Status);
      if (/^\dxx$/.test(s) ? code[0] !== s[0] : code !== s) return false;
    }
    return true;
  }
  function loadRequests() {
    var q = requestQuery().concat(["pageSize=100"]);
    return api("GET", "/_mock/requests?" + q.join("&")).then(function (page) {
      model.requests = page.Result;
      $("requests-count").textContent = "(" + page.TotalCount + ")";
      renderRequests();
    }, function (err) { say("Request journal: " + err.message, true); });
  }
  function renderRequests() {
    var body = $("requests-body");
    clear(body);
    model.requests.slice(0, 100).forEach(function (r) {
      var tr = el("tr", { "class": r.Status >= 400 ? "bad-row" : "" });
      var idCell = el("td");
      var b = el("button", { type: "button", "class": "link", "aria-label": "Show request " + r.Id }, r.Id);
      b.addEventListener("click", function () { showRequest(r.Id); });
      idCell.appendChild(b);
      tr.appendChild(idCell);
      tr.appendChild(el("td", null, r.Method));
      var query = typeof r.Query === "string" ? r.Query : new URLSearchParams(r.Query || {}).toString();
      tr.appendChild(el("td", null, r.Path + (query ? "?" + query : "")));
      tr.appendChild(el("td", { "class": "num" }, (r.Status >= 400 ? "✖ " : "") + r.Status));
      tr.appendChild(el("td", { "class": "num" }, Math.round(r.DurationMs * 10) / 10));
      body.appendChild(tr);
    });
  }
  function showRequest(id) {
    api("GET", "/_mock/requests?since=" + (id - 1) + "&pageSize=500").then(function (page) {
      var entry = page.Result.filter(function (r) { return r.Id === id; })[0];
      var pre = $("request-detail");
      pre.removeAttribute("hidden");
      pre.textContent = entry ? JSON.stringify(entry, null, 2) : "That request is no longer kept.";
    });
  }
  $("requests-filter").addEventListener("submit", function (ev) { ev.preventDefault(); loadRequests(); });

  // --- actions ---------------------------------------------------------------------------------
  function on(id, fn) { $(id).addEventListener("click", fn); }
  function num(id) { return parseInt($(id).value, 10); }

  $("add-webhook").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { Url: $("add-webhook-url").value.trim() };
    if ($("add-webhook-secret").value.trim()) body.Secret = $("add-webhook-secret").value.trim();
    act("Register " + body.Url, api("POST", "/_mock/webhooks", body)).then(function (hook) {
      if (hook) { $("add-webhook-url").value = ""; load(); }
    });
  });
  on("btn-fail", function () {
    var how = $("fail-status").value, fail = {};
    if (how === "timeout" || how === "refused") fail.error = how; else fail.status = parseInt(how, 10);
    if ($("fail-for").value.trim()) fail["for"] = $("fail-for").value.trim(); else fail.attempts = num("fail-attempts");
    act("Take down", api("POST", "/_mock/chaos", { fail: fail }));
  });
  on("btn-clear", function () { act("Bring back", api("DELETE", "/_mock/chaos")); });
  on("btn-reorder", function () { act("Reorder", api("POST", "/_mock/chaos", { reorder: { window: num("reorder-window") } })); });
  on("btn-duplicate", function () { act("Duplicate", api("POST", "/_mock/chaos", { duplicate: { copies: num("duplicate-copies") } })); });
  on("btn-delay", function () { act("Delay", api("POST", "/_mock/chaos", { delay: { seconds: $("delay-seconds").value.trim() } })); });
  on("btn-corrupt", function () { act("Corrupt signatures", api("POST", "/_mock/chaos", { corrupt_signature: { count: num("corrupt-count") } })); });
  on("btn-replay", function () {
    var replay = { order: $("replay-order").value };
    if (num("replay-last") > 0) replay.last = num("replay-last");
    act("Replay", api("POST", "/_mock/chaos", { replay: replay }));
  });
  on("btn-advance", function () { act("Advance the clock", api("POST", "/_mock/clock/advance", { duration: $("advance-by").value.trim() })).then(function (c) { if (c) setClock(c); }); });
  on("btn-idle", function () { act("Deliver all that is owed", api("POST", "/_mock/deliveries/idle", {})); });
  on("btn-reset", function () {
    if (!window.confirm("Reset account " + KEY + "? Its data is seeded afresh; webhooks stay.")) return;
    act("Reset", api("POST", "/_mock/reset")).then(load);
  });

  function loadInvoices() {
    return api("GET", "/api/invoice/all?pageSize=100").then(function (page) {
      var pick = $("invoice-pick"), keep = pick.value;
      clear(pick);
      page.Result.forEach(function (inv) {
        var opt = el("option", { value: inv.Id }, inv.Number + " · " + inv.Status + " · " + inv.TotalAmount);
        pick.appendChild(opt);
      });
      var unpaid = page.Result.filter(function (i) { return i.Status === "Unpaid" || i.Status === "Overdue"; })[0];
      pick.value = keep && pick.querySelector('option[value="' + keep + '"]') ? keep : unpaid ? String(unpaid.Id) : pick.value;
    }, function () {});
  }
  on("btn-pay", function () {
    var id = $("invoice-pick").value, gateway = $("pay-gateway").value;
    act("Pay invoice", api("POST", "/_mock/invoice/" + id + "/pay", gateway ? { gateway: gateway } : {})).then(loadInvoices);
  });
  on("btn-open", function () { act("Open invoice as the client", api("POST", "/_mock/invoice/" + $("invoice-pick").value + "/open")); });
  on("btn-share", function () {
    api("GET", "/api/invoice/uri?id=" + $("invoice-pick").value).then(function (r) {
      window.open(r.Link, "_blank", "noopener");
    }, function (err) { say(err.message, true); });
  });

  function loadScenarios() {
    return api("GET", "/_mock/scenarios").then(function (list) {
      var pick = $("scenario-pick");
      clear(pick);
      list.forEach(function (s) {
        if (!s.Error) pick.appendChild(el("option", { value: s.Name, title: s.Description }, s.Name));
      });
      var quick = pick.querySelector('option[value="invoice-lifecycle"]');
      if (quick) pick.value = "invoice-lifecycle";
    }, function () {});
  }
  function showRunLog() {
    var log = $("scenario-log");
    log.removeAttribute("hidden");
    log.textContent = "run " + model.runId + "\n" + (model.runLogs[model.runId] || []).join("\n");
    log.scrollTop = log.scrollHeight;
  }
  on("btn-scenario", function () {
    var name = $("scenario-pick").value, target = $("scenario-target").value.trim();
    var log = $("scenario-log");
    log.removeAttribute("hidden");
    log.textContent = "";
    act("Run " + name, api("POST", "/_mock/ui/scenarios/" + encodeURIComponent(name) + "/run", { target: target })).then(function (run) {
      if (run) { model.runId = run.RunId; showRunLog(); }
    });
  });

  load().then(connect, function (err) {
    $("stream-status").textContent = "could not load: " + err.message;
    $("stream-status").className = "stream down";
  });
  loadScenarios();
  window.envoiceDashboard = { model: model, load: load, showDetail: showDetail };
})();
