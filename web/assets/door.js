// The door page: camera frames to POST /v1/frames, the state from GET /v1/events, the PIN keypad.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var D = window.doorface, t = D.t;
  var $ = function (id) { return document.getElementById(id); };
  var IDLE_MS = 1000, ACTIVE_MS = 100; // frame rates: 1 fps idle, about 10 fps while recognizing
  var HOLD_MS = 4000; // how long a denial stays on screen

  if (!D.csrf) { pairing(); return; }

  var link = 'connecting', state = 'Idle', session = null, quality = '', decision = null;
  var holdUntil = 0, pauseUntil = 0, pinMsg = '', lockedUntil = 0, inflight = false, camOK = null;
  var video = $('cam'), canvas = document.createElement('canvas');

  function setText(el, s) { if (el.textContent !== s) { el.textContent = s; } }

  // render shows the current view: the link first (a dead link is never shown as "recognizing"),
  // then a held decision, then the machine's state with the last frame's quality reason.
  function render() {
    var view, head, detail = '';
    var now = Date.now();
    if (link !== 'connected' && link !== 'connecting') {
      view = 'down'; head = t('door.down'); detail = t('link.' + link) + ' — ' + t('door.downhelp');
    } else if (state === 'Unlocking') {
      view = 'welcome';
      head = decision && decision.name ? t('door.welcome', { name: decision.name }) : t('door.opennoname');
      detail = t('door.open');
    } else if (state === 'PinFallback') {
      view = 'pin'; head = t('pin.enter');
    } else if (decision && decision.outcome !== 'granted' && now < holdUntil) {
      view = 'denied';
      head = t(decision.outcome === 'locked_out' ? 'door.lockedout' : decision.outcome === 'timeout' ? 'door.timeout' :
        decision.outcome === 'cancelled' ? 'door.cancelled' : 'door.denied');
    } else if (state === 'Cooldown') {
      view = 'cooldown'; head = t('door.cooldown');
    } else if (state === 'Receiving' && (quality === '' || quality === 'no_face')) {
      // The machine opens a session on any frame; until a face is seen the hallway is just idle.
      view = 'idle'; head = t('door.idle');
    } else if (state === 'Receiving' || state === 'Recognizing') {
      view = quality && quality !== 'ok' ? 'quality' : 'recognizing';
      head = t('door.recognizing'); detail = quality ? t('q.' + quality) : '';
    } else {
      view = 'idle'; head = t('door.idle');
    }
    if (camOK === false) { detail = t('door.nocam'); }
    document.body.dataset.view = view;
    document.body.dataset.state = state;
    setText($('headline'), head);
    setText($('detail'), detail);
    var pin = $('pin');
    pin.hidden = view !== 'pin';
    var lock = Math.ceil((lockedUntil - now) / 1000);
    setText($('pinmsg'), lock > 0 ? t('pin.locked', { s: lock }) : pinMsg);
    var l = $('link');
    l.dataset.link = link;
    setText(l, t('link.' + link));
  }
  D.onLang(render);
  setInterval(render, 500); // counts down lockouts and ends held denials

  // decide shows a decision and pauses frames for a moment, so a denial stays readable.
  function decide(d) {
    decision = d;
    holdUntil = Date.now() + HOLD_MS;
    pauseUntil = Date.now() + 2000;
  }

  function setState(s, sess) {
    if (s !== state) {
      if (s === 'Idle' || s === 'Receiving') { quality = ''; }
      if (s !== 'PinFallback') { pinMsg = ''; $('pinval').value = ''; }
      if (s === 'Receiving') { decision = null; }
    }
    state = s;
    session = sess || (s === 'Idle' ? null : session);
    render();
  }

  // Events: each state shown the moment it arrives.
  D.stream(+D.meta('doorface-heartbeat') || 15000, function (ev, d) {
    if (ev === 'snapshot') {
      lockedUntil = d.state === 'PinFallback' && d.retry_after_ms > 0 ? Date.now() + d.retry_after_ms : 0;
      setState(d.state, d.session);
    } else if (ev === 'state') {
      setState(d.state, d.session);
    } else if (ev === 'decision') {
      decide(d);
      render();
    }
  }, function (l) {
    link = l;
    render();
  }, unpaired);

  function unpaired() {
    link = 'connecting';
    setText($('headline'), t('door.unpaired'));
    setTimeout(function () { location.reload(); }, 3000);
  }

  // Camera.
  navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user', width: { ideal: 640 } }, audio: false })
    .then(function (s) { video.srcObject = s; camOK = true; render(); })
    .catch(function (e) { console.error(e); camOK = false; render(); });

  function grab() {
    var w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) { return Promise.resolve(null); }
    var scale = Math.min(1, 640 / w);
    canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise(function (r) { canvas.toBlob(r, 'image/jpeg', 0.85); });
  }

  // One frame at a time, never queued: a frame is grabbed only when the link is up, nothing is in
  // flight and the door can take one (not while unlocking, cooling down or waiting for a PIN).
  // active: a face is in front of the camera (the machine is recognizing and the last frame had
  // one), so frames go at the session rate.
  function isActive() {
    return (state === 'Receiving' || state === 'Recognizing') && quality !== '' && quality !== 'no_face';
  }

  function tick() {
    var active = isActive();
    var can = link === 'connected' && !inflight && camOK && Date.now() >= pauseUntil &&
      (state === 'Idle' || state === 'Receiving' || state === 'Recognizing');
    if (!can) { setTimeout(tick, active ? ACTIVE_MS : 250); return; }
    inflight = true;
    grab().then(function (blob) {
      if (!blob) { return; }
      var headers = session ? { 'X-Door-Session': session } : {};
      return post(blob, headers);
    }).catch(function (e) { console.warn('frame', e); })
      .finally(function () {
        inflight = false;
        setTimeout(tick, isActive() ? ACTIVE_MS : IDLE_MS);
      });
  }

  function post(blob, extra) {
    var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, 5000);
    var headers = { 'Content-Type': 'image/jpeg', 'X-Doorface-CSRF': D.csrf };
    Object.keys(extra).forEach(function (k) { headers[k] = extra[k]; });
    return fetch('/v1/frames', { method: 'POST', headers: headers, body: blob, signal: ctl.signal,
      credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (a) {
          if (res.ok) {
            quality = a.frame ? a.frame.quality : '';
            if (a.decision) { decide(a.decision); }
            setState(a.state, a.session);
          } else if (res.status === 410) {
            session = null;
          } else if (res.status === 401 || res.status === 403) {
            unpaired();
          }
        });
      })
      .finally(function () { clearTimeout(timer); });
  }
  tick();

  // PIN keypad: buttons, or the keyboard's digits, Backspace and Enter.
  function key(k) {
    if ($('pin').hidden) { return; }
    var v = $('pinval');
    if (k === 'back') { v.value = v.value.slice(0, -1); }
    else if (k === 'ok') { submitPIN(); }
    else if (/^[0-9]$/.test(k) && v.value.length < 12) { v.value += k; }
  }
  document.querySelectorAll('[data-key]').forEach(function (b) {
    b.addEventListener('click', function () { key(b.dataset.key); });
  });
  document.addEventListener('keydown', function (e) {
    if (e.target.tagName === 'BUTTON' && (e.key === 'Enter' || e.key === ' ')) { return; }
    if (/^[0-9]$/.test(e.key)) { key(e.key); }
    else if (e.key === 'Backspace') { key('back'); }
    else if (e.key === 'Enter') { key('ok'); }
  });

  function submitPIN() {
    var v = $('pinval'), pin = v.value;
    if (pin.length < 4 || Date.now() < lockedUntil) { return; }
    v.value = '';
    D.api('POST', '/v1/pin', { session: session, pin: pin }).then(function (r) {
      var a = r.data || {};
      if (!r.ok) { pinMsg = a.message || ''; render(); return; }
      if (a.outcome === 'denied') {
        pinMsg = t('pin.wrong', { n: a.attempts_left });
      } else if (a.outcome === 'locked_out') {
        lockedUntil = Date.now() + a.retry_after_s * 1000;
        pinMsg = '';
      }
      if (a.decision) { decide(a.decision); }
      setState(a.state, a.state === 'Idle' ? null : session);
    }).catch(function (e) { console.warn('pin', e); });
  }
  render();
});

// pairing is the page before the tablet is paired: a code (or the door token) typed once.
function pairing() {
  var D = window.doorface, form = document.getElementById('pairform');
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var v = document.getElementById('code').value.trim();
    var body = /^[0-9]{8}$/.test(v) ? { code: v } : { token: v };
    D.api('POST', '/v1/pair', body).then(function (r) {
      if (r.ok) { location.reload(); return; }
      document.getElementById('pairmsg').textContent = D.t(r.status === 429 ? 'pair.limited' : 'pair.bad');
    });
  });
}
