/* Alert sounds, synthesized in the browser with WebAudio: no sound file is ever downloaded.
   Each severity has its own pattern, so the room hears how bad it is before anyone looks up.
   A sound plays once for each newly unacknowledged alert whose severity is switched on (operators
   switch them on the panel, for every screen), and the critical pattern again every
   [alerts] sound_repeat_s seconds while a critical alert stays unacknowledged. Browsers start
   audio only after a first click or key press on the page: until then the panel says "sound
   blocked" (a wall kiosk runs chromium with --autoplay-policy=no-user-gesture-required). */
(function () {
  "use strict";
  // [frequency in Hz, number of beeps, beep length in s]
  var PATTERNS = {
    critical: [880, 3, 0.18],
    major: [660, 2, 0.18],
    minor: [520, 1, 0.2],
    warning: [440, 1, 0.15],
    info: [330, 1, 0.1]
  };
  var context = null;

  var latest = null;  // the last sound data from the server: {enabled, unacked, repeat_s}
  var lastCritical = Date.now();  // when the critical pattern last played (or the page opened)
  var checks = 0;  // runs of the repeat timer, for people's tools and tests (window.cityopsSound)

  function audio() {
    var Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) { return null; }
    if (context === null) {
      context = new Ctor();
      context.onstatechange = showBlocked;
    }
    if (context.state === "suspended") {
      var resumed = context.resume();
      if (resumed && resumed.then) { resumed.then(showBlocked, showBlocked); }
    }
    return context;
  }

  function wanted() {
    var enabled = (latest && latest.enabled) || {};
    return Object.keys(enabled).some(function (s) { return enabled[s]; });
  }

  // The browser refuses to start audio until someone clicks (its autoplay policy): say so while
  // a sound is switched on, so a silent wall is never mistaken for a quiet city.
  function showBlocked() {
    var note = document.getElementById("alert-sound-blocked");
    if (!note) { return; }
    var blocked = wanted() && context !== null && context.state !== "running";
    if (note.hidden === blocked) { note.hidden = !blocked; }
  }

  function unackedCritical() {
    var unacked = (latest && Array.isArray(latest.unacked)) ? latest.unacked : [];
    return unacked.some(function (row) { return row[1] === "critical"; });
  }

  window.setInterval(function () {
    checks += 1;
    if (latest === null) { return; }
    if (wanted()) { audio(); }
    showBlocked();
    var repeatMs = (Number(latest.repeat_s) || 0) * 1000;
    var enabled = latest.enabled || {};
    if (repeatMs > 0 && enabled.critical && unackedCritical() && Date.now() - lastCritical >= repeatMs) {
      beep("critical");
      lastCritical = Date.now();
    }
  }, 1000);
  window.cityopsSound = { checks: function () { return checks; } };

  function beep(severity) {
    var ctx = audio();
    var pattern = PATTERNS[severity];
    if (!ctx || !pattern || ctx.state !== "running") { return false; }
    var start = ctx.currentTime + 0.02;
    for (var i = 0; i < pattern[1]; i += 1) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      var t = start + i * pattern[2] * 1.6;
      osc.type = "sine";
      osc.frequency.value = pattern[0];
      // A short ramp in and out: no clicks.
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.3, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + pattern[2]);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + pattern[2] + 0.02);
    }
    return true;
  }

  // The first interaction unlocks audio for the rest of the page's life.
  ["pointerdown", "keydown"].forEach(function (name) {
    window.addEventListener(name, function () { audio(); }, { once: true, capture: true });
  });

  var RANK = ["critical", "major", "minor", "warning", "info"];

  // -- the wall's list: lines that do not fit are hidden and counted, never clipped -------------
  // The server sends the lines most urgent first (active before cleared-but-unacknowledged) and a
  // last ".alert-more" line with what it left out; here the lines from the end that do not fit the
  // panel are hidden too, and "+N more" says how many alerts and the worst severity among them.
  function worse(a, b) {
    if (!a) { return b; }
    if (!b) { return a; }
    return RANK.indexOf(a) <= RANK.indexOf(b) ? a : b;
  }

  function fitList(list) {
    var more = list.querySelector(":scope > .alert-more");
    if (!more || list.offsetParent === null) { return; }  // no list, or hidden (compact panel)
    var lines = Array.prototype.filter.call(list.children, function (el) {
      return el !== more && el.hasAttribute("data-count");
    });
    var count = parseInt(more.getAttribute("data-omitted") || "0", 10) || 0;
    var worst = more.getAttribute("data-worst") || "";
    var template = more.getAttribute("data-template") || "+{count}";
    var labels = {};
    try { labels = JSON.parse(more.getAttribute("data-labels") || "{}"); } catch (err) { labels = {}; }
    function show() {
      var text = count ? template.replace("{count}", String(count))
        .replace("{severity}", labels[worst] || worst) : "";
      if (more.textContent !== text) { more.textContent = text; }
      more.hidden = !count;
      more.className = "alert-more sev-" + (worst || "info");
    }
    lines.forEach(function (el) { el.style.display = ""; });
    show();
    for (var i = lines.length - 1; i >= 0 && list.scrollHeight > list.clientHeight + 1; i -= 1) {
      lines[i].style.display = "none";
      count += parseInt(lines[i].getAttribute("data-count") || "1", 10) || 1;
      worst = worse(worst, lines[i].getAttribute("data-severity") || "info");
      show();
    }
  }

  var watched = null;
  var observer = null;
  // The room left for the list changes when an incident line or the counts change: fit again.
  var resized = window.ResizeObserver ? new ResizeObserver(function () { fitNow(); }) : null;

  function fitNow() {
    var list = document.getElementById("alert-panel-list");
    if (!list) { return; }
    if (observer === null && window.MutationObserver) {
      observer = new MutationObserver(function () { fitNow(); });
    }
    if (observer) { observer.disconnect(); }
    fitList(list);
    if (observer) {
      observer.takeRecords();  // our own changes are not news
      observer.observe(list, { childList: true, subtree: true, characterData: true });
    }
    if (resized && watched !== list) {
      resized.disconnect();
      resized.observe(list);
    }
    watched = list;
  }

  // The list is created when the page is (Dash renders pages after load): look for it each second
  // until found, and again if the page was replaced; the observer then fits every redraw.
  window.setInterval(function () {
    var list = document.getElementById("alert-panel-list");
    if (list && list !== watched) { fitNow(); }
  }, 1000);
  window.addEventListener("resize", function () { fitNow(); });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityops_alerts: {
      // data: {enabled: {severity: bool}, unacked: [[id, severity], ...]}; played: ids heard.
      sound: function (data, played) {
        latest = data || null;
        var heard = Array.isArray(played) ? played : null;
        var unacked = (data && Array.isArray(data.unacked)) ? data.unacked : [];
        var ids = unacked.map(function (row) { return row[0]; });
        if (heard === null) {
          // The page just opened: what is already there was announced where it happened.
          return ids;
        }
        var fresh = unacked.filter(function (row) { return heard.indexOf(row[0]) < 0; });
        var enabled = (data && data.enabled) || {};
        var loudest = null;
        fresh.forEach(function (row) {
          if (enabled[row[1]] && (loudest === null || RANK.indexOf(row[1]) < RANK.indexOf(loudest))) {
            loudest = row[1];
          }
        });
        if (loudest !== null) { beep(loudest); }
        if (loudest === "critical" || heard === null || !unackedCritical()) {
          lastCritical = Date.now();  // a repeat counts from the last critical sound (or quiet)
        }
        return ids;
      }
    }
  });
}());
