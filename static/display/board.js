/* Display board: screen token -> one-time ticket -> WebSocket with after_seq catch-up.
 * No build step, no dependency. State: the active tasks by id and the last seq seen. */
(function () {
  "use strict";

  var TOKEN_KEY = "cc.screenToken";
  var SOUND_KEY = "cc.sound";
  var COLUMNS = ["pending", "accepted", "in_progress", "ready"];
  var TICKET_URL = "/api/v1/realtime/tickets/";
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_MAX_MS = 30000;

  var board = document.getElementById("board");
  var wsPath = board.getAttribute("data-ws-path");
  var el = function (id) { return document.getElementById(id); };

  var state = {
    token: localStorage.getItem(TOKEN_KEY),
    tasks: {},            // id -> task (as in events)
    lastSeq: null,        // highest seq received (null: ask for a snapshot)
    settings: { card_amber_minutes: 10, card_red_minutes: 20, heartbeat_seconds: 20 },
    station: [],
    categoryNames: {},
    socket: null,
    attempt: 0,
    reconnectTimer: null,
    watchdog: null,
    lastMessageAt: 0,
    sound: localStorage.getItem(SOUND_KEY) === "1",
    audio: null,
    stopped: false,
  };
  window.ccBoard = state; // for diagnostics and the browser test

  // --- setup ---------------------------------------------------------------------------------

  function showSetup(message) {
    el("setup").hidden = false;
    board.hidden = true;
    el("setup-error").textContent = message || "";
    el("token-input").focus();
  }

  el("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var token = el("token-input").value.trim();
    if (!token) return;
    localStorage.setItem(TOKEN_KEY, token);
    state.token = token;
    el("token-input").value = "";
    el("setup").hidden = true;
    board.hidden = false;
    state.stopped = false;
    connect();
  });

  el("forget-token").addEventListener("click", function () {
    localStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.stopped = true;
    if (state.socket) state.socket.close();
    showSetup("");
  });

  // --- sound (browsers only allow audio after a user gesture) ---------------------------------

  function renderSoundButton() {
    var button = el("sound-toggle");
    button.setAttribute("aria-pressed", state.sound && state.audio ? "true" : "false");
    button.textContent = state.sound && state.audio ? "Sound on" : "Enable sound";
  }

  el("sound-toggle").addEventListener("click", function () {
    if (!state.audio) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) state.audio = new Ctx();
      state.sound = true;
    } else {
      state.sound = !state.sound;
    }
    localStorage.setItem(SOUND_KEY, state.sound ? "1" : "0");
    if (state.sound) beep();
    renderSoundButton();
  });

  function beep() {
    if (!state.sound || !state.audio) return;
    try {
      var ctx = state.audio;
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.3, ctx.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.4);
    } catch (e) { /* no audio device: stay silent */ }
  }

  // --- connection ------------------------------------------------------------------------------

  function setOnline(online, detail) {
    el("offline-banner").hidden = online;
    el("offline-detail").textContent = detail || "";
    document.body.classList.toggle("is-offline", !online);
  }

  function scheduleReconnect(reason) {
    if (state.stopped) return;
    setOnline(false, reason);
    clearTimeout(state.reconnectTimer);
    // Exponential backoff with full jitter: a restarted server is not hit by every screen at once.
    var cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, state.attempt));
    var delay = Math.round(cap / 2 + Math.random() * cap / 2);
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function connect() {
    if (!state.token) { showSetup(""); return; }
    fetch(TICKET_URL, {
      method: "POST",
      headers: { "Authorization": "Screen " + state.token, "Accept": "application/json" },
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      if (response.status === 401) {
        state.stopped = true;
        setOnline(true);
        localStorage.removeItem(TOKEN_KEY);
        state.token = null;
        showSetup("This screen token is not valid (revoked or rotated). Ask a manager for a new one.");
        return null;
      }
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          var code = body && body.error ? body.error.code : response.status;
          throw new Error(String(code));
        });
      }
      return response.json();
    }).then(function (body) {
      if (!body) return;
      state.settings = body.settings;
      state.station = body.principal.station || [];
      el("screen-name").textContent = body.principal.name;
      renderStation();
      openSocket(body.ticket, body.ws_path || wsPath);
    }).catch(function (error) {
      scheduleReconnect(error && error.message ? "(" + error.message + ")" : "");
    });
  }

  function openSocket(ticket, path) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + path + "?ticket=" + encodeURIComponent(ticket);
    if (state.lastSeq !== null) url += "&after_seq=" + state.lastSeq;
    var socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = function () {
      state.lastMessageAt = Date.now();
      startWatchdog();
    };
    socket.onmessage = function (event) {
      state.lastMessageAt = Date.now();
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      handle(message);
    };
    socket.onclose = function (event) {
      if (state.socket !== socket) return;
      state.socket = null;
      stopWatchdog();
      if (event.code === 4403 && state.lastError === "SCREEN_REVOKED") {
        state.stopped = true;
        setOnline(true);
        localStorage.removeItem(TOKEN_KEY);
        state.token = null;
        showSetup("This screen was revoked by a manager.");
        return;
      }
      scheduleReconnect(event.code ? "(" + event.code + ")" : "");
    };
  }

  // The server pings every heartbeat: silence for 2.5 heartbeats means a dead link.
  function startWatchdog() {
    stopWatchdog();
    state.watchdog = setInterval(function () {
      var limit = (state.settings.heartbeat_seconds || 20) * 2500;
      if (state.socket && Date.now() - state.lastMessageAt > limit) state.socket.close();
    }, 1000);
  }
  function stopWatchdog() { clearInterval(state.watchdog); }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    toast("Offline: the action was not sent.");
    return false;
  }

  // --- messages --------------------------------------------------------------------------------

  function handle(message) {
    switch (message.type) {
      case "hello":
        // Only a session the server accepted resets the backoff (a refused one is closed).
        state.attempt = 0;
        setOnline(true);
        return;
      case "ping":
        return;
      case "pong":
        return;
      case "resync":
        state.tasks = {};
        state.lastSeq = null;
        render();
        return;
      case "snapshot":
        state.tasks = {};
        message.tasks.forEach(function (task) { state.tasks[task.id] = task; });
        setSeq(message.seq);
        render();
        return;
      case "error":
        state.lastError = message.code;
        if (message.code !== "INVALID_TICKET") toast(message.message || message.code);
        return;
      case "ack":
        return;
      default:
        if (typeof message.seq === "number") applyEvent(message);
    }
  }

  function setSeq(seq) {
    state.lastSeq = seq;
  }

  function applyEvent(event) {
    if (state.lastSeq !== null && event.seq <= state.lastSeq) return; // already applied
    setSeq(event.seq);
    var task = event.data;
    if (!task || typeof task.id !== "number" || !task.status) { render(); return; }
    var isNew = !state.tasks[task.id] && event.type === "task.created";
    if (COLUMNS.indexOf(task.status) === -1) {
      delete state.tasks[task.id];
    } else {
      state.tasks[task.id] = task;
    }
    render(isNew ? task.id : null);
    if (isNew) beep();
  }

  // --- rendering -------------------------------------------------------------------------------

  function inStation(categoryId) {
    return state.station.length === 0 || state.station.indexOf(categoryId) !== -1;
  }

  function renderStation() {
    var label;
    if (state.station.length === 0) {
      label = "All stations";
    } else {
      label = state.station.map(function (id) { return state.categoryNames[id] || "#" + id; }).join(", ");
    }
    el("station").textContent = label;
  }

  function sortTasks(a, b) {
    if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
    if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
    return a.id - b.id;
  }

  function text(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = content;
    return node;
  }

  function cardFor(task, highlight) {
    var card = text("article", "card");
    card.setAttribute("data-task-id", task.id);
    card.setAttribute("data-status", task.status);
    card.setAttribute("data-created-at", task.created_at);
    if (task.pinned) card.classList.add("card--pinned");
    if (highlight) card.classList.add("card--new");

    var head = text("div", "card__head");
    head.setAttribute("role", "button");
    head.setAttribute("title", "Tap to advance");
    var number = text("span", "card__number", (task.pinned ? "\u{1F4CC} " : "") + task.number);
    var where = text("span", "card__where", [task.workspace, task.customer_name].filter(Boolean).join(" · "));
    var age = text("span", "card__age", "");
    head.appendChild(number);
    head.appendChild(where);
    head.appendChild(age);
    head.addEventListener("click", function () { send({ type: "bump", task_id: task.id, ref: "bump-" + task.id }); });
    card.appendChild(head);

    if (task.notes) card.appendChild(text("div", "card__notes", task.notes));
    var list = text("ul", "items");
    (task.items || []).forEach(function (item) {
      state.categoryNames[item.category_id] = item.category_name;
      var row = text("li", "item" + (item.done ? " item--done" : "") + (inStation(item.category_id) ? "" : " item--other"));
      row.setAttribute("data-item-id", item.id);
      row.appendChild(text("span", "item__qty", item.quantity + "\u00d7"));
      var name = text("span", "item__name", item.agent_name);
      if (item.notes) { name.appendChild(document.createElement("br")); name.appendChild(text("span", "item__notes", item.notes)); }
      row.appendChild(name);
      if (inStation(item.category_id)) {
        row.addEventListener("click", function () {
          send({ type: "item_done", task_id: task.id, item_id: item.id, done: !item.done, ref: "item-" + item.id });
        });
      }
      list.appendChild(row);
    });
    card.appendChild(list);
    return card;
  }

  function render(highlightId) {
    var byStatus = {};
    COLUMNS.forEach(function (status) { byStatus[status] = []; });
    Object.keys(state.tasks).forEach(function (id) {
      var task = state.tasks[id];
      if (byStatus[task.status]) byStatus[task.status].push(task);
    });
    var total = 0;
    COLUMNS.forEach(function (status) {
      var column = board.querySelector('.column[data-status="' + status + '"]');
      var cards = column.querySelector(".cards");
      var fragment = document.createDocumentFragment();
      byStatus[status].sort(sortTasks).forEach(function (task) {
        fragment.appendChild(cardFor(task, task.id === highlightId));
      });
      cards.replaceChildren(fragment);
      column.querySelector(".count").textContent = byStatus[status].length || "";
      total += byStatus[status].length;
    });
    el("counts").textContent = total + " active";
    renderStation();
    tick();
  }

  // Card age: amber / red past the organization's thresholds; the clock.
  function tick() {
    var now = Date.now();
    var amber = state.settings.card_amber_minutes * 60000;
    var red = state.settings.card_red_minutes * 60000;
    board.querySelectorAll(".card").forEach(function (card) {
      var age = Math.max(0, now - Date.parse(card.getAttribute("data-created-at")));
      var minutes = Math.floor(age / 60000);
      var seconds = Math.floor((age % 60000) / 1000);
      card.querySelector(".card__age").textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
      card.classList.toggle("card--red", age >= red);
      card.classList.toggle("card--amber", age >= amber && age < red);
    });
    el("clock").textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  var toastTimer = null;
  function toast(message) {
    var node = el("toast");
    node.textContent = message;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.hidden = true; }, 4000);
  }

  // Going back online (laptop lid, Wi-Fi): try now rather than at the end of the backoff.
  window.addEventListener("online", function () {
    if (!state.socket && !state.stopped) { state.attempt = 0; clearTimeout(state.reconnectTimer); connect(); }
  });

  setInterval(tick, 1000);
  renderSoundButton();
  if (state.token) { connect(); } else { showSetup(""); }
})();
