/* Display board: screen token -> one-time ticket -> WebSocket with after_seq catch-up.
 * No build step, no dependency. State: the active tasks by id and the last seq seen, plus what
 * the board derives from the events (stock strip, recall tray, edits not yet acknowledged).
 * Every string a person reads comes from the page's #board-config (translated server side). */
(function () {
  "use strict";

  var TOKEN_KEY = "cc.screenToken";
  var SOUND_KEY = "cc.sound";
  var COLUMNS = ["pending", "accepted", "in_progress", "ready"];
  var TICKET_URL = "/api/v1/realtime/tickets/";
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_MAX_MS = 30000;
  var EXPO_CONFIRM_MS = 4000;

  var board = document.getElementById("board");
  var wsPath = board.getAttribute("data-ws-path");
  var el = function (id) { return document.getElementById(id); };
  var config = JSON.parse(el("board-config").textContent);
  var S = config.strings;

  // "{n} active" -> "3 active": the translated templates carry their placeholders.
  function fmt(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (all, key) {
      return values && values[key] !== undefined ? values[key] : all;
    });
  }

  var state = {
    token: localStorage.getItem(TOKEN_KEY),
    tasks: {},            // id -> task (as in events)
    lastSeq: null,        // highest seq received (null: ask for a snapshot)
    settings: {
      card_amber_minutes: config.card_amber_minutes,
      card_red_minutes: config.card_red_minutes,
      heartbeat_seconds: 20,
      timezone: config.timezone,
      recall_minutes: config.recall_minutes,
    },
    station: [],
    mode: "line",
    categoryNames: {},
    stock: {},            // agent id -> {agent_id, name, stock, low_stock_threshold}
    tray: [],             // bumped cards, newest first: {task, to, at, recalling}
    edits: {},            // task id -> {removed: [item], changed: {item id: quantity before}}
    activeId: null,       // the card the keyboard chose (null: follow the top of the queue)
    cursor: null,         // the card the keyboard acts on now (activeId, else the first card)
    expoArmed: {},        // task id -> time of the first bump of a task not ready (expo)
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

  // --- time in the organization's timezone --------------------------------------------------

  var formatters = {};
  function timeFormatter(withSeconds) {
    var key = state.settings.timezone + (withSeconds ? ":s" : "");
    if (!formatters[key]) {
      var options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
      if (withSeconds) options.second = "2-digit";
      try {
        formatters[key] = new Intl.DateTimeFormat(config.language, Object.assign({ timeZone: state.settings.timezone }, options));
      } catch (e) { // an unknown zone name: the device's zone rather than no clock
        formatters[key] = new Intl.DateTimeFormat(config.language, options);
      }
    }
    return formatters[key];
  }

  // --- setup ---------------------------------------------------------------------------------

  function showSetup(message) {
    el("setup").hidden = false;
    el("workspace").hidden = true;
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
    el("workspace").hidden = false;
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
    button.textContent = state.sound && state.audio ? S.sound_on : S.enable_sound;
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
        showSetup(S.token_invalid);
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
      Object.assign(state.settings, body.settings);
      state.station = body.principal.station || [];
      state.mode = body.principal.mode || "line";
      var names = body.principal.station_names || {};
      Object.keys(names).forEach(function (id) { state.categoryNames[id] = names[id]; });
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
        showSetup(S.screen_revoked);
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
    toast(S.offline_not_sent);
    return false;
  }

  // --- messages --------------------------------------------------------------------------------

  function handle(message) {
    switch (message.type) {
      case "hello":
        // Only a session the server accepted resets the backoff (a refused one is closed).
        state.attempt = 0;
        if (message.principal && message.principal.mode) state.mode = message.principal.mode;
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
        if (message.stock_alerts) {
          state.stock = {};
          message.stock_alerts.forEach(stockApply);
        }
        if (message.recent) {
          // Completed within the recall window: the tray survives a reload. Entries the
          // board saw itself (ready ones, say) are kept.
          var seen = {};
          state.tray.forEach(function (entry) { seen[entry.task.id] = true; });
          message.recent.forEach(function (task) {
            if (!seen[task.id]) state.tray.push({ task: task, to: task.status, at: Date.parse(task.completed_at) });
          });
          state.tray.sort(function (a, b) { return b.at - a.at; });
          state.tray = state.tray.slice(0, config.recall_tray_size);
        }
        Object.keys(state.edits).forEach(function (id) { if (!state.tasks[id]) delete state.edits[id]; });
        setSeq(message.seq);
        render();
        return;
      case "error":
        state.lastError = message.code;
        if (message.code !== "INVALID_TICKET") toast(message.message || message.code);
        if (message.ref && String(message.ref).indexOf("recall-") === 0) {
          // A refused recall (window passed, say): out of the tray rather than stuck there.
          var failedId = Number(String(message.ref).slice(7));
          state.tray = state.tray.filter(function (entry) { return entry.task.id !== failedId; });
          renderTray();
        }
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

  function stockApply(data) {
    // One rule for every agent event and the snapshot: in the strip while sold out or at/under
    // its threshold; out of it once restocked or no longer tracked (stock null).
    if (data.stock === null || data.stock === undefined || data.stock > data.low_stock_threshold) {
      delete state.stock[data.agent_id];
    } else {
      state.stock[data.agent_id] = data;
    }
  }

  function trayPush(task, to, at) {
    state.tray = state.tray.filter(function (entry) { return entry.task.id !== task.id; });
    state.tray.unshift({ task: task, to: to, at: at });
    state.tray = state.tray.slice(0, config.recall_tray_size);
  }

  function noteEdits(task, changes) {
    if (!changes) return;
    var edit = state.edits[task.id] || { removed: [], changed: {} };
    // Only this station's lines: another station's removal is not this cook's business.
    (changes.removed || []).forEach(function (item) {
      if (inStation(item.category_id)) edit.removed.push(item);
    });
    (changes.changed || []).forEach(function (line) {
      if (line.quantity && line.quantity[0] !== line.quantity[1] && !(line.id in edit.changed)) {
        edit.changed[line.id] = line.quantity[0];
      }
    });
    if (edit.removed.length || Object.keys(edit.changed).length) state.edits[task.id] = edit;
  }

  function hasStationItems(task) {
    return (task.items || []).some(function (item) { return inStation(item.category_id); });
  }

  function applyEvent(event) {
    if (state.lastSeq !== null && event.seq <= state.lastSeq) return; // already applied
    setSeq(event.seq);
    var data = event.data || {};
    if (event.type.indexOf("agent.") === 0) {
      if (typeof data.agent_id === "number") stockApply(data);
      renderStrip();
      return;
    }
    var task = data;
    if (typeof task.id !== "number" || !task.status) { render(); return; }
    var known = !!state.tasks[task.id];
    if (event.type === "task.updated") noteEdits(task, task.changes);
    if (event.type === "task.status_changed" && (task.status === "ready" || task.status === "completed")) {
      trayPush(task, task.status, Date.parse(task.status === "ready" ? task.ready_at : task.completed_at) || Date.now());
    }
    if (event.type === "task.recalled" || COLUMNS.indexOf(task.status) === -1 && task.status !== "completed") {
      state.tray = state.tray.filter(function (entry) { return entry.task.id !== task.id; });
    }
    var keep = COLUMNS.indexOf(task.status) !== -1 &&
      (state.mode === "expo" || hasStationItems(task) || state.edits[task.id]);
    if (keep) {
      state.tasks[task.id] = task;
    } else {
      delete state.tasks[task.id];
      delete state.edits[task.id];
    }
    var isNew = keep && !known && (event.type === "task.created" || event.type === "task.updated");
    render(isNew ? task.id : null);
    if (isNew) beep();
  }

  // --- rendering -------------------------------------------------------------------------------

  function inStation(categoryId) {
    return state.mode === "expo" || state.station.length === 0 || state.station.indexOf(categoryId) !== -1;
  }

  function renderStation() {
    var label;
    if (state.station.length === 0) {
      label = S.all_stations;
    } else {
      label = state.station.map(function (id) { return state.categoryNames[id] || "#" + id; }).join(", ");
    }
    el("station").textContent = label;
    el("mode").hidden = state.mode !== "expo";
    document.body.classList.toggle("is-expo", state.mode === "expo");
  }

  // Pinned, then rush, then the longest waiting (DESIGN section 5; the server's order too).
  function sortTasks(a, b) {
    if (!!a.pinned !== !!b.pinned) return a.pinned ? -1 : 1;
    var rushA = a.priority === "rush", rushB = b.priority === "rush";
    if (rushA !== rushB) return rushA ? -1 : 1;
    if (a.created_at !== b.created_at) return Date.parse(a.created_at) < Date.parse(b.created_at) ? -1 : 1;
    return a.id - b.id;
  }

  function text(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = content;
    return node;
  }

  function itemRow(task, item, index, changedFrom) {
    state.categoryNames[item.category_id] = item.category_name;
    var mine = inStation(item.category_id);
    var row = text("li", "item" + (item.done ? " item--done" : "") + (mine ? "" : " item--other"));
    row.setAttribute("data-item-id", item.id);
    row.setAttribute("data-agent-id", item.agent_id);
    if (mine) row.appendChild(text("span", "item__key", index <= 9 ? String(index) : ""));
    row.appendChild(text("span", "item__qty", item.quantity + "\u00d7"));
    var name = text("span", "item__name", item.agent_name);
    if (changedFrom !== undefined) {
      row.classList.add("item--changed");
      name.appendChild(text("span", "item__was", " " + fmt(S.quantity_was, { n: changedFrom })));
    }
    if (item.notes) { name.appendChild(document.createElement("br")); name.appendChild(text("span", "item__notes", item.notes)); }
    row.appendChild(name);
    if (state.mode === "expo") {
      // The expo reads each line's progress: the station and a check once it is done.
      row.appendChild(text("span", "item__station", item.category_name));
      row.appendChild(text("span", "item__check", item.done ? "\u2713" : "\u2022"));
    }
    if (mine) {
      row.addEventListener("click", function () { toggleItem(task.id, item.id); });
    }
    return row;
  }

  function cardFor(task, highlight) {
    var card = text("article", "card");
    card.setAttribute("data-task-id", task.id);
    card.setAttribute("data-status", task.status);
    card.setAttribute("data-created-at", task.created_at);
    card.setAttribute("data-priority", task.priority || "normal");
    if (task.pinned) card.classList.add("card--pinned");
    if (task.priority === "rush") card.classList.add("card--rush");
    if (highlight) card.classList.add("card--new");
    if (task.id === state.cursor) { card.classList.add("card--active"); card.setAttribute("aria-current", "true"); }
    if (state.expoArmed[task.id]) card.classList.add("card--confirm");

    var head = text("div", "card__head");
    head.setAttribute("role", "button");
    head.setAttribute("title", state.mode === "expo" ? S.tap_to_complete : S.tap_to_advance);
    var number = text("span", "card__number", (task.pinned ? "\u{1F4CC} " : "") + task.number);
    if (task.pinned) number.setAttribute("title", S.pinned);
    head.appendChild(number);
    if (task.priority === "rush") head.appendChild(text("span", "badge badge--rush", S.rush));
    head.appendChild(text("span", "card__where", [task.workspace, task.customer_name].filter(Boolean).join(" · ")));
    head.appendChild(text("span", "card__age", ""));
    head.addEventListener("click", function () { bump(task.id); });
    card.appendChild(head);
    var placed = Date.parse(task.created_at);
    if (!isNaN(placed)) {
      card.appendChild(text("div", "card__placed muted", fmt(S.placed_at, { time: timeFormatter(false).format(new Date(placed)) })));
    }

    if (task.notes) card.appendChild(text("div", "card__notes", task.notes));
    var edit = state.edits[task.id];
    var changed = edit ? edit.changed : {};
    var original = [], added = [];
    (task.items || []).forEach(function (item) { (item.added_at ? added : original).push(item); });
    var list = text("ul", "items");
    var index = 0;
    var numbered = function (item) { return inStation(item.category_id) ? ++index : 0; };
    original.forEach(function (item) { list.appendChild(itemRow(task, item, numbered(item), changed[item.id])); });
    if (added.length) {
      // Lines added after the first send: under their own separator, so the cook sees them.
      var separator = text("li", "items__separator items__separator--added", S.added);
      list.appendChild(separator);
      added.forEach(function (item) {
        var row = itemRow(task, item, numbered(item), changed[item.id]);
        row.classList.add("item--added");
        list.appendChild(row);
      });
    }
    card.appendChild(list);
    if (edit && edit.removed.length) {
      // Removed lines stay struck through until the screen acknowledges them (tap or A).
      var removed = text("ul", "items items--removed");
      removed.setAttribute("role", "button");
      removed.setAttribute("title", S.acknowledge);
      removed.appendChild(text("li", "items__separator items__separator--removed", S.removed));
      edit.removed.forEach(function (item) {
        var row = text("li", "item item--removed");
        row.setAttribute("data-item-id", item.id);
        row.appendChild(text("span", "item__qty", item.quantity + "\u00d7"));
        row.appendChild(text("span", "item__name", item.agent_name));
        removed.appendChild(row);
      });
      removed.addEventListener("click", function (event) { event.stopPropagation(); acknowledge(task.id); });
      card.appendChild(removed);
    } else if (edit) {
      var ack = text("button", "btn btn--ghost card__ack", S.acknowledge);
      ack.type = "button";
      ack.addEventListener("click", function () { acknowledge(task.id); });
      card.appendChild(ack);
    }
    return card;
  }

  function render(highlightId) {
    var byStatus = {};
    COLUMNS.forEach(function (status) { byStatus[status] = []; });
    Object.keys(state.tasks).forEach(function (id) {
      var task = state.tasks[id];
      if (byStatus[task.status]) byStatus[task.status].push(task);
    });
    ensureActive(byStatus);
    var total = 0;
    COLUMNS.forEach(function (status) {
      var column = board.querySelector('.column[data-status="' + status + '"]');
      var cards = column.querySelector(".cards");
      var fragment = document.createDocumentFragment();
      byStatus[status].forEach(function (task) {
        fragment.appendChild(cardFor(task, task.id === highlightId));
      });
      cards.replaceChildren(fragment);
      column.querySelector(".count").textContent = byStatus[status].length || "";
      total += byStatus[status].length;
    });
    el("counts").textContent = fmt(S.active_count, { n: total });
    renderStation();
    renderAllDay();
    renderStrip();
    renderTray();
    tick();
  }

  // The keyboard's order: columns left to right, each top to bottom (the board's own order).
  function flatOrder(byStatus) {
    if (!byStatus) {
      byStatus = {};
      COLUMNS.forEach(function (status) { byStatus[status] = []; });
      Object.keys(state.tasks).forEach(function (id) {
        var task = state.tasks[id];
        if (byStatus[task.status]) byStatus[task.status].push(task);
      });
    }
    var ids = [];
    COLUMNS.forEach(function (status) {
      byStatus[status].sort(sortTasks);
      byStatus[status].forEach(function (task) { ids.push(task.id); });
    });
    return ids;
  }

  // Until a key moves it, the cursor follows the top of the queue (a rush arriving takes it).
  function ensureActive(byStatus) {
    var ids = flatOrder(byStatus);
    if (state.activeId !== null && ids.indexOf(state.activeId) === -1) state.activeId = null;
    state.cursor = state.activeId !== null ? state.activeId : (ids.length ? ids[0] : null);
  }

  // All day: what to fire now, the open (not done) quantity of each item of this station
  // across the active tasks on the board.
  function renderAllDay() {
    var totals = {};
    Object.keys(state.tasks).forEach(function (id) {
      (state.tasks[id].items || []).forEach(function (item) {
        if (item.done || !inStation(item.category_id)) return;
        var key = item.agent_id;
        if (!totals[key]) totals[key] = { agent_id: key, name: item.agent_name, count: 0 };
        totals[key].count += item.quantity;
      });
    });
    var rows = Object.keys(totals).map(function (key) { return totals[key]; });
    rows.sort(function (a, b) { return b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0); });
    var list = el("all-day-list");
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) {
      var li = text("li", "all-day__row");
      li.setAttribute("data-agent-id", row.agent_id);
      li.setAttribute("data-count", row.count);
      li.appendChild(text("span", "all-day__count", String(row.count)));
      li.appendChild(text("span", "all-day__name", row.name));
      fragment.appendChild(li);
    });
    if (!rows.length) fragment.appendChild(text("li", "muted", S.all_day_empty));
    list.replaceChildren(fragment);
  }

  function renderStrip() {
    var ids = Object.keys(state.stock);
    var items = ids.map(function (id) { return state.stock[id]; });
    items.sort(function (a, b) { return a.stock - b.stock || (a.name < b.name ? -1 : 1); });
    var fragment = document.createDocumentFragment();
    items.forEach(function (agent) {
      var soldOut = agent.stock === 0;
      var chip = text("span", "strip__item strip__item--" + (soldOut ? "sold-out" : "low"));
      chip.setAttribute("data-agent-id", agent.agent_id);
      chip.setAttribute("data-state", soldOut ? "sold_out" : "low_stock");
      chip.appendChild(text("strong", null, agent.name));
      chip.appendChild(text("span", null, " " + (soldOut ? S.sold_out : fmt(S.low_stock, { n: agent.stock }))));
      fragment.appendChild(chip);
    });
    el("stock-items").replaceChildren(fragment);
    el("stock-strip").hidden = items.length === 0;
  }

  // Past the window the server would refuse the recall: the entry goes. True if any went.
  function pruneTray() {
    var window_ms = (state.settings.recall_minutes || 0) * 60000;
    var now = Date.now();
    var before = state.tray.length;
    state.tray = state.tray.filter(function (entry) { return window_ms > 0 && now - entry.at <= window_ms; });
    return state.tray.length !== before;
  }

  function renderTray() {
    pruneTray();
    el("recall-tray").hidden = (state.settings.recall_minutes || 0) <= 0;
    var fragment = document.createDocumentFragment();
    state.tray.forEach(function (entry) {
      var li = text("li", "recall__item" + (entry.recalling ? " recall__item--pending" : ""));
      li.setAttribute("data-task-id", entry.task.id);
      li.setAttribute("role", "button");
      li.setAttribute("title", S.recall_hint);
      li.appendChild(text("strong", null, entry.task.number));
      li.appendChild(text("span", "muted", " " + [entry.task.workspace, S["status_" + entry.to]].filter(Boolean).join(" · ")));
      li.appendChild(text("span", "recall__time muted", timeFormatter(false).format(new Date(entry.at))));
      li.addEventListener("click", function () { recall(entry.task.id); });
      fragment.appendChild(li);
    });
    if (!state.tray.length) fragment.appendChild(text("li", "muted", S.recall_empty));
    el("recall-list").replaceChildren(fragment);
  }

  // --- actions ---------------------------------------------------------------------------------

  function bump(taskId) {
    var task = state.tasks[taskId];
    if (!task) return false;
    if (state.mode === "expo" && task.status !== "ready") {
      // Handing over a task the lines have not finished: ask for a second bump.
      var armed = state.expoArmed[taskId];
      if (!armed || Date.now() - armed > EXPO_CONFIRM_MS) {
        state.expoArmed[taskId] = Date.now();
        toast(fmt(S.expo_confirm, { number: task.number }), true);
        render();
        setTimeout(function () {
          var since = state.expoArmed[taskId];
          if (since && Date.now() - since >= EXPO_CONFIRM_MS) {
            delete state.expoArmed[taskId];
            render();
          }
        }, EXPO_CONFIRM_MS + 50);
        return false;
      }
      delete state.expoArmed[taskId];
    }
    return send({ type: "bump", task_id: taskId, ref: "bump-" + taskId });
  }

  function toggleItem(taskId, itemId) {
    var task = state.tasks[taskId];
    if (!task) return;
    var item = (task.items || []).filter(function (i) { return i.id === itemId; })[0];
    if (!item) return;
    send({ type: "item_done", task_id: taskId, item_id: itemId, done: !item.done, ref: "item-" + itemId });
  }

  function recall(taskId) {
    var entry = state.tray.filter(function (e) { return e.task.id === taskId; })[0];
    if (entry) entry.recalling = true;
    if (send({ type: "recall", task_id: taskId, ref: "recall-" + taskId })) {
      toast(fmt(S.recall_sent, { number: entry ? entry.task.number : taskId }), true);
    }
    renderTray();
  }

  function acknowledge(taskId) {
    delete state.edits[taskId];
    var task = state.tasks[taskId];
    // A card kept only to show its removed lines leaves once they are acknowledged.
    if (task && state.mode !== "expo" && !hasStationItems(task)) delete state.tasks[taskId];
    render();
  }

  // --- keyboard / bump bar (a bump bar is a keyboard: it sends these keys) ---------------------

  function moveActive(step) {
    var ids = flatOrder();
    if (!ids.length) return;
    var index = ids.indexOf(state.cursor);
    if (index === -1) index = 0;
    else index = Math.max(0, Math.min(ids.length - 1, index + step));
    state.activeId = ids[index];
    render();
    var card = board.querySelector('.card[data-task-id="' + state.cursor + '"]');
    if (card && card.scrollIntoView) card.scrollIntoView({ block: "nearest" });
  }

  // A page: as many cards as the active card's column shows at once.
  function pageSize() {
    var card = board.querySelector(".card--active");
    if (!card) return 1;
    var container = card.parentNode;
    var box = container.getBoundingClientRect();
    var visible = 0;
    container.querySelectorAll(".card").forEach(function (node) {
      var r = node.getBoundingClientRect();
      if (r.top >= box.top - 1 && r.bottom <= box.bottom + 1) visible += 1;
    });
    return Math.max(1, visible);
  }

  function bumpActive() {
    var ids = flatOrder();
    var index = ids.indexOf(state.cursor);
    if (index === -1) { toast(S.nothing_selected); return; }
    var id = ids[index];
    // The cursor stays in place: on the next card of the queue once this one moves on (the
    // same card when it was the last one: it is still on the board in its next column).
    if (bump(id) && ids[index + 1] !== undefined) state.activeId = ids[index + 1];
  }

  function bumpFirst() {
    var ids = flatOrder();
    if (!ids.length) { toast(S.nothing_selected); return; }
    bump(ids[0]);
  }

  function recallLast() {
    var entry = state.tray.filter(function (e) { return !e.recalling; })[0];
    if (!entry) { toast(S.recall_empty); return; }
    recall(entry.task.id);
  }

  function toggleHelp(show) {
    var help = el("help");
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) el("help-close").focus();
  }
  el("help-toggle").addEventListener("click", function () { toggleHelp(); });
  el("help-close").addEventListener("click", function () { toggleHelp(false); });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
    if (!el("setup").hidden) return;
    var key = event.key;
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    if (key === "Escape") { toggleHelp(false); return; }
    if (!el("help").hidden) return;
    ensureActive();
    var handled = true;
    switch (key.length === 1 ? key.toLowerCase() : key) {
      case "Enter": case " ": case "b": bumpActive(); break;
      case "f": bumpFirst(); break;
      case "ArrowRight": case "ArrowDown": case "j": moveActive(1); break;
      case "ArrowLeft": case "ArrowUp": case "k": moveActive(-1); break;
      case "PageDown": case "n": moveActive(pageSize()); break;
      case "PageUp": case "p": moveActive(-pageSize()); break;
      case "Home": moveActive(-Infinity); break;
      case "End": moveActive(Infinity); break;
      case "r": recallLast(); break;
      case "a": if (state.cursor !== null) acknowledge(state.cursor); break;
      default:
        if (/^[1-9]$/.test(key) && state.cursor !== null && state.tasks[state.cursor]) {
          var task = state.tasks[state.cursor];
          var mine = orderedItems(task).filter(function (item) { return inStation(item.category_id); });
          var item = mine[Number(key) - 1];
          if (item) toggleItem(task.id, item.id);
        } else {
          handled = false;
        }
    }
    if (handled) event.preventDefault();
  });

  function orderedItems(task) {
    var items = task.items || [];
    return items.filter(function (i) { return !i.added_at; }).concat(items.filter(function (i) { return !!i.added_at; }));
  }

  // --- timers ----------------------------------------------------------------------------------

  // Card age: amber / red past the organization's thresholds; the clock in its timezone.
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
    el("clock").textContent = timeFormatter(false).format(new Date(now));
  }

  var toastTimer = null;
  function toast(message, info) {
    var node = el("toast");
    node.textContent = message;
    node.classList.toggle("toast--info", !!info);
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.hidden = true; }, 4000);
  }

  // Going back online (laptop lid, Wi-Fi): try now rather than at the end of the backoff.
  window.addEventListener("online", function () {
    if (!state.socket && !state.stopped) { state.attempt = 0; clearTimeout(state.reconnectTimer); connect(); }
  });

  setInterval(function () {
    tick();
    // Re-rendered only when an entry expired: a list rebuilt every second would eat taps.
    if (pruneTray()) renderTray();
  }, 1000);
  renderSoundButton();
  render();
  if (state.token) { connect(); } else { showSetup(""); }
})();
