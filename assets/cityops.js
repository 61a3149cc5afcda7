/* Clientside callbacks: the page theme and the clock run in the browser, costing the server nothing. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cityops: {
    theme: function (pathname) {
      return pathname === "/wall" ? "shell theme-wall" : "shell theme-desk";
    },
    // One server callback's view of the page tick (layouts/pulse.py): nothing while its last
    // answer is still on its way (unless that is older than the stale limit) or while the element
    // it draws is not on screen.
    pulse: function (n, busy, last) {
      var no = window.dash_clientside.no_update;
      var now = Date.now();
      last = last || {};
      if (busy && now - (last.at || 0) < (last.stale || 10000)) { return no; }
      if (last.watch) {
        var el = document.getElementById(last.watch);
        // Not on screen: outside the layout (display: none) or in a wall view stacked hidden
        // (visibility: hidden keeps its size so its map is ready when shown).
        if (el && (el.getClientRects().length === 0
                   || getComputedStyle(el).visibility !== "visible")) { return no; }
      }
      return { n: n, at: now, stale: last.stale, watch: last.watch };
    },
    clock: function (_tick, timeZone) {
      var options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
      try {
        return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: timeZone }, options))
          .format(new Date());
      } catch (err) {
        return new Intl.DateTimeFormat("en-GB", options).format(new Date());
      }
    }
  }
});
