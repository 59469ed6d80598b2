// The series page's marks from this browser: ✓ on episodes watched past 90%, a bar on started ones,
// and the button to the next episode (next-up rule in watchstate.js).
(function () {
  "use strict";
  var state = window.kdState;
  var series = JSON.parse(document.getElementById("series-data").textContent);
  var saved = state.load();
  Array.prototype.forEach.call(document.querySelectorAll(".episode"), function (item) {
    var rec = saved.e[item.dataset.videoId];
    if (!rec) return;
    var done = state.watched(rec);
    item.classList.toggle("is-watched", done);
    item.querySelector(".watched").hidden = !done;
    if (!done && rec.d > 0 && rec.p >= 1) {
      var bar = item.querySelector(".progress");
      bar.style.width = Math.min(100, Math.round(100 * rec.p / rec.d)) + "%";
      bar.hidden = false;
    }
  });
  var button = document.getElementById("series-next");
  var up = state.nextUp(series, saved);
  var started = Object.keys(saved.e).some(function (id) { return saved.e[id].s === series.id; });
  var first = state.mainOrder(series)[0];
  var target = up ? up.episode : (started ? null : first);
  if (!target) return;
  var number = target.season > 0 ? "E" + target.episode : "Special";
  button.textContent = (up && up.resume > 0 ? "▶ Resume · 이어보기 " : started ? "▶ Next · 다음 화 " : "▶ Play · 재생 ") + number;
  button.href = target.watch_url;
  button.hidden = false;
})();
