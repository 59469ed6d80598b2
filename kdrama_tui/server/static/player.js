// kdrama-tui player: hls.js first, native HLS only where hls.js cannot run (Safari on iOS).
// Quality and subtitle menus (one language, or two at once: primary above secondary), seek previews
// from thumbs.vtt, keyboard shortcuts, autoplay (muted only where the browser refuses sound), the
// position and subtitle choice kept by watchstate.js, a view beacon, and comments. User text is only
// ever set with textContent. episode.js adds the series parts (next episode, skip intro).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("player-config").textContent);
  var state = window.kdState;
  var video = document.getElementById("video");
  var player = document.getElementById("player");
  var playButton = document.getElementById("play");
  var seek = document.getElementById("seek");
  var timeLabel = document.getElementById("time");
  var muteButton = document.getElementById("mute");
  var unmuteButton = document.getElementById("unmute");
  var qualityMenu = document.getElementById("quality");
  var subtitleMenu = document.getElementById("subtitles");
  var fullscreenButton = document.getElementById("fullscreen");
  var errorBox = document.getElementById("player-error");
  var dualBox = document.getElementById("dual-subs");
  var hls = null;
  var lastChoice = null;

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
  }
  function showError(text) { errorBox.textContent = text; errorBox.hidden = false; }
  function duration() { return isFinite(video.duration) && video.duration > 0 ? video.duration : (config.duration || 0); }

  // ---- source -------------------------------------------------------------------------------------
  function subtitleTracks() {
    if (hls) return hls.subtitleTracks.map(function (t, i) { return { index: i, lang: t.lang || "", label: t.name || t.lang || "Track " + (i + 1) }; });
    var out = [];
    for (var i = 0; i < video.textTracks.length; i++) {
      var t = video.textTracks[i];
      if (t.kind === "subtitles" || t.kind === "captions") out.push({ index: i, lang: t.language || "", label: t.label || t.language || "Track " + (i + 1) });
    }
    return out;
  }
  // hls.js mirrors the modes of the <video>'s text tracks into its own selection (a track created
  // "disabled" after hls.subtitleTrack was set switches it back off), so the choice is applied to the
  // text tracks themselves, again whenever hls.js adds one. The overlay's own tracks are "metadata".
  var wantedSubtitle = -1;
  var currentValue = "-1";  // the menu's value: "-1" off, a track index, or "d:<primary>:<secondary>"
  function applySubtitle() {
    var tracks = subtitleTracks();
    var chosen = tracks.filter(function (t) { return t.index === wantedSubtitle; })[0];
    for (var i = 0; i < video.textTracks.length; i++) {
      var tt = video.textTracks[i];
      if (tt.kind === "metadata") continue;
      var match = chosen && (hls ? (tt.label === chosen.label && (tt.language || "") === chosen.lang) : i === chosen.index);
      var mode = match ? "showing" : "disabled";
      if (tt.mode !== mode) tt.mode = mode;
    }
    if (hls && hls.subtitleTrack !== wantedSubtitle) hls.subtitleTrack = wantedSubtitle;
    if (hls) hls.subtitleDisplay = wantedSubtitle >= 0;
  }
  function choose(value) {  // show a choice without remembering it
    var parts = String(value).split(":");
    if (parts[0] === "d" && vttOf(parts[1]) && vttOf(parts[2])) { wantedSubtitle = -1; showDual(parts[1], parts[2]); }
    else { value = parts[0] === "d" ? "-1" : String(value); wantedSubtitle = Number(value); showDual(null); }
    currentValue = value;
    applySubtitle();
    subtitleMenu.value = value;
  }
  function setSubtitle(value) {  // the viewer's choice: shown, and carried over to the next episode
    choose(value);
    var parts = currentValue.split(":");
    var chosen = subtitleTracks().filter(function (t) { return String(t.index) === currentValue; })[0];
    if (parts[0] === "d") state.setPrefs(parts[1], parts[2]);
    else if (chosen) state.setPrefs(chosen.lang, null);
    else state.setPrefs("off", null);
    if (currentValue !== "-1") lastChoice = currentValue;
  }
  video.textTracks.addEventListener("addtrack", function () { if (hls) applySubtitle(); });
  function fillSubtitles() {
    var tracks = subtitleTracks();
    subtitleMenu.length = 1;
    tracks.forEach(function (t) { subtitleMenu.add(new Option(t.label, String(t.index))); });
    dualPairs().forEach(function (p) { subtitleMenu.add(new Option(p[0].label + " + " + p[1].label, "d:" + p[0].lang + ":" + p[1].lang)); });
    if (!tracks.length) return;
    if (subtitleMenu.dataset.chosen) { choose(currentValue); return; }  // keep the viewer's choice
    subtitleMenu.dataset.chosen = "1";
    var prefs = state.prefs();
    if (prefs.sub === "off") { choose("-1"); return; }
    if (prefs.sub && prefs.sub2 && vttOf(prefs.sub) && vttOf(prefs.sub2)) { choose("d:" + prefs.sub + ":" + prefs.sub2); return; }
    var browser = (navigator.language || "").slice(0, 2).toLowerCase();
    var pick = tracks.filter(function (t) { return t.lang === prefs.sub; })[0] ||
               tracks.filter(function (t) { return t.lang.slice(0, 2) === browser; })[0] || tracks[0];
    choose(String(pick.index));
    lastChoice = currentValue;
  }

  // ---- two subtitle languages at once: hidden metadata tracks of the WebVTT files, drawn here -----
  var dual = null;
  var dualTracks = {};
  function vttOf(lang) { return (config.subtitles || []).filter(function (s) { return s.lang === lang && s.url; })[0] || null; }
  function dualPairs() {
    var subs = (config.subtitles || []).filter(function (s) { return s.lang && s.url; });
    var pairs = [];
    subs.forEach(function (a) { subs.forEach(function (b) {
      if (a.lang !== b.lang && (subs.length <= 3 || /^(ko|en)$/.test(a.lang) || /^(ko|en)$/.test(b.lang))) {
        pairs.push([{ lang: a.lang, label: a.label || a.lang }, { lang: b.lang, label: b.label || b.lang }]);
      }
    }); });
    return pairs;
  }
  function trackFor(lang) {
    if (dualTracks[lang]) return dualTracks[lang];
    var sub = vttOf(lang);
    if (!sub) return null;
    var element = document.createElement("track");
    element.kind = "metadata";
    element.srclang = lang;
    element.label = "overlay " + lang;
    element.src = sub.url;
    video.appendChild(element);
    element.track.mode = "hidden";
    element.track.addEventListener("cuechange", renderDual);
    dualTracks[lang] = element.track;
    return element.track;
  }
  function cueText(track) {
    if (!track || !track.activeCues) return "";
    return Array.prototype.map.call(track.activeCues, function (cue) { return (cue.text || "").replace(/<[^>]*>/g, ""); }).join("\n");
  }
  function renderDual() {
    if (!dual) return;
    dualBox.querySelector(".primary").textContent = cueText(dualTracks[dual[0]]);
    dualBox.querySelector(".secondary").textContent = cueText(dualTracks[dual[1]]);
  }
  function showDual(primary, secondary) {
    dual = primary ? [primary, secondary] : null;
    Object.keys(dualTracks).forEach(function (lang) {
      if (!dual || dual.indexOf(lang) < 0) dualTracks[lang].mode = "disabled";
    });
    dualBox.hidden = !dual;
    if (!dual) return;
    dual.forEach(function (lang) { trackFor(lang).mode = "hidden"; });
    renderDual();
  }
  function fillQualities() {
    qualityMenu.length = 1;
    hls.levels.forEach(function (level, i) {
      var name = level.height ? level.height + "p" : Math.round(level.bitrate / 1000) + " kb/s";
      qualityMenu.add(new Option(name, String(i)));
    });
  }

  if (window.Hls && window.Hls.isSupported()) {
    hls = new window.Hls({ enableWorker: true, renderTextTracksNatively: true });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () { fillQualities(); fillSubtitles(); });
    hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, fillSubtitles);
    hls.on(window.Hls.Events.ERROR, function (event, data) {
      if (!data.fatal) return;
      if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
      if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR && data.response && (data.response.code === 401 || data.response.code === 403)) {
        showError("This link has expired. Reload the page or ask for a new link.");
      } else {
        showError("Playback failed (" + data.details + ").");
      }
    });
    hls.loadSource(config.hlsUrl);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = config.hlsUrl;
    qualityMenu.parentNode.hidden = true;  // native HLS picks the quality itself
    video.textTracks.addEventListener("addtrack", fillSubtitles);
  } else {
    showError("This browser cannot play HLS video.");
  }
  // Start on arrival. A browser that refuses sound without a click gets the video muted, with an
  // unmute button over the picture (the m key and the 🔊 button work too).
  function autoplay() {
    var attempt = video.play();
    if (!attempt || !attempt.catch) return;
    attempt.catch(function (error) {
      if (!error || error.name !== "NotAllowedError" || video.muted) return;
      video.muted = true;
      unmuteButton.hidden = false;
      video.play().catch(function () {});
    });
  }
  if (hls || video.src) autoplay();
  unmuteButton.addEventListener("click", function () { video.muted = false; video.volume = video.volume || 1; });
  video.addEventListener("volumechange", function () { if (!video.muted) unmuteButton.hidden = true; });
  // for the console, episode.js and the browser tests
  window.kdramaPlayer = { hls: hls, video: video, subtitle: function () { return currentValue; } };
  qualityMenu.addEventListener("change", function () { if (hls) hls.currentLevel = Number(qualityMenu.value); });
  subtitleMenu.addEventListener("change", function () { setSubtitle(subtitleMenu.value); });

  // ---- controls -----------------------------------------------------------------------------------
  function togglePlay() { if (video.paused || video.ended) video.play().catch(function () {}); else video.pause(); }
  function seekBy(delta) { video.currentTime = Math.min(Math.max(0, video.currentTime + delta), duration() || video.currentTime + delta); }
  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (player.requestFullscreen) player.requestFullscreen();
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();
  }
  function toggleMute() { video.muted = !video.muted; }
  function toggleCaptions() { setSubtitle(currentValue !== "-1" ? "-1" : (lastChoice || (subtitleTracks().length ? "0" : "-1"))); }

  playButton.addEventListener("click", togglePlay);
  video.addEventListener("click", togglePlay);
  muteButton.addEventListener("click", toggleMute);
  fullscreenButton.addEventListener("click", toggleFullscreen);
  video.addEventListener("play", function () { playButton.textContent = "❚❚"; });
  video.addEventListener("pause", function () { playButton.textContent = "▶"; });
  video.addEventListener("volumechange", function () { muteButton.textContent = video.muted || video.volume === 0 ? "🔇" : "🔊"; });
  seek.addEventListener("input", function () { video.currentTime = Number(seek.value); });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
        (target.tagName === "INPUT" && target.type !== "range")) return;
    var handled = true;
    switch (event.key) {
      case " ": case "k": togglePlay(); break;
      case "ArrowLeft": seekBy(-5); break;
      case "ArrowRight": seekBy(5); break;
      case "ArrowUp": video.volume = Math.min(1, video.volume + 0.1); video.muted = false; break;
      case "ArrowDown": video.volume = Math.max(0, video.volume - 0.1); break;
      case "f": case "F": toggleFullscreen(); break;
      case "m": case "M": toggleMute(); break;
      case "c": case "C": toggleCaptions(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  // ---- position, time, view beacon ----------------------------------------------------------------
  var lastSaved = 0, lastTime = 0, watched = 0, beaconSent = false;
  function savePosition() {
    if (video.currentTime >= 1) state.record(config.videoId, video.currentTime, duration(), config.seriesId);
  }
  video.addEventListener("loadedmetadata", function () {
    seek.max = String(duration());
    var saved = state.resumeAt(state.progress(config.videoId));
    if (saved > 0 && duration() - saved > 1) video.currentTime = saved;
  });
  video.addEventListener("timeupdate", function () {
    var now = video.currentTime;
    var step = now - lastTime;
    if (!video.paused && step > 0 && step < 2) watched += step;
    lastTime = now;
    seek.value = String(now);
    timeLabel.textContent = clock(now) + " / " + clock(duration());
    if (Math.abs(now - lastSaved) >= 2) { lastSaved = now; savePosition(); }
  });
  video.addEventListener("pause", savePosition);
  video.addEventListener("ended", function () { state.record(config.videoId, duration(), duration(), config.seriesId); });
  function sendBeacon() {
    savePosition();
    if (beaconSent || watched < 1) return;
    beaconSent = true;
    var body = JSON.stringify({ watch_duration: Math.round(watched) });
    if (!(navigator.sendBeacon && navigator.sendBeacon(config.viewsUrl, body))) {
      fetch(config.viewsUrl, { method: "POST", body: body, keepalive: true }).catch(function () {});
    }
  }
  window.addEventListener("pagehide", sendBeacon);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") sendBeacon(); });

  // ---- seek previews (thumbs.vtt + sprite) --------------------------------------------------------
  var previews = [];
  var preview = document.getElementById("preview");
  var previewImage = preview.querySelector(".preview-image");
  var previewTime = preview.querySelector(".preview-time");
  function parseTime(text) {
    var parts = text.trim().split(":").map(Number);
    return parts.reduce(function (total, part) { return total * 60 + part; }, 0);
  }
  if (config.thumbnailsVtt) {
    fetch(config.thumbnailsVtt).then(function (r) { return r.ok ? r.text() : ""; }).then(function (text) {
      text.split(/\r?\n\r?\n/).forEach(function (block) {
        var lines = block.split(/\r?\n/).filter(Boolean);
        var timing = lines.findIndex(function (l) { return l.indexOf("-->") >= 0; });
        if (timing < 0 || !lines[timing + 1]) return;
        var span = lines[timing].split("-->");
        var url = new URL(lines[timing + 1].trim(), new URL(config.thumbnailsVtt, location.href));
        var xywh = /xywh=(\d+),(\d+),(\d+),(\d+)/.exec(url.hash);
        url.hash = "";
        previews.push({ start: parseTime(span[0]), end: parseTime(span[1].trim().split(/\s/)[0]), url: url.href,
                        box: xywh ? xywh.slice(1).map(Number) : null });
      });
    }).catch(function () {});
  }
  seek.addEventListener("mousemove", function (event) {
    var rect = seek.getBoundingClientRect();
    var fraction = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
    var at = fraction * duration();
    var cue = previews.filter(function (p) { return at >= p.start && at < p.end; })[0];
    previewTime.textContent = clock(at);
    if (cue && cue.box) {
      previewImage.style.backgroundImage = "url(\"" + cue.url.replace(/"/g, "%22") + "\")";
      previewImage.style.backgroundPosition = "-" + cue.box[0] + "px -" + cue.box[1] + "px";
      previewImage.style.width = cue.box[2] + "px";
      previewImage.style.height = cue.box[3] + "px";
    }
    preview.style.left = (event.clientX - player.getBoundingClientRect().left) + "px";
    preview.hidden = false;
  });
  seek.addEventListener("mouseleave", function () { preview.hidden = true; });

  // ---- comments -----------------------------------------------------------------------------------
  var form = document.getElementById("comment-form");
  var status = document.getElementById("comment-status");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = document.getElementById("comment-text");
    status.textContent = "Sending…";
    fetch(config.commentsUrl, { method: "POST", headers: { "Content-Type": "application/json" },
                                body: JSON.stringify({ content: text.value }) })
      .then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); })
      .then(function (result) {
        if (result.status === 201) {
          text.value = "";
          if (result.body.is_approved) {
            var item = document.createElement("li");
            var p = document.createElement("p");
            p.textContent = result.body.content;
            item.appendChild(p);
            document.getElementById("comment-list").prepend(item);
            status.textContent = "Posted.";
          } else {
            status.textContent = "Thanks! Your comment will appear once it is approved.";
          }
        } else {
          status.textContent = (result.body.error && result.body.error.message) || "Could not post the comment.";
        }
      })
      .catch(function () { status.textContent = "Could not post the comment."; });
  });
})();
