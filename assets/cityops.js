/* Clientside callbacks: the page theme and the clock run in the browser, costing the server nothing. */

// What changed in the city (app/web/live_versions.py), asked outside Dash's renderer shortly
// before each tick (LEAD_MS): one small answer shared by every gate of the page, read by the
// tick's gates. Not waited for inside the tick's callback: on a slow link that callback would be
// slower than a tick, and Dash drops such a callback's answer. A request not back within 10 s is
// given up; a failed one leaves null, and following gates then fire on every tick as before.
var LEAD_MS = 250;
// heardAt: when the server last answered it at all (the wall's link watch, assets/wall.js: a
// refusal or a lost data store is still a server that answers).
var liveAsk = { busy: false, at: 0, versions: null, timer: null, heardAt: 0 };
function askLiveVersions() {
  var now = Date.now();
  if (liveAsk.busy && now - liveAsk.at < 10000) { return; }
  liveAsk.busy = true;
  liveAsk.at = now;
  fetch("/_live-versions", { credentials: "same-origin", cache: "no-store" })
    .then(function (resp) {
      liveAsk.heardAt = Date.now();
      return resp.ok ? resp.json() : null;
    })
    .catch(function () { return null; })
    .then(function (versions) {
      liveAsk.busy = false;
      liveAsk.versions = versions;
      showDataTimes(versions && versions.times);
    });
}

// A Unix time as the city's wall-clock time (the clock's data-tz), as the server writes it. The
// formatter is made once per time zone: making one costs more than the rest of a tick's script.
var cityFormats = {};
function cityTime(timeZone, date) {
  var key = timeZone || "";
  if (!cityFormats[key]) {
    var options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    try {
      cityFormats[key] = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: timeZone }, options));
    } catch (err) {
      cityFormats[key] = new Intl.DateTimeFormat("en-GB", options);
    }
  }
  return cityFormats[key].format(date);
}

// The strip's data times (layouts/status_strip.py: <time data-domain>, "" for the newest) from the
// answer, each second: the strip's own callback is asked only when what else it shows changed.
// The text node is changed in place: it is React's, and React keeps using it.
function showDataTimes(times) {
  var strip = document.getElementById("data-as-of");
  if (!times || !strip) { return; }
  var clock = document.getElementById("clock");
  var timeZone = (clock && clock.getAttribute("data-tz")) || undefined;
  var newest = null;
  Object.keys(times).forEach(function (domain) {
    if (typeof times[domain] === "number" && (newest === null || times[domain] > newest)) {
      newest = times[domain];
    }
  });
  strip.querySelectorAll("time[data-domain]").forEach(function (el) {
    var domain = el.getAttribute("data-domain");
    var at = domain ? times[domain] : newest;
    var node = el.firstChild;
    if (typeof at !== "number" || !node || node.nodeType !== 3) { return; }
    var text = cityTime(timeZone, new Date(at * 1000));
    if (node.nodeValue !== text) { node.nodeValue = text; }
  });
}
// The page's tick, outside Dash (layouts/components.py: a store, not a dcc.Interval). Each second
// the timer asks for what changed (shortly before the next second, LEAD_MS) and judges every gate
// of the page as the pulses callback would; the tick store is moved, running that callback, only
// when one of them fires, or when the page's gates are not known yet (a new page; every
// PAGE_TICK_REFRESH ticks, in case parts came or went). A tick moved through Dash costs the
// renderer a pass over every component of the page even when nothing fires: on a still wall most
// seconds now cost it nothing.
var PAGE_TICK = "live-tick";
var PAGE_TICK_REFRESH = 60;
var pageTick = { n: 0, fired: 0, gates: null, path: null };  // fired: ticks sent through Dash
// A component of the page as Dash holds it (undefined when absent, or while Dash is still
// loading the page, when its getLayout throws).
function dashComponent(id) {
  var api = window.dash_component_api;
  try {
    return api && api.getLayout ? api.getLayout(id) : undefined;
  } catch (err) {
    return undefined;
  }
}
function gateWouldFire(gate, now) {
  var pulse = dashComponent(gate.pulse);
  var busy = dashComponent(gate.busy);
  if (!pulse || !busy) { return true; }  // gone from the page: let the callback see
  var no = window.dash_clientside.no_update;
  return window.dash_clientside.cityops.pulseOf(
    pageTick.n, busy.props.data, pulse.props.data, now, liveAsk.versions) !== no;
}
function runPageTick() {
  var ns = window.dash_clientside;
  var store = dashComponent(PAGE_TICK);
  if (!store || !ns.set_props) { return 1000; }  // a page without the shell, or Dash not ready
  var every = (store.props.data && store.props.data.every) || 1000;
  if (liveAsk.versions === null) { askLiveVersions(); }
  clearTimeout(liveAsk.timer);
  liveAsk.timer = setTimeout(askLiveVersions, Math.max(every - LEAD_MS, 0));
  pageTick.n += 1;
  var now = Date.now();
  var known = pageTick.gates && pageTick.path === window.location.pathname
    && pageTick.n % PAGE_TICK_REFRESH !== 0;
  if (!known || pageTick.gates.some(function (gate) { return gateWouldFire(gate, now); })) {
    pageTick.fired += 1;
    ns.set_props(PAGE_TICK, { data: { n: pageTick.n, every: every } });
  }
  return every;
}
(function loop() {
  var every = 1000;
  try {
    every = runPageTick();
  } finally {
    setTimeout(loop, every);
  }
})();

window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cityops: {
    theme: function (pathname) {
      return pathname === "/wall" ? "shell theme-wall" : "shell theme-desk";
    },
    // One server callback's view of the page tick (layouts/pulse.py): nothing while its last
    // answer is still on its way (unless that is older than the stale limit) or while the element
    // it draws is not on screen.
    // Every gate of the page in one callback (pattern-matched stores): each fires unless its
    // callback's answer is still on its way or the element it draws is not on screen; a gate that
    // follows parts of what changed (app/web/live_versions.py) fires only when they moved.
    pulses: function (tick, _busyList, lastList) {
      var no = window.dash_clientside.no_update;
      var context = window.dash_clientside.callback_context;
      var busyOf = {};
      (context.states_list[0] || []).forEach(function (entry) {
        busyOf[entry.id.gate] = entry.value;
      });
      lastList = lastList || [];
      var n = tick && typeof tick === "object" ? tick.n : tick;
      var versions = liveAsk.versions;
      if (context.inputs_list[0] && context.inputs_list[0].id === PAGE_TICK) {
        // The page's gates as they are now: the page's timer judges them between its runs.
        pageTick.gates = (context.outputs_list || []).map(function (out, i) {
          return { pulse: out.id, busy: (context.states_list[0] || [])[i].id };
        });
        pageTick.path = window.location.pathname;
      }
      var pulseIds = context.outputs_list || [];
      var now = Date.now();
      var fired = false;
      var out = lastList.map(function (last, i) {
        var gate = pulseIds[i] && pulseIds[i].id.gate;
        var next = window.dash_clientside.cityops.pulseOf(n, busyOf[gate], last, now, versions);
        fired = fired || next !== no;
        return next;
      });
      return fired ? out : no;
    },
    // One gate's next pulse, or no_update. Without ``versions`` (not fetched, or the store is
    // lost) a following gate fires as any other: its callback then says what is wrong.
    pulseOf: function (n, busy, last, now, versions) {
      var no = window.dash_clientside.no_update;
      last = last || {};
      if (busy && now - (last.at || 0) < (last.stale || 10000)) { return no; }
      if (last.watch) {
        var el = document.getElementById(last.watch);
        // Not on screen: outside the layout (display: none) or in a wall view stacked hidden
        // (visibility: hidden keeps its size so its map is ready when shown).
        if (el && (el.getClientRects().length === 0
                   || getComputedStyle(el).visibility !== "visible")) { return no; }
      }
      var key = null;
      var path = window.location.pathname.replace(/\/+$/, "") || "/";
      var follow = (last.follow_on && last.follow_on[path]) || last.follow;
      if (follow && follow.length && versions) {
        // Each gate's safety net falls in its own second of the period (its offset), so the
        // page's followers do not all ask the server in the same tick.
        var every = last.every || 30000;
        key = JSON.stringify(follow.map(function (name) { return versions[name]; }))
          + "|" + Math.floor((now + (last.offset || 0)) / every);
        if (key === last.key) { return no; }
      }
      return Object.assign({}, last, { n: n, at: now, key: key });
    },
  }
});

// The shell's clock in the city's time zone (the element's data-tz), each second. Plain script,
// not a Dash callback: the renderer's work for a callback, on every page's tick, cost more than
// the clock itself.
(function () {
  setInterval(function () {
    var el = document.getElementById("clock");
    if (!el) { return; }
    var text = cityTime(el.getAttribute("data-tz") || undefined, new Date());
    if (el.textContent !== text) { el.textContent = text; }
  }, 1000);
})();
