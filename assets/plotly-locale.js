/* Plotly's Chinese (zh-CN) date words, so that the charts' axes and hovers follow the page's
   language (layouts/components.py graph_config sets each graph's locale). Served from assets/
   with the page: nothing is fetched from elsewhere. Month and day names are written out here;
   dates read the Chinese way ("12月7日", "2026年12月"), times on the 24-hour clock. */
(function () {
  var months = [];
  for (var m = 1; m <= 12; m += 1) { months.push(m + "月"); }
  var locale = {
    moduleType: "locale",
    name: "zh-CN",
    dictionary: {},
    format: {
      days: ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
      shortDays: ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
      months: months,
      shortMonths: months,
      periods: ["上午", "下午"],
      dateTime: "%Y年%-m月%-d日 %H:%M:%S",
      date: "%Y-%m-%d",
      time: "%H:%M:%S",
      decimal: ".",
      thousands: ",",
      grouping: [3],
      currency: ["¥", ""],
      year: "%Y年",
      month: "%Y年%-m月",
      dayMonth: "%-m月%-d日",
      dayMonthYear: "%Y年%-m月%-d日"
    }
  };
  // plotly.js may load before or after this script: before, register now; after, it takes the
  // locales waiting in window.PlotlyLocales when it starts.
  if (window.Plotly && typeof window.Plotly.register === "function") {
    window.Plotly.register(locale);
  } else {
    window.PlotlyLocales = window.PlotlyLocales || [];
    window.PlotlyLocales.push(locale);
  }
})();
