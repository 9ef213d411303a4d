// The simulator's front panel: two event streams (the locker's grid and panel screen;
// the cloud's messages) and buttons that POST what a person does. No framework, no
// network beyond this page's own origin.
"use strict";

const $ = (sel) => document.querySelector(sel);

// What the panel's prompt ids mean, in plain English. The locker's own screen (the
// kiosk) has the real wording, in its languages; this is only the simulator's view.
const prompts = {
  welcome: "Type your code and #, or show your QR code",
  typing: "Typing…",
  cleared: "Cleared",
  timed_out: "Timed out: start again",
  doors_open: "Door open: take your parcel and shut the door",
  shelf: "Staff will fetch your parcel",
  door_fault: "A door could not open: call staff",
  wrong_code: "Wrong code",
  phone: "Now type your phone's last four digits and #",
  code_format: "That is not a pickup code",
  checking: "Checking…",
  locked: "Too many wrong codes: wait",
  enter_pin: "Badge read: type your PIN and #",
  bad_credentials: "Badge or PIN not recognised",
  session_open: "Scan parcels (1-4 size, 0 undo, 9 retrieve, # done)",
  size: "Size chosen for parcels the cloud did not announce",
  deposit: "Door open: put the parcel in and shut the door",
  choose_size: "Unknown parcel: press 1-4 for its size, then scan again",
  duplicate_scan: "Already scanned",
  already_here: "That parcel is already in the locker",
  no_free_door: "No free door fits",
  undone: "Last deposit undone",
  nothing_to_do: "Nothing to do",
  no_rights: "Not allowed here",
  session_closed: "Session closed",
  session_ended: "Session ended (inactivity)",
  handed_over: "Handed over",
  wrong_parcel: "Not the parcel being handed over",
  login_first: "Show your badge first",
  bad_scan: "Not a parcel, badge or pickup QR",
  finish_first: "Finish the courier session first",
  error: "Something failed: try again or call staff",
};

function status(text) { $("#conn").textContent = text; }

// post sends one action; the page's actions run one after another, in order.
let queue = Promise.resolve();
function post(path, body) {
  queue = queue.then(async () => {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    if (!r.ok) status("Refused: " + (await r.text()).trim());
  }).catch((e) => status("Failed: " + e));
  return queue;
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
}

function renderGrid(g) {
  for (const r of document.querySelectorAll("#person input")) r.checked = r.value === g.person;
  const rows = new Map();
  for (const c of g.cells) {
    const row = c.label.replace(/[0-9]+$/, "") || "?";
    if (!rows.has(row)) rows.set(row, []);
    rows.get(row).push(c);
  }
  const grid = el("div", {id: "grid"});
  for (const [name, cells] of rows) {
    const row = el("div", {class: "row", role: "list"});
    row.setAttribute("aria-label", "Column " + name);
    for (const c of cells) {
      const desc = c.state + (c.parcels > 1 ? " (" + c.parcels + " parcels)" : "") + (c.busy ? ", in use" : "") + (c.jam_armed ? ", jam armed" : "");
      const cell = el("div", {class: "cell " + c.state + (c.busy ? " busy" : ""), role: "listitem", "data-id": c.id, "data-state": c.state, "data-label": c.label},
        el("span", {class: "label"}, c.label), el("span", {class: "size"}, c.size), el("span", {class: "what"}, desc));
      const act = (a, text) => {
        const b = el("button", {type: "button", "data-action": a}, text);
        b.setAttribute("aria-label", text + " door " + c.label);
        b.addEventListener("click", () => post("/api/door", {compartment: c.id, action: a}));
        return b;
      };
      cell.append(el("span", {class: "acts"}, act("open", "Open"), act("shut", "Shut"), c.jam_armed ? act("unjam", "Unjam") : act("jam", "Jam")));
      row.append(cell);
    }
    grid.append(row);
  }
  $("#grid").replaceWith(grid);
}

function renderScreen(s) {
  $("#prompt-id").textContent = s.prompt;
  $("#mode").textContent = s.mode;
  $("#display").dataset.prompt = s.prompt;
  let text = prompts[s.prompt] || s.prompt;
  let detail = "";
  if (s.digits) detail = "•".repeat(s.digits);
  if (s.doors) detail = "Door " + s.doors.join(", ");
  if (s.failed) detail += (detail ? "; " : "") + "failed: " + s.failed.join(", ");
  if (s.size) detail += (detail ? " " : "") + "size " + s.size;
  if (s.retry_after) detail += (detail ? " " : "") + "(" + s.retry_after + " s)";
  if (s.code_length) detail += (detail ? " " : "") + "(codes have " + s.code_length + " digits or more)";
  $("#prompt-text").textContent = text;
  $("#prompt-detail").textContent = detail;
}

function renderBag(items) {
  const ul = el("ul", {id: "bag"});
  if (!items.length) ul.append(el("li", {class: "empty"}, "empty"));
  for (const it of items) {
    const b = el("button", {type: "button", "data-parcel": it.parcel, "data-show": "label"}, "Scan label");
    b.setAttribute("aria-label", "Scan the label of parcel " + it.parcel);
    b.addEventListener("click", () => post("/api/cloud/show", {what: "label", parcel: it.parcel}));
    const note = it.unannounced ? " · not announced: press " + ({S: 1, M: 2, L: 3, XL: 4})[it.size] + " for its size, then scan" : "";
    ul.append(el("li", {"data-parcel": it.parcel}, it.parcel + " · size " + it.size + " · label " + it.label + note + " ", b));
  }
  $("#bag").replaceWith(ul);
}

const seen = new Set();
function addMessage(m) {
  if (seen.has(m.seq)) return; // a reconnect replays them all
  seen.add(m.seq);
  const li = el("li", {"data-seq": m.seq, "data-to": m.to}, el("span", {class: "meta"}, m.at + " → " + m.to), el("span", {class: "text"}, m.text));
  if (m.show) {
    const label = m.show === "badge" ? "Show the badge to the scanner" : "Show this QR to the scanner";
    const b = el("button", {type: "button", "data-show": m.show, "data-parcel": m.parcel || ""}, label);
    b.addEventListener("click", () => post("/api/cloud/show", m.parcel ? {what: m.show, parcel: m.parcel} : {what: m.show}));
    li.append(b);
  }
  $("#messages").prepend(li);
}

function stream(path, handlers) {
  const es = new EventSource(path);
  for (const [name, f] of Object.entries(handlers)) es.addEventListener(name, (e) => f(JSON.parse(e.data)));
  es.onopen = () => status("Connected");
  es.onerror = () => status("Reconnecting…");
}

document.addEventListener("DOMContentLoaded", () => {
  stream("/api/panel", {
    info: (i) => {
      $("#station").textContent = "· locker " + i.station;
      if (i.kiosk) {
        const a = el("a", {href: i.kiosk}, i.kiosk);
        $("#kiosk").replaceChildren("The locker's own screen (the kiosk) is at ", a, ".");
      }
    },
    grid: renderGrid,
    screen: renderScreen,
  });
  stream("/api/cloud", {sms: addMessage, bag: renderBag});
  for (const b of document.querySelectorAll("#keypad button")) {
    b.addEventListener("click", () => post("/api/key", {key: b.dataset.key}));
  }
  for (const r of document.querySelectorAll("#person input")) {
    r.addEventListener("change", () => post("/api/person", {mode: r.value}));
  }
  $("#scanner").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("#scan-text");
    if (t.value) post("/api/scan", {text: t.value});
    t.value = "";
  });
  $("#deliver").addEventListener("click", () => post("/api/cloud/deliver", {parcels: 2}));
  $("#deliver-unannounced").addEventListener("click", () => post("/api/cloud/deliver", {parcels: 0, unannounced: 1}));
});
