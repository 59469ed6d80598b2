// The series parts of the watch page: "skip intro" / "skip recap" inside those segments, and the next
// episode with a countdown that starts at the outro (or a few seconds before the end where none is
// set), can be cancelled, and never runs after the last episode. Which episode is next: watchstate.js.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("player-config").textContent);
  var video = document.getElementById("video");
  var skipButton = document.getElementById("skip");
  var panel = document.getElementById("next-up");
  var count = document.getElementById("next-count");
  var LEAD = 10;        // seconds before the end where no outro is set
  var COUNTDOWN = 10;   // seconds of playing shown before the next episode starts
  var SKIPS = { intro: "Skip intro · 오프닝 건너뛰기", recap: "Skip recap · 요약 건너뛰기" };
  var segments = (config.segments || []).filter(function (s) { return s && s.end > s.start; });

  function duration() { return isFinite(video.duration) && video.duration > 0 ? video.duration : (config.duration || 0); }

  // ---- skip intro / recap -------------------------------------------------------------------------
  var skipTo = null;
  function updateSkip() {
    var now = video.currentTime;
    var inside = segments.filter(function (s) { return SKIPS[s.type] && now >= s.start && now < s.end - 0.5; })[0];
    skipTo = inside ? inside.end : null;
    if (inside) skipButton.textContent = SKIPS[inside.type];
    skipButton.hidden = !inside;
  }
  skipButton.addEventListener("click", function () {
    if (skipTo !== null) video.currentTime = Math.min(skipTo, duration() || skipTo);
    skipButton.hidden = true;
  });
  video.addEventListener("timeupdate", updateSkip);
  video.addEventListener("seeked", updateSkip);
  var nextKey = null;  // set below for an episode with one after it
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey || target.isContentEditable || target.tagName === "TEXTAREA" ||
        target.tagName === "SELECT" || (target.tagName === "INPUT" && target.type !== "range")) return;
    if ((event.key === "s" || event.key === "S") && !skipButton.hidden) { skipButton.click(); event.preventDefault(); }
    if ((event.key === "n" || event.key === "N") && nextKey) { nextKey(); event.preventDefault(); }
  });

  // ---- next episode -------------------------------------------------------------------------------
  if (!config.seriesId || !config.series) return;
  var series = config.series, next = null, left = 0, timer = null, cancelled = false;

  function startsAt() {
    var outro = segments.filter(function (s) { return s.type === "outro"; })[0];
    var d = duration();
    // An outro in the first half is bad data (a season's segments applied to a shorter episode):
    // trusting it would cut the episode short, so the end-of-episode rule applies instead.
    if (outro && outro.start < d && outro.start >= d / 2) return outro.start;
    return Math.max(d - LEAD, d / 2);
  }
  function go() {
    stop();
    if (next) location.href = next.watch_url;
  }
  function stop() { if (timer) clearInterval(timer); timer = null; panel.hidden = true; }
  function label(ep) {
    var number = ep.season > 0 ? "E" + ep.episode + (ep.episode_end ? "-" + ep.episode_end : "") : "Special · 스페셜";
    return (ep.season > 1 ? "S" + ep.season + " " : "") + number + (ep.episode_title ? " · " + ep.episode_title : "");
  }
  function begin() {
    next = window.kdState.nextAfter(series, config.videoId);
    if (!next) { cancelled = true; return; }  // the last episode: nothing follows
    left = COUNTDOWN;
    count.textContent = left + " s";
    document.getElementById("next-title").textContent = label(next);
    document.getElementById("next-play").href = next.watch_url;
    panel.hidden = false;
    timer = setInterval(function () {
      if (video.paused) return;
      left -= 1;
      count.textContent = left + " s";
      if (left <= 0) go();
    }, 1000);
  }
  var following = window.kdState.nextAfter(series, config.videoId);
  var nextLink = document.getElementById("next-link");
  if (following && nextLink) {
    nextLink.textContent = "Next episode · 다음 화: " + label(following) + " →";
    nextLink.href = following.watch_url;
    nextLink.hidden = false;
    nextKey = function () { next = following; go(); };
  }
  video.addEventListener("timeupdate", function () {
    if (!series || !duration()) return;
    var at = startsAt();
    if (video.currentTime < at - 1) { cancelled = false; if (timer) stop(); return; }  // went back: re-arm
    if (video.currentTime >= at && !timer && !cancelled) begin();
  });
  video.addEventListener("ended", function () {
    if (!series || cancelled) return;
    if (!next) next = window.kdState.nextAfter(series, config.videoId);
    go();
  });
  document.getElementById("next-cancel").addEventListener("click", function () { cancelled = true; stop(); });
  document.getElementById("next-play").addEventListener("click", function (event) { event.preventDefault(); go(); });
})();
