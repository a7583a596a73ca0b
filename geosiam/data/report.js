// geosiam report.html: the map of evaluated places and the details of a place (no library, no network).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("geosiam-data").textContent);
  var places = data.places;
  var svg = document.getElementById("map");
  var details = document.getElementById("details");
  var layerSelect = document.getElementById("layer");
  var imagerySelect = document.getElementById("imagery");
  var legend = document.getElementById("legend");
  var RAMP = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]; // distance: light = unchanged
  var view = null; // the viewBox, in metres (x east, y = -north)
  var drag = null;

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function band(rank) {
    if (rank === 1) return 0;
    if (rank >= 2 && rank <= 5) return 1;
    if (rank >= 6 && rank <= 10) return 2;
    return 3;
  }

  function rankText(rank) {
    return rank > 0 ? "rank " + rank : "not in the top 10";
  }

  function hex(c) {
    return [1, 3, 5].map(function (i) { return parseInt(c.slice(i, i + 2), 16); });
  }

  function rampColour(t) {
    t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    var i = Math.min(Math.floor(t), RAMP.length - 2), f = t - i;
    var a = hex(RAMP[i]), b = hex(RAMP[i + 1]);
    return "rgb(" + a.map(function (v, k) { return Math.round(v + f * (b[k] - v)); }).join(",") + ")";
  }

  var distances = places.map(function (p) { return p.d; }).filter(function (d) { return d !== null; });
  var maxDistance = distances.length ? Math.max.apply(null, distances.concat([1e-9])) : 1;

  function fill(p) {
    if (layerSelect.value === "distance") return p.d === null ? "#999" : rampColour(p.d / maxDistance);
    return data.bands.colours[band(p.rank)];
  }

  // --- drawing ---------------------------------------------------------------------------------
  function draw() {
    var parts = ['<g class="imagery"></g><g class="places">'];
    places.forEach(function (p, i) {
      var b = p.b, inset = 0.03 * (b[2] - b[0]); // neighbours' outlines never overlap
      parts.push('<rect class="place" data-i="' + i + '" x="' + (b[0] + inset) + '" y="' + (inset - b[3]) +
        '" width="' + (b[2] - b[0] - 2 * inset) + '" height="' + (b[3] - b[1] - 2 * inset) + '"><title>' +
        esc(p.id) + ": " +
        esc(rankText(p.rank)) + "</title></rect>");
    });
    parts.push("</g>");
    svg.innerHTML = parts.join("");
    recolour();
    drawImagery();
  }

  function drawImagery() {
    var source = imagerySelect.value;
    var group = svg.querySelector(".imagery");
    if (source === "none") { group.innerHTML = ""; return; }
    group.innerHTML = places.map(function (p, i) {
      var b = p.b;
      return '<image href="' + data[source][i] + '" x="' + b[0] + '" y="' + (-b[3]) + '" width="' +
        (b[2] - b[0]) + '" height="' + (b[3] - b[1]) + '" preserveAspectRatio="none"></image>';
    }).join("");
  }

  function recolour() {
    svg.querySelectorAll(".place").forEach(function (rect) {
      var colour = fill(places[+rect.dataset.i]);
      rect.setAttribute("fill", colour);
      rect.style.setProperty("--colour", colour); // the outline's colour over imagery
    });
    drawLegend();
  }

  function drawLegend() {
    if (layerSelect.value === "distance") {
      legend.innerHTML = "cosine distance between the two years' descriptors: 0" +
        '<span class="ramp" style="background: linear-gradient(to right, ' + RAMP.join(", ") + ')"></span>' +
        maxDistance.toFixed(3) + " (darker: moved more)";
      return;
    }
    var counts = [0, 0, 0, 0];
    places.forEach(function (p) { counts[band(p.rank)] += 1; });
    legend.innerHTML = data.bands.labels.map(function (label, k) {
      return '<span><span class="swatch" style="background:' + data.bands.colours[k] + '"></span>' +
        esc(label) + " (" + counts[k] + ")</span>";
    }).join("");
  }

  // --- view: fit, zoom, pan ----------------------------------------------------------------------
  function setView(v) {
    view = v;
    svg.setAttribute("viewBox", [v.x, v.y, v.w, v.h].join(" "));
    var ctm = svg.getScreenCTM();
    var tile = places.length ? places[0].b[2] - places[0].b[0] : 0;
    var zoomed = ctm && imagerySelect.value !== "none" && tile * ctm.a >= 40;
    svg.classList.toggle("zoomed", !!zoomed);
  }

  function fit() {
    if (!places.length) return setView({ x: 0, y: 0, w: 1, h: 1 });
    var xs = [], ys = [];
    places.forEach(function (p) { xs.push(p.b[0], p.b[2]); ys.push(-p.b[1], -p.b[3]); });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    var pad = 0.03 * Math.max(x1 - x0, y1 - y0, 1), top = 0.1 * (y1 - y0); // room for the controls
    setView({ x: x0 - pad, y: y0 - pad - top, w: x1 - x0 + 2 * pad, h: y1 - y0 + 2 * pad + top });
  }

  function worldPoint(clientX, clientY) {
    var ctm = svg.getScreenCTM().inverse();
    return new DOMPoint(clientX, clientY).matrixTransform(ctm);
  }

  function zoom(factor, clientX, clientY) {
    var r = svg.getBoundingClientRect();
    var p = worldPoint(clientX === undefined ? r.left + r.width / 2 : clientX,
                       clientY === undefined ? r.top + r.height / 2 : clientY);
    setView({ x: p.x - (p.x - view.x) * factor, y: p.y - (p.y - view.y) * factor,
              w: view.w * factor, h: view.h * factor });
  }

  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    zoom(Math.exp(ev.deltaY * 0.0015), ev.clientX, ev.clientY);
  }, { passive: false });

  svg.addEventListener("pointerdown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, view: view, scale: 1 / svg.getScreenCTM().a, moved: false };
  });
  svg.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!drag.moved) { svg.setPointerCapture(ev.pointerId); svg.classList.add("panning"); }
    drag.moved = true;
    setView({ x: drag.view.x - dx * drag.scale, y: drag.view.y - dy * drag.scale, w: drag.view.w, h: drag.view.h });
  });
  function endDrag(ev) {
    if (!drag) return;
    var wasClick = !drag.moved;
    drag = null;
    svg.classList.remove("panning");
    if (wasClick && ev.type === "pointerup") {
      var target = document.elementFromPoint(ev.clientX, ev.clientY);
      if (target && target.classList.contains("place")) select(+target.dataset.i);
    }
  }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);

  document.getElementById("zoom-in").addEventListener("click", function () { zoom(0.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(2); });
  document.getElementById("zoom-fit").addEventListener("click", fit);
  layerSelect.addEventListener("change", recolour);
  imagerySelect.addEventListener("change", function () { drawImagery(); setView(view); });
  window.addEventListener("resize", function () { setView(view); });

  // --- details of a place --------------------------------------------------------------------------
  function tileFigure(src, caption, cls) {
    return '<figure class="' + (cls || "") + '"><img alt="' + esc(caption) + '" src="' + src + '"><figcaption>' +
      caption + "</figcaption></figure>";
  }

  function select(i) {
    var previous = svg.querySelector(".place.selected");
    if (previous) previous.classList.remove("selected");
    var rect = svg.querySelector('.place[data-i="' + i + '"]');
    if (rect) { rect.classList.add("selected"); rect.parentNode.appendChild(rect); }
    var p = places[i], years = data.years;
    var html = ["<h3>" + esc(p.id) + ' <span class="band" style="background:' +
      data.bands.colours[band(p.rank)] + '">' + esc(rankText(p.rank)) + "</span></h3>"];
    if (p.d !== null) html.push("<div>cosine distance between the two years: " + p.d.toFixed(3) + "</div>");
    html.push(tileFigure(data.query[i], "query, " + years.newer));
    if (data.mask.length) {
      html.push(tileFigure(data.mask[i], "its mask"));
      html.push('<div class="classes">' + (data.present[i] || []).map(function (c) {
        var k = data.classes[c] || ["class " + c, "#808080"];
        return '<span><span class="swatch" style="display:inline-block;width:9px;height:9px;background:' +
          k[1] + '"></span> ' + esc(k[0]) + "</span>";
      }).join("") + "</div>");
    }
    html.push("<h4>its top " + p.top.length + " in " + years.older + "</h4><ol class=\"top5\">");
    p.top.forEach(function (answer, k) {
      var j = answer[0], isTrue = j === i;
      html.push('<li class="' + (isTrue ? "true-match" : "") + '"><img alt="answer ' + (k + 1) + '" src="' +
        data.database[j] + '"><span class="label">#' + (k + 1) + " " + answer[1].toFixed(3) +
        (isTrue ? " true match" : "") + "</span><br><span>" + esc(places[j].older_id) + "</span></li>");
    });
    html.push("</ol>");
    if (p.rank < 1 || p.rank > p.top.length) {
      html.push('<h4>its true match</h4><div class="true-elsewhere">' +
        tileFigure(data.database[i], '<span class="label">' + esc(rankText(p.rank)) + "</span>") + "</div>");
    }
    details.innerHTML = html.join("");
    details.dataset.place = p.id;
  }

  // --- start -------------------------------------------------------------------------------------------
  if (distances.length) {
    var option = document.createElement("option");
    option.value = "distance";
    option.textContent = "distance between the years";
    layerSelect.appendChild(option);
  }
  document.querySelectorAll("section").forEach(function (s) {
    if (!s.textContent.trim() && !s.querySelector("img, svg")) {
      s.style.display = "none";
      var link = document.querySelector('nav a[href="#' + s.id + '"]');
      if (link) link.style.display = "none";
    }
  });
  draw();
  fit();
  document.documentElement.dataset.mapReady = String(places.length);
})();
