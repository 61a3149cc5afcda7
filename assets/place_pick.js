/* The declare form's map (layouts/incident_declare.py): a click or tap on it sets the incident's
   place. Plotly reports clicks on markers only, so the point under the pointer is read from the
   map itself (maplibre's own click event, which a drag does not fire) and handed to the page's
   store "declare-map-click"; the server names the place and redraws the map. */
(function () {
  "use strict";
  var HOLDER = "declare-map";
  var STORE = "declare-map-click";

  function mapOf(holder) {
    var plot = holder.querySelector(".js-plotly-plot");
    var layout = plot && plot._fullLayout;
    var subplot = layout && layout.map && layout.map._subplot;
    return subplot && subplot.map;
  }

  function listen(map) {
    if (map.__cityopsPick) { return; }
    map.__cityopsPick = true;
    map.on("click", function (event) {
      var clientside = window.dash_clientside;
      if (!clientside || !clientside.set_props) { return; }
      clientside.set_props(STORE, {
        data: { lat: event.lngLat.lat, lon: event.lngLat.lng, at: Date.now() }
      });
    });
  }

  // The map is made (and remade) by plotly after the page draws: it is looked up when a pointer
  // first goes down on it, before maplibre decides whether the gesture is a click.
  document.addEventListener("pointerdown", function (event) {
    var holder = event.target && event.target.closest && event.target.closest("#" + HOLDER);
    var map = holder && mapOf(holder);
    if (map) { listen(map); }
  }, true);
})();
