/* The wall's kiosk logic, all in the browser: rotation between views (pinned to an incident just
   declared or raised a level, and to the city view while a critical alert is unacknowledged) and
   the link watch (dim and say so when the server stops answering, reload
   after a deploy or a long loss). No inline script: the CSP forbids it, Dash loads this file. */
(function () {
  var lastProbe = 0;
  var PROBE_EVERY_MS = 10000;

  function noUpdate() {
    return window.dash_clientside.no_update;
  }

  function clock(ms, timeZone) {
    var options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    try {
      return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: timeZone }, options))
        .format(new Date(ms));
    } catch (err) {
      return new Intl.DateTimeFormat("en-GB", options).format(new Date(ms));
    }
  }

  // Reload only when the server answers: reloading into a dead server leaves the browser's own
  // error page on the wall, which never comes back by itself.
  function reloadWhenUp(now) {
    if (now - lastProbe < PROBE_EVERY_MS) {
      return;
    }
    lastProbe = now;
    fetch("/healthz", { cache: "no-store", credentials: "same-origin" }).then(function (resp) {
      if (resp.ok) {
        window.location.reload();
      }
    }).catch(function () { /* still down: the next tick tries again */ });
  }

  // Each wall map zoomed so the city fills the shorter side of its panel, whatever the screen:
  // the server draws them at one zoom (data-zoom) that fits data-fit-px pixels; a panel twice as
  // large is one zoom level more. Asked again when a panel changes size.
  function fitWallMaps() {
    var views = document.getElementById("wall-views");
    if (!views || !window.Plotly) { return; }
    var zoom = parseFloat(views.getAttribute("data-zoom"));
    var fitPx = parseFloat(views.getAttribute("data-fit-px"));
    // The live maps of the views on screen: a hidden view's map is fitted when it is shown, and
    // the pinned incident's map keeps the zoom of the incident's area. (The legend is a list
    // under the map, layouts/wall_map.py: the map's own area is what is left above it.)
    views.querySelectorAll(".live-map .js-plotly-plot").forEach(function (gd) {
      if (getComputedStyle(gd).visibility !== "visible") { return; }
      if (!gd.layout || !gd.layout.map || !fitPx) { return; }
      // Not while its first style is loading: plotly would redraw its traces into a map that
      // refuses them (and throw). Tried again shortly.
      var sub = gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
      if (!sub || !sub.map || !sub.map.style || !sub.map.style._loaded) {
        fitSoon();
        return;
      }
      var size = gd._fullLayout && gd._fullLayout._size;
      var side = size ? Math.min(size.w, size.h) : Math.min(gd.clientWidth, gd.clientHeight);
      if (!side) { return; }
      var wanted = Math.round((zoom + Math.log2(side / fitPx)) * 100) / 100;
      if (Math.abs((gd.layout.map.zoom || 0) - wanted) > 0.05) {
        window.Plotly.relayout(gd, { "map.zoom": wanted })
          .catch(function () { /* the map was redrawn meanwhile: its afterplot fits it again */ });
      }
    });
  }
  var fitting = null;
  function fitSoon() {
    window.clearTimeout(fitting);
    fitting = window.setTimeout(fitWallMaps, 300);
  }
  window.addEventListener("resize", fitSoon);
  // Maps are drawn after the page: fit each once it has drawn (and after each redraw, which
  // costs nothing when the zoom is right).
  new MutationObserver(function () {
    document.querySelectorAll("#wall-views .live-map .js-plotly-plot:not([data-fit])").forEach(function (gd) {
      gd.setAttribute("data-fit", "1");
      if (gd.on) { gd.on("plotly_afterplot", fitSoon); }
    });
  }).observe(document.documentElement, { childList: true, subtree: true });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityops_wall: {
      rotate: function (_tick, sound, pin, config, state) {
        config = config || { seconds: 0, views: ["all"], titles: {} };
        var titles = config.titles || {};
        var views = config.views && config.views.length ? config.views : ["all"];
        var now = Date.now();
        var next = Object.assign({ start: now, pinned: false, view: null }, state || {});
        var unacked = (sound && sound.unacked) || [];
        var critical = unacked.some(function (a) { return a[1] === "critical"; });
        var view;
        var label;
        // An incident just declared or raised a level holds the rotation on its own view until
        // its pin runs out (the server says which and until when, see layouts/wall.py).
        var incident = config.seconds > 0 && pin && pin.id && pin.until > now ? pin : null;
        if (incident) {
          next.pinned = true;
          view = "incident";
          label = (titles.pinned_incident || "Incident") + " · " + (incident.label || "");
        } else if (config.seconds > 0 && critical) {
          next.pinned = true;
          view = "all";
          label = (titles.all || "City") + " · " +
            (titles.pinned_alert || "pinned: unacknowledged critical alert");
        } else {
          if (next.pinned) {  // acknowledged: resume from the first view, with its full period
            next.pinned = false;
            next.view = null;
          }
          var period = config.seconds > 0 ? config.seconds * 1000 : 0;
          // One view after another: a late tick (a busy browser) shows the next view late, never
          // skips one, as a view computed from the clock alone would.
          var index = views.indexOf(next.view);
          if (index < 0) {
            index = 0;
            next.start = now;
          } else if (period && now - next.start >= period) {
            index = (index + 1) % views.length;
            next.start = now;
          }
          view = period ? views[index] : views[0];
          label = titles[view] || view;
        }
        var className = "wall-views show-" + view + (next.pinned ? " pinned" : "");
        // A view coming on screen has its map fitted now, not only after its catch-up draw.
        if (!state || state.view !== view) { fitSoon(); }
        if (state && state.view === view && state.pinned === next.pinned &&
            state.label === label) {
          return [noUpdate(), noUpdate(), noUpdate()];
        }
        next.view = view;
        next.label = label;
        return [className, label, next];
      }
    }
  });

  // The link watch, each second outside Dash (a callback on every tick cost the renderer a pass
  // over the whole wall): the link is judged by the age of the server's last answer to the page's
  // question of what changed, on the watch's own timer, so a server that stops answering
  // (requests hanging, not refused) is shown as lost within lost_after, like one that refuses. The wall's class and note are set only when the
  // link's state changes. Its words and the app's version come from the wall-link store.
  var linkState = null;
  function watchLink() {
    var ns = window.dash_clientside;
    var stored = dashComponent("wall-link");  // assets/cityops.js
    if (!stored || !ns || !ns.set_props) {
      linkState = null;  // not the wall (or not yet)
      return;
    }
    var now = Date.now();
    var config = stored.props.data || {};
    // The page's answer of what changed each second is the heartbeat (assets/cityops.js).
    var heardAt = liveAsk.heardAt;
    var answer = liveAsk.versions;
    if (answer && answer.app && config.version && answer.app !== config.version) {
      window.location.reload();  // a new version is deployed: load it
      return;
    }
    var next = Object.assign({ lost_after: 15000, reload_after: 120000 }, config, linkState || {});
    if (!next.opened) {
      next.opened = now;
    }
    var last = Math.max(heardAt || 0, next.opened);
    if (next.lost_since && heardAt > next.lost_since) {
      if (heardAt - next.lost_since > next.reload_after) {
        window.location.reload();  // back after a long loss: start from fresh data
        return;
      }
      next.lost_since = null;
    }
    if (now - last > next.lost_after) {
      next.lost_since = next.lost_since || last;
    }
    if (next.lost_since && now - next.lost_since > next.reload_after) {
      reloadWhenUp(now);
    }
    var before = linkState;
    linkState = { opened: next.opened, lost_since: next.lost_since || null };
    // The page opens with the link up (layouts/wall.py): nothing to set until that changes.
    if ((before ? before.lost_since || null : null) === linkState.lost_since) {
      return;
    }
    var lost = Boolean(linkState.lost_since);
    var zone = dashComponent("city-timezone");
    var template = next.text || "No answer from the server since {time}";
    ns.set_props("wall", { className: lost ? "wall offline" : "wall" });
    ns.set_props("wall-link-note", {
      children: lost ? template.replace("{time}", clock(linkState.lost_since, zone && zone.props.data)) : "",
      hidden: !lost });
  }
  setInterval(watchLink, 1000);
})();
