// The admin page: live door state and decisions, users, audit, health, pairing codes.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var D = window.doorface, t = D.t;
  var $ = function (id) { return document.getElementById(id); };

  if (!D.csrf) {
    $('loginform').addEventListener('submit', function (e) {
      e.preventDefault();
      D.api('POST', '/v1/login', { token: $('token').value }).then(function (r) {
        if (r.ok) { location.reload(); return; }
        $('loginmsg').textContent = t(r.status === 429 ? 'pair.limited' : 'login.bad');
      });
    });
    return;
  }

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { e.textContent = attrs[k]; } else if (k.indexOf('on') === 0) { e.addEventListener(k.slice(2), attrs[k]); }
      else { e.setAttribute(k, attrs[k]); }
    });
    (kids || []).forEach(function (c) { e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function say(s, bad) { var m = $('msg'); m.textContent = s; m.className = bad ? 'msg error' : 'msg'; }
  function failed(r) { say((r.data && r.data.message) || ('HTTP ' + r.status), true); }
  function num(x) { return typeof x === 'number' && x >= 0 ? x.toFixed(3) : '–'; }
  function when(s) { return s ? new Date(s).toLocaleString(D.lang() === 'ko' ? 'ko-KR' : 'en-GB') : ''; }
  function jsonl(text) {
    return (text || '').split('\n').filter(Boolean).map(function (l) { return JSON.parse(l); });
  }

  $('logout').addEventListener('click', function () {
    D.api('POST', '/v1/logout').then(function () { location.reload(); });
  });

  // Door: live state and the last decisions with their records.
  function showState(s) {
    $('st-state').textContent = s.state;
    if (s.relay) { $('st-relay').textContent = s.relay; }
    if (s.door) { $('st-door').textContent = s.door; }
    if (s.relay_fault !== undefined) { $('st-fault').textContent = s.relay_fault || t('admin.nofault'); }
    document.body.dataset.door = s.state;
  }
  function decisionRow(a) {
    return el('tr', { 'data-id': a.id, 'data-outcome': a.outcome }, [
      el('td', { text: when(a.end || a.start) }), el('td', { text: a.outcome, class: 'o-' + a.outcome }),
      el('td', { text: a.method }), el('td', { text: a.name || '' }), el('td', { text: a.best_user || '' }),
      el('td', { text: num(a.best_distance) }), el('td', { text: num(a.best_margin) }), el('td', { text: String(a.frames) })]);
  }
  function addDecision(a) {
    var tb = $('decisions').tBodies[0];
    var old = tb.querySelector('tr[data-id="' + a.id + '"]');
    if (old) { old.remove(); }
    tb.insertBefore(decisionRow(a), tb.firstChild);
    while (tb.rows.length > 10) { tb.deleteRow(tb.rows.length - 1); }
  }
  function recordOf(session, tries) {
    D.api('GET', '/v1/audit/' + encodeURIComponent(session)).then(function (r) {
      if (r.ok) { addDecision(r.data); loadAudit(); } else if (tries > 0) { setTimeout(function () { recordOf(session, tries - 1); }, 700); }
    });
  }
  D.stream(+D.meta('doorface-heartbeat') || 15000, function (ev, d) {
    if (ev === 'snapshot') { showState(d); }
    if (ev === 'state') { showState(d); refreshState(); }
    if (ev === 'door') { refreshState(); }
    if (ev === 'decision') { recordOf(d.session, 8); }
  }, function (l) {
    var e = $('link'); e.dataset.link = l; e.textContent = t('link.' + l);
  }, function () { location.reload(); });
  function refreshState() { D.api('GET', '/v1/state').then(function (r) { if (r.ok) { showState(r.data); } }); }

  $('pair').addEventListener('click', function () {
    D.api('POST', '/v1/pairing').then(function (r) {
      if (!r.ok) { failed(r); return; }
      $('paircode').textContent = t('admin.code', { code: r.data.code, t: new Date(r.data.expires).toLocaleTimeString() });
      $('paircode').dataset.code = r.data.code;
    });
  });

  // Users. Enrollment from the door camera comes with its API (a hook: the actions cell takes more
  // buttons).
  var users = [];
  function loadUsers() {
    return D.api('GET', '/v1/users').then(function (r) {
      if (!r.ok) { failed(r); return; }
      users = r.data.users;
      var tb = $('users').tBodies[0];
      tb.textContent = '';
      var sel = $('f-user'), keep = sel.value;
      while (sel.options.length > 1) { sel.remove(1); }
      users.forEach(function (u) {
        tb.appendChild(userRow(u));
        sel.appendChild(el('option', { value: u.id, text: u.name }));
      });
      sel.value = keep;
    });
  }
  function userRow(u) {
    var fileID = 'photos-' + u.id, pinID = 'pin-' + u.id;
    var file = el('input', { type: 'file', id: fileID, accept: 'image/jpeg,image/png', multiple: '', class: 'file',
      onchange: function () { enroll(u, file.files); file.value = ''; } });
    var pin = el('input', { id: pinID, inputmode: 'numeric', pattern: '[0-9]{4,12}', autocomplete: 'off', size: '8' });
    var del = el('button', { type: 'button', text: t('user.delete'), class: 'danger', onclick: function () {
      if (del.dataset.armed) { removeUser(u); return; }
      del.dataset.armed = '1'; del.textContent = t('user.really');
      setTimeout(function () { delete del.dataset.armed; del.textContent = t('user.delete'); }, 4000);
    } });
    return el('tr', { 'data-user': u.id }, [
      el('td', { text: u.name }), el('td', { text: u.id, class: 'mono' }), el('td', { text: t(u.has_pin ? 'yes' : 'no') }),
      el('td', { text: t(u.enabled ? 'yes' : 'no') }),
      el('td', { class: 'actions' }, [
        el('label', { for: fileID, class: 'button', text: t('user.photos') }), file,
        el('label', { for: pinID, class: 'sr', text: t('user.newpin') }), pin,
        el('button', { type: 'button', text: t('user.setpin'), onclick: function () { setPIN(u, pin.value); pin.value = ''; } }),
        el('button', { type: 'button', text: t(u.enabled ? 'user.disable' : 'user.enable'), onclick: function () { setEnabled(u, !u.enabled); } }),
        del])]);
  }
  function enroll(u, files) {
    var n = 0, list = Array.prototype.slice.call(files);
    list.reduce(function (p, f) {
      return p.then(function () {
        return D.api('POST', '/v1/users/' + u.id + '/faces', f, f.type || 'image/jpeg', 60000).then(function (r) {
          if (r.ok) { n++; } else { failed(r); throw new Error('enroll'); }
        });
      });
    }, Promise.resolve()).then(function () { say(t('user.enrolled', { n: n, name: u.name })); }).catch(function () {});
  }
  function setPIN(u, pin) {
    D.api('PUT', '/v1/users/' + u.id + '/pin', { pin: pin }).then(function (r) {
      if (!r.ok) { failed(r); return; }
      say(t('user.pinset', { name: u.name })); loadUsers();
    });
  }
  // setEnabled keeps the rest of the user's access policy (the API replaces it whole).
  function setEnabled(u, on) {
    var p = { enabled: on, mode: u.mode || 'face_or_pin', schedule: u.schedule || '' };
    if (u.valid_from) { p.valid_from = u.valid_from; }
    if (u.valid_until) { p.valid_until = u.valid_until; }
    D.api('PUT', '/v1/users/' + u.id + '/policy', p).then(function (r) {
      if (!r.ok) { failed(r); return; }
      say(t(on ? 'user.enabled.now' : 'user.disabled.now', { name: u.name })); loadUsers();
    });
  }
  function removeUser(u) {
    D.api('DELETE', '/v1/users/' + u.id).then(function (r) {
      if (!r.ok) { failed(r); return; }
      say(t('user.deleted', { name: u.name })); loadUsers();
    });
  }
  $('newuser').addEventListener('submit', function (e) {
    e.preventDefault();
    var name = $('nu-name').value.trim();
    D.api('POST', '/v1/users', { name: name, pin: $('nu-pin').value }).then(function (r) {
      if (!r.ok) { failed(r); return; }
      $('nu-name').value = ''; $('nu-pin').value = '';
      say(t('user.created', { name: name })); loadUsers();
    });
  });

  // Audit.
  function query() {
    var q = [];
    if ($('f-since').value) { q.push('since=' + $('f-since').value); }
    if ($('f-until').value) { q.push('until=' + $('f-until').value); }
    if ($('f-user').value) { q.push('user=' + encodeURIComponent($('f-user').value)); }
    if ($('f-outcome').value) { q.push('outcome=' + $('f-outcome').value); }
    return q.join('&');
  }
  function loadAudit() {
    var q = query();
    $('exp-csv').href = '/v1/audit?format=csv' + (q ? '&' + q : '');
    $('exp-jsonl').href = '/v1/audit?format=jsonl' + (q ? '&' + q : '');
    return D.api('GET', '/v1/audit' + (q ? '?' + q : ''), undefined, undefined, 30000).then(function (r) {
      if (!r.ok) { failed(r); return; }
      var recs = jsonl(r.data).reverse().slice(0, 200), tb = $('audit').tBodies[0];
      tb.textContent = '';
      recs.forEach(function (a) {
        var ev = a.evidence_pruned ? el('span', { text: t('audit.pruned') }) : a.evidence ?
          el('a', { href: '/v1/audit/' + a.id + '/frame', target: '_blank' }, [
            el('img', { src: '/v1/audit/' + a.id + '/frame', alt: t('audit.thumb', { id: a.id }), class: 'thumb', loading: 'lazy' })]) :
          el('span', { text: '–' });
        tb.appendChild(el('tr', { 'data-id': a.id, 'data-outcome': a.outcome }, [
          el('td', { text: when(a.start) }), el('td', { text: a.outcome, class: 'o-' + a.outcome }), el('td', { text: a.method }),
          el('td', { text: a.name || '' }), el('td', { text: num(a.best_distance) }), el('td', { text: num(a.best_margin) }),
          el('td', {}, [ev]), el('td', { text: a.id, class: 'mono' })]));
      });
      if (!$('decisions').tBodies[0].rows.length) {
        recs.slice(0, 10).reverse().forEach(addDecision);
      }
    });
  }
  $('filter').addEventListener('submit', function (e) { e.preventDefault(); loadAudit(); });
  $('verify').addEventListener('click', function () {
    D.api('GET', '/v1/audit/verify', undefined, undefined, 60000).then(function (r) {
      if (!r.ok) { failed(r); return; }
      var v = r.data, o = $('verified');
      o.textContent = v.ok ? t('audit.ok', { n: v.records }) : t('audit.broken', { seq: v.first_broken, p: v.problem });
      o.dataset.ok = v.ok ? 'true' : 'false';
    });
  });

  // Health.
  function mb(b) { return (b / 1048576).toFixed(1) + ' MB'; }
  function loadHealth() {
    D.api('GET', '/v1/health', undefined, undefined, 60000).then(function (r) {
      if (!r.ok) { failed(r); return; }
      var h = r.data, dl = $('health');
      dl.textContent = '';
      function row(k, v) { dl.appendChild(el('dt', { text: t(k) })); dl.appendChild(el('dd', { text: v })); }
      row('h.version', h.version + ' (' + h.commit.slice(0, 12) + ', ' + h.go + ')');
      row('h.models', h.models.map(function (m) {
        return m.name + ': ' + (m.sha256 ? mb(m.bytes) + ' sha256 ' + m.sha256.slice(0, 12) : t('h.missing'));
      }).join('; '));
      row('h.tls', h.tls ? h.cert_fingerprint : t('h.notls'));
      row('h.db', mb(h.database_bytes) + ' — ' + h.data_dir);
      row('h.disk', mb(h.disk_free_bytes) + ' / ' + mb(h.disk_total_bytes));
    });
  }

  D.onLang(function () { loadUsers(); loadAudit(); loadHealth(); });
  refreshState();
  loadUsers(); loadAudit(); loadHealth();
});
