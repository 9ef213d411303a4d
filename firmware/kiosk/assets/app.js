// The locker's screen: shows the view lockerd streams (/events) and sends the keys
// typed on it (/key). It holds no state of its own that matters: a reload or a
// reconnect shows the panel's current screen again.
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var current = null;
  var shownSeq = -1;

  function post(path, body) {
    return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
  }
  // Keys go one after the other, each when the last was taken: in the order typed.
  var keys = Promise.resolve();
  function sendKey(k) {
    keys = keys.then(function () { return post("/key", { key: k }); }).catch(function () {});
  }

  function speak() {
    if (!current || !current.speech) { return; }
    var a = $("audio");
    a.src = "/speech.wav?seq=" + current.seq;
    var p = a.play();
    if (p && p.catch) { p.catch(function () {}); }
  }

  function setText(id, text) {
    var el = $(id);
    if (el.textContent !== text) { el.textContent = text; }
  }

  function renderMap(cells) {
    var ul = $("map");
    ul.textContent = "";
    if (!cells || !cells.length) { ul.hidden = true; return; }
    cells.forEach(function (c) {
      var li = document.createElement("li");
      li.style.gridColumn = String(c.col + 1);
      li.style.gridRow = String(c.row + 1);
      if (c.state) { li.className = c.state; }
      var lab = document.createElement("span");
      lab.textContent = c.label;
      lab.setAttribute("aria-hidden", "true");
      li.appendChild(lab);
      var st = document.createElement("span");
      st.className = c.state ? "st" : "sr-only";
      st.textContent = c.state ? c.name.slice(c.name.lastIndexOf(",") + 1).trim() : "";
      st.setAttribute("aria-hidden", "true");
      li.appendChild(st);
      var sr = document.createElement("span");
      sr.className = "sr-only";
      sr.textContent = c.name;
      li.appendChild(sr);
      ul.appendChild(li);
    });
    ul.hidden = false;
  }

  function render(v) {
    current = v;
    var ui = v.ui || {};
    document.documentElement.lang = v.lang;
    document.title = ui.title || document.title;
    setText("brand", ui.title || "");
    setText("title", v.title);
    setText("detail", v.detail);
    $("status").setAttribute("data-seq", String(v.seq));
    var other = v.lang === "en" ? "zh-Hans" : "en";
    var lb = $("lang");
    lb.setAttribute("lang", other);
    lb.textContent = ui.lang;
    lb.setAttribute("aria-label", ui.lang_label);
    $("speak").textContent = ui.speak;
    $("speak").hidden = !v.speech;
    $("more").textContent = ui.more_time;
    $("clear").textContent = ui.clear;
    $("enter").textContent = ui.enter;
    ["size1", "size2", "size3", "size4", "undo", "retrieve", "done"].forEach(function (id) { $(id).textContent = ui[id]; });
    $("pad").setAttribute("aria-label", ui.keypad);
    $("courier").setAttribute("aria-label", ui.courier_keys);
    $("maplabel").textContent = ui.map;
    setText("hint", ui.keys_hint);
    $("offline").textContent = ui.offline;

    var session = v.mode === "session";
    $("courier").hidden = !session;
    $("pad").hidden = session;
    var dots = $("dots");
    if (v.digits > 0) {
      dots.textContent = new Array(v.digits + 1).join("\u25CF");
      dots.setAttribute("aria-label", ui.entered);
      dots.setAttribute("role", "img");
      dots.hidden = false;
    } else {
      dots.hidden = true;
    }
    var cd = $("countdown");
    if (v.retry_ms > 0) {
      cd.textContent = String(Math.ceil(v.retry_ms / 1000));
      cd.hidden = false;
    } else {
      cd.hidden = true;
    }
    var warn = $("warn");
    if (v.timeout_ms > 0 && v.timeout_ms <= v.warn_ms) {
      setText("warntext", ui.warn + " " + (ui.time_left || ""));
      warn.hidden = false;
    } else {
      warn.hidden = true;
    }
    if (v.seq !== shownSeq) {
      shownSeq = v.seq;
      renderMap(v.map);
    }
    $("main").setAttribute("data-prompt", v.prompt);
    $("main").setAttribute("data-mode", v.mode);
    $("main").setAttribute("data-digits", String(v.digits));
    $("main").setAttribute("data-lang", v.lang);
    $("main").setAttribute("data-seq", String(v.seq));
    if (v.speak) { speak(); }
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button") : null;
    if (!b) { return; }
    if (b.id === "speak") { speak(); return; }
    if (b.id === "lang") { post("/lang", {}); return; }
    var k = b.getAttribute("data-key");
    if (k) { sendKey(k); }
  });

  // A keyboard or a USB keypad works the screen alone: digits, * clear, # or Enter
  // to enter (Enter on a focused button presses that button), A read aloud, B
  // language, C more time.
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey) { return; }
    var k = e.key;
    if (k === "Enter" && e.target && e.target.tagName === "BUTTON") { return; }
    if (/^[0-9]$/.test(k) || k === "*" || k === "#") { sendKey(k); }
    else if (k === "Enter") { sendKey("#"); }
    else if (k === "Escape" || k === "Backspace" || k === "Delete") { sendKey("*"); }
    else if (k === "a" || k === "A") { speak(); }
    else if (k === "b" || k === "B") { post("/lang", {}); }
    else if (k === "c" || k === "C") { sendKey("C"); }
    else { return; }
    e.preventDefault();
  });

  function connect() {
    var es = new EventSource("/events");
    es.onmessage = function (e) {
      $("offline").hidden = true;
      try { render(JSON.parse(e.data)); } catch (err) { /* the next event redraws */ }
    };
    es.onerror = function () { $("offline").hidden = false; };
  }
  connect();
})();
