// kdrama-tui viewer state, kept in this browser only (no account): positions per episode, subtitle
// preferences, series removed from "Continue watching", the next-up rule, and export/import codes.
//
// State (localStorage "kd.state"): {v: 1,
//   e: {"<video id>": {p: position s, d: duration s, t: last played (ms epoch), f: 1 once past 90%, s: series id}},
//   h: {"<series id>": time removed from Continue watching (ms); it comes back when played after that},
//   o: {sub: "ko"|"en"|"off", sub2: "en"|null (dual: shown under sub), t: time chosen (ms)}}
(function () {
  "use strict";
  var KEY = "kd.state";
  var WATCHED = 0.9;  // past 90% an episode counts as watched
  var migrated = false;

  function empty() { return { v: 1, e: {}, h: {}, o: { sub: null, sub2: null, t: 0 } }; }
  function clean(raw) {
    var state = empty();
    if (!raw || typeof raw !== "object") return state;
    Object.keys(raw.e || {}).forEach(function (id) {
      var r = raw.e[id];
      if (!/^\d{1,18}$/.test(id) || !r || typeof r !== "object") return;
      var rec = { p: Math.max(0, Number(r.p) || 0), d: Math.max(0, Number(r.d) || 0), t: Math.max(0, Number(r.t) || 0) };
      if (r.f) rec.f = 1;
      if (r.s !== undefined && r.s !== null && /^\d{1,18}$/.test(String(r.s))) rec.s = Number(r.s);
      state.e[id] = rec;
    });
    Object.keys(raw.h || {}).forEach(function (id) { if (/^\d{1,18}$/.test(id)) state.h[id] = Math.max(0, Number(raw.h[id]) || 0); });
    var o = raw.o || {};
    var lang = function (x) { return typeof x === "string" && /^[A-Za-z0-9-]{1,16}$/.test(x) ? x : null; };
    state.o = { sub: lang(o.sub), sub2: lang(o.sub2), t: Math.max(0, Number(o.t) || 0) };
    return state;
  }
  function read(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function load() {
    var state;
    try { state = clean(JSON.parse(read(KEY) || "null")); } catch (e) { state = empty(); }
    // The player before series kept one key per video and the subtitle language apart: take them over once.
    if (migrated) return state;
    migrated = true;
    try {
      var legacy = [];
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (/^kd\.position\.\d{1,18}$/.test(k) || k === "kd.subtitleLang") legacy.push(k);
      }
      legacy.forEach(function (k) {
        var value = localStorage.getItem(k);
        if (k === "kd.subtitleLang") { if (!state.o.sub && value) state.o.sub = value.slice(0, 16); }
        else { var id = k.slice(12); if (!state.e[id]) state.e[id] = { p: Number(value) || 0, d: 0, t: 0 }; }
        localStorage.removeItem(k);
      });
      if (legacy.length) save(state);
    } catch (e) { /* storage disabled */ }
    return state;
  }
  function save(state) { try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode, full */ } }
  function update(fn) { var state = load(); var out = fn(state); save(state); return out; }

  function watched(rec) { return !!rec && (!!rec.f || (rec.d > 0 && rec.p >= rec.d * WATCHED)); }
  function resumeAt(rec) {
    if (!rec || rec.p < 1) return 0;
    if (rec.d > 0 && (rec.p >= rec.d * WATCHED || rec.d - rec.p <= 1)) return 0;  // finished: start over
    return rec.p;
  }
  function record(videoId, position, duration, seriesId) {
    return update(function (state) {
      var rec = state.e[videoId] || { p: 0, d: 0, t: 0 };
      rec.p = Math.round(Math.max(0, position) * 10) / 10;
      if (duration > 0) rec.d = Math.round(duration * 10) / 10;
      rec.t = Date.now();
      if (seriesId) rec.s = Number(seriesId);
      if (watched(rec)) rec.f = 1;
      state.e[videoId] = rec;
      return rec;
    });
  }
  function progress(videoId) { return load().e[videoId] || null; }
  function prefs() { return load().o; }
  function setPrefs(sub, sub2) { update(function (state) { state.o = { sub: sub, sub2: sub2 || null, t: Date.now() }; }); }

  // ---- series -------------------------------------------------------------------------------------
  function episodesOf(series) {
    var all = [];
    (series.seasons || []).forEach(function (season) { (season.episodes || []).forEach(function (ep) { all.push(ep); }); });
    return all;
  }
  function mainOrder(series) {
    return episodesOf(series).filter(function (ep) { return ep.season > 0; }).sort(function (a, b) {
      return a.season - b.season || a.episode - b.episode;
    });
  }
  // Next up: after the highest main episode watched past 90%, the first unwatched main episode; the
  // episode played last resumes while it is unfinished (also a special); specials never change the order.
  function nextUp(series, state) {
    state = state || load();
    var all = episodesOf(series);
    var recs = all.map(function (ep) { return state.e[ep.video_id] || null; });
    var last = -1;
    recs.forEach(function (r, i) { if (r && r.t && (last < 0 || r.t > recs[last].t)) last = i; });
    if (last >= 0 && !watched(recs[last]) && resumeAt(recs[last]) > 0) {
      return { episode: all[last], resume: resumeAt(recs[last]) };
    }
    var order = mainOrder(series);
    var highest = -1;
    order.forEach(function (ep, i) { if (watched(state.e[ep.video_id])) highest = i; });
    for (var i = highest + 1; i < order.length; i++) {
      var rec = state.e[order[i].video_id];
      if (!watched(rec)) return { episode: order[i], resume: resumeAt(rec) };
    }
    return null;
  }
  // The episode that follows the one playing: the next in the main order; after a special, next up.
  function nextAfter(series, videoId, state) {
    var order = mainOrder(series);
    var at = order.findIndex(function (ep) { return ep.video_id === videoId; });
    if (at >= 0) return order[at + 1] || null;
    var up = nextUp(series, state);
    return up && up.episode.video_id !== videoId ? up.episode : null;
  }
  // Series played in this browser, the most recent first, without those removed since.
  function startedSeries(state) {
    state = state || load();
    var latest = {};
    Object.keys(state.e).forEach(function (id) {
      var r = state.e[id];
      if (r.s && r.t > (latest[r.s] || 0)) latest[r.s] = r.t;
    });
    return Object.keys(latest).filter(function (sid) { return latest[sid] > (state.h[sid] || 0); })
      .sort(function (a, b) { return latest[b] - latest[a]; }).map(Number);
  }
  function removeSeries(seriesId) { update(function (state) { state.h[seriesId] = Date.now(); }); }

  // ---- export / import ----------------------------------------------------------------------------
  // Newer wins per episode, per removed series and for the preferences, so importing in either
  // direction (or twice) gives the same state.
  function merge(a, b) {
    var out = clean(a);
    var other = clean(b);
    Object.keys(other.e).forEach(function (id) {
      var mine = out.e[id], theirs = other.e[id];
      var keep = !mine || theirs.t > mine.t ? theirs : mine;
      if ((mine && mine.f) || theirs.f) keep.f = 1;
      out.e[id] = keep;
    });
    Object.keys(other.h).forEach(function (id) { out.h[id] = Math.max(out.h[id] || 0, other.h[id]); });
    if (other.o.t > out.o.t) out.o = other.o;
    return out;
  }
  function toBase64(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromBase64(text) {
    var raw = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  function pipe(bytes, stream) {
    return new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer()
      .then(function (buffer) { return new Uint8Array(buffer); });
  }
  // The code carries {v: 2, e: {id: [position, duration, seconds since 1970, finished, series]}, h, o}:
  // whole seconds, which compress far better than the stored milliseconds.
  function compact(state) {
    var e = {}, h = {};
    Object.keys(state.e).forEach(function (id) {
      var r = state.e[id];
      e[id] = [Math.round(r.p), Math.round(r.d), Math.floor(r.t / 1000), r.f ? 1 : 0, r.s || 0];
    });
    Object.keys(state.h).forEach(function (id) { h[id] = Math.floor(state.h[id] / 1000); });
    return { v: 2, e: e, h: h, o: [state.o.sub, state.o.sub2, Math.floor(state.o.t / 1000)] };
  }
  function expand(code) {
    if (!code || code.v !== 2 || typeof code.e !== "object" || !code.e) throw new Error("not a progress code");
    var state = { v: 1, e: {}, h: {}, o: {} };
    Object.keys(code.e).forEach(function (id) {
      var r = code.e[id];
      if (!Array.isArray(r)) return;
      state.e[id] = { p: r[0], d: r[1], t: r[2] * 1000, f: r[3] ? 1 : 0, s: r[4] || null };
    });
    Object.keys(code.h || {}).forEach(function (id) { state.h[id] = code.h[id] * 1000; });
    var o = Array.isArray(code.o) ? code.o : [];
    state.o = { sub: o[0], sub2: o[1], t: (o[2] || 0) * 1000 };
    return clean(state);
  }
  // "KDz" + deflated JSON where the browser can compress, else "KD1" + the JSON itself; base64url.
  function exportCode() {
    var json = new TextEncoder().encode(JSON.stringify(compact(load())));
    if (typeof CompressionStream === "function") {
      return pipe(json, new CompressionStream("deflate-raw")).then(function (z) { return "KDz" + toBase64(z); });
    }
    return Promise.resolve("KD1" + toBase64(json));
  }
  function decode(code) {
    code = String(code || "").replace(/\s+/g, "");
    var kind = code.slice(0, 3), body = code.slice(3);
    return Promise.resolve().then(function () {
      if (kind === "KD1") return fromBase64(body);
      if (kind === "KDz" && typeof DecompressionStream === "function") return pipe(fromBase64(body), new DecompressionStream("deflate-raw"));
      throw new Error("not a progress code");
    }).then(function (bytes) { return JSON.parse(new TextDecoder().decode(bytes)); });
  }
  // Merge a code into this browser's state; resolves to the number of episodes it carried.
  function importCode(code) {
    return decode(code).then(function (theirs) {
      theirs = expand(theirs);
      save(merge(load(), theirs));
      return Object.keys(theirs.e).length;
    });
  }

  window.kdState = {
    load: load, save: save, record: record, progress: progress, watched: watched, resumeAt: resumeAt,
    prefs: prefs, setPrefs: setPrefs, nextUp: nextUp, nextAfter: nextAfter, mainOrder: mainOrder,
    startedSeries: startedSeries, removeSeries: removeSeries, merge: merge, exportCode: exportCode,
    importCode: importCode
  };
})();
