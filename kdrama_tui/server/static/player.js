// kdrama-tui player: hls.js first, native HLS only where hls.js cannot run (Safari on iOS).
// Quality and subtitle menus, seek previews from thumbs.vtt, keyboard shortcuts, remembered position,
// a view beacon, and comments. User text is only ever set with textContent.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("player-config").textContent);
  var video = document.getElementById("video");
  var player = document.getElementById("player");
  var playButton = document.getElementById("play");
  var seek = document.getElementById("seek");
  var timeLabel = document.getElementById("time");
  var muteButton = document.getElementById("mute");
  var qualityMenu = document.getElementById("quality");
  var subtitleMenu = document.getElementById("subtitles");
  var fullscreenButton = document.getElementById("fullscreen");
  var errorBox = document.getElementById("player-error");
  var positionKey = "kd.position." + config.videoId;
  var subtitleKey = "kd.subtitleLang";
  var hls = null;
  var lastSubtitle = 0;

  function store(key, value) { try { if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function load(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
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
  function currentSubtitle() {
    if (hls) return wantedSubtitle;
    for (var i = 0; i < video.textTracks.length; i++) if (video.textTracks[i].mode === "showing") return i;
    return -1;
  }
  // hls.js mirrors the modes of the <video>'s text tracks into its own selection (a track created
  // "disabled" after hls.subtitleTrack was set switches it back off), so the choice is applied to the
  // text tracks themselves, again whenever hls.js adds one.
  var wantedSubtitle = -1;
  function applySubtitle() {
    var tracks = subtitleTracks();
    var chosen = tracks.filter(function (t) { return t.index === wantedSubtitle; })[0];
    for (var i = 0; i < video.textTracks.length; i++) {
      var tt = video.textTracks[i];
      var match = chosen && (hls ? (tt.label === chosen.label && (tt.language || "") === chosen.lang) : i === chosen.index);
      var mode = match ? "showing" : "disabled";
      if (tt.mode !== mode) tt.mode = mode;
    }
    if (hls && hls.subtitleTrack !== wantedSubtitle) hls.subtitleTrack = wantedSubtitle;
    if (hls) hls.subtitleDisplay = wantedSubtitle >= 0;
  }
  function setSubtitle(index) {
    wantedSubtitle = index;
    applySubtitle();
    subtitleMenu.value = String(index);
    var chosen = subtitleTracks().filter(function (t) { return t.index === index; })[0];
    if (chosen) { lastSubtitle = index; store(subtitleKey, chosen.lang); } else { store(subtitleKey, "off"); }
  }
  video.textTracks.addEventListener("addtrack", function () { if (hls) applySubtitle(); });
  function fillSubtitles() {
    var tracks = subtitleTracks();
    subtitleMenu.length = 1;
    tracks.forEach(function (t) { subtitleMenu.add(new Option(t.label, String(t.index))); });
    if (!tracks.length) return;
    if (subtitleMenu.dataset.chosen) { setSubtitle(wantedSubtitle); return; }  // keep the viewer's choice
    subtitleMenu.dataset.chosen = "1";
    var wanted = load(subtitleKey);
    if (wanted === "off") { setSubtitle(-1); return; }
    var browser = (navigator.language || "").slice(0, 2).toLowerCase();
    var pick = tracks.filter(function (t) { return t.lang === wanted; })[0] ||
               tracks.filter(function (t) { return t.lang.slice(0, 2) === browser; })[0] || tracks[0];
    setSubtitle(pick.index);
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
  window.kdramaPlayer = { hls: hls, video: video };  // for the console and the browser tests
  qualityMenu.addEventListener("change", function () { if (hls) hls.currentLevel = Number(qualityMenu.value); });
  subtitleMenu.addEventListener("change", function () { setSubtitle(Number(subtitleMenu.value)); });

  // ---- controls -----------------------------------------------------------------------------------
  function togglePlay() { if (video.paused || video.ended) video.play().catch(function () {}); else video.pause(); }
  function seekBy(delta) { video.currentTime = Math.min(Math.max(0, video.currentTime + delta), duration() || video.currentTime + delta); }
  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (player.requestFullscreen) player.requestFullscreen();
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();
  }
  function toggleMute() { video.muted = !video.muted; }
  function toggleCaptions() { setSubtitle(currentSubtitle() >= 0 ? -1 : (subtitleTracks().length ? lastSubtitle : -1)); }

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
    var d = duration();
    if (video.currentTime >= 1 && (!d || d - video.currentTime > 1)) store(positionKey, video.currentTime.toFixed(1));
  }
  video.addEventListener("loadedmetadata", function () {
    seek.max = String(duration());
    var saved = Number(load(positionKey) || 0);
    if (saved >= 1 && duration() - saved > 1) video.currentTime = saved;
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
  video.addEventListener("ended", function () { store(positionKey, null); });
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
