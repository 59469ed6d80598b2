// The catalog page's browser-side parts: "Continue watching" (series started in this browser, each with
// its next or unfinished episode, each removable) and moving progress to another browser by a code.
(function () {
  "use strict";
  var state = window.kdState;
  var MAX = 12;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }
  function episodeLabel(ep) {
    var number = ep.season > 0 ? (ep.season > 1 ? "S" + ep.season + " " : "") + "E" + ep.episode : "Special · 스페셜";
    return number + (ep.episode_title ? " · " + ep.episode_title : "");
  }
  function card(series, up) {
    var ep = up.episode;
    var item = element("li", "card continue-card");
    item.dataset.seriesId = String(series.id);
    var link = element("a");
    link.href = ep.watch_url;
    var poster = element("div", "poster");
    var image = ep.thumbnail_url || series.poster_url;
    if (image) { var img = element("img"); img.src = image; img.alt = ""; poster.appendChild(img); }
    var rec = state.progress(ep.video_id);
    if (up.resume > 0 && rec && rec.d > 0) {
      var bar = element("span", "progress");
      bar.style.width = Math.min(100, Math.round(100 * up.resume / rec.d)) + "%";
      poster.appendChild(bar);
    }
    link.appendChild(poster);
    link.appendChild(element("h3", "title", series.title));
    link.appendChild(element("p", "meta", (up.resume > 0 ? "Resume · 이어서 " : "Next · 다음 ") + episodeLabel(ep)));
    item.appendChild(link);
    var remove = element("button", "remove", "✕");
    remove.type = "button";
    remove.title = "Remove from Continue watching · 목록에서 삭제";
    remove.setAttribute("aria-label", remove.title);
    remove.addEventListener("click", function () {
      state.removeSeries(series.id);
      item.remove();
      if (!document.querySelector("#continue-list li")) document.getElementById("continue").hidden = true;
    });
    item.appendChild(remove);
    return item;
  }
  function showContinue() {
    var section = document.getElementById("continue");
    if (!section) return;
    var list = document.getElementById("continue-list");
    var ids = state.startedSeries().slice(0, MAX);
    Promise.all(ids.map(function (id) {
      return fetch("/api/series/" + id).then(function (r) { return r.ok ? r.json() : null; }).catch(function () { return null; });
    })).then(function (all) {
      list.textContent = "";
      all.forEach(function (series) {
        var up = series && state.nextUp(series);
        if (up) list.appendChild(card(series, up));
      });
      section.hidden = !list.children.length;
      section.dataset.ready = "1";
    });
  }
  showContinue();

  // ---- export / import ----------------------------------------------------------------------------
  var exportButton = document.getElementById("export");
  if (!exportButton) return;
  var status = document.getElementById("import-status");
  var fileLink = document.getElementById("export-file");
  exportButton.addEventListener("click", function () {
    state.exportCode().then(function (code) {
      var box = document.getElementById("export-code");
      box.value = code;
      box.select();
      if (fileLink.href.indexOf("blob:") === 0) URL.revokeObjectURL(fileLink.href);
      fileLink.href = URL.createObjectURL(new Blob([code + "\n"], { type: "text/plain" }));
      fileLink.hidden = false;
    });
  });
  function importFrom(code) {
    return state.importCode(code).then(function (count) {
      status.textContent = "Merged " + count + " episode" + (count === 1 ? "" : "s") + " · " + count + "화 가져옴";
      showContinue();
    }).catch(function () { status.textContent = "That is not a progress code · 올바른 코드가 아닙니다"; });
  }
  document.getElementById("import").addEventListener("click", function () {
    var box = document.getElementById("import-code");
    importFrom(box.value).then(function () { if (status.textContent.indexOf("Merged") === 0) box.value = ""; });
  });
  document.getElementById("import-file").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) return;
    if (file.size > 1048576) { status.textContent = "That is not a progress code · 올바른 코드가 아닙니다"; return; }
    file.text().then(importFrom);
    event.target.value = "";
  });
})();
