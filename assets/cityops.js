/* Clientside callbacks: the page theme and the clock run in the browser, costing the server nothing. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cityops: {
    theme: function (pathname) {
      return pathname === "/wall" ? "shell theme-wall" : "shell theme-desk";
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
