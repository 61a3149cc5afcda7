/* Alert sounds, synthesized in the browser with WebAudio: no sound file is ever downloaded.
   Each severity has its own pattern, so the room hears how bad it is before anyone looks up.
   A sound plays once for each newly unacknowledged alert whose severity is switched on (operators
   switch them on the panel, for every screen). Browsers start audio only after a first click or
   key press on the page; a wall kiosk runs chromium with --autoplay-policy=no-user-gesture-required. */
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

  function audio() {
    var Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) { return null; }
    if (context === null) { context = new Ctor(); }
    if (context.state === "suspended") { context.resume(); }
    return context;
  }

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

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityops_alerts: {
      // data: {enabled: {severity: bool}, unacked: [[id, severity], ...]}; played: ids heard.
      sound: function (data, played) {
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
        return ids;
      }
    }
  });
}());
