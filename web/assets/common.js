// doorface pages: texts in English and Korean, the API helper and the event-stream reader.
'use strict';
(function () {
  var T = {
    en: {
      'link.connecting': 'Connecting…', 'link.connected': 'Connected', 'link.reconnecting': 'Reconnecting…',
      'link.unreachable': 'Server unreachable',
      'door.idle': 'Look at the camera to open the door', 'door.recognizing': 'Recognizing…',
      'door.welcome': 'Welcome, {name}', 'door.open': 'Door open — come in', 'door.opennoname': 'Door open',
      'door.cooldown': 'Door locked again', 'door.denied': 'Access denied', 'door.timeout': 'No decision — try again',
      'door.lockedout': 'Too many wrong PINs — locked', 'door.cancelled': 'Cancelled',
      'door.down': 'The door system cannot be reached', 'door.downhelp': 'Frames are not sent until it is back. Use your key.',
      'door.nocam': 'The camera is not available', 'door.unpaired': 'This tablet is no longer paired',
      'q.no_face': 'Look at the camera', 'q.too_dark': 'Too dark — step into the light',
      'q.too_bright': 'Too bright — step out of the glare', 'q.multiple_faces': 'One person at a time, please',
      'q.too_small': 'Come closer', 'q.blurry': 'Hold still', 'q.ok': 'Face found — hold still',
      'pin.enter': 'Face not recognized — enter your PIN', 'pin.ok': 'OK', 'pin.back': 'Delete',
      'pin.wrong': 'Wrong PIN — {n} attempts left', 'pin.locked': 'Locked — try again in {s} s',
      'pair.title': 'Pair this tablet with the door',
      'pair.help': 'On the admin page, choose “Pair a door tablet” and type the code here (or type the door token once).',
      'pair.code': 'Pairing code or door token', 'pair.go': 'Pair', 'pair.bad': 'Wrong, used or expired code',
      'pair.limited': 'Too many wrong tries — wait a minute',
      'login.title': 'Sign in to doorface', 'login.token': 'Admin token', 'login.go': 'Sign in',
      'login.bad': 'Wrong admin token', 'admin.logout': 'Sign out',
      'nav.door': 'Door', 'nav.users': 'Users', 'nav.audit': 'Audit', 'nav.health': 'Health',
      'admin.state': 'State', 'admin.relay': 'Relay', 'admin.contact': 'Door contact', 'admin.fault': 'Relay fault',
      'admin.nofault': 'none', 'admin.pair': 'Pair a door tablet', 'admin.code': 'Code {code} — valid until {t}',
      'admin.last': 'Last decisions',
      'col.time': 'Time', 'col.outcome': 'Outcome', 'col.method': 'Method', 'col.name': 'Name', 'col.best': 'Best match',
      'col.distance': 'Distance', 'col.margin': 'Margin', 'col.frames': 'Frames', 'col.evidence': 'Evidence',
      'user.name': 'Name', 'user.pin': 'PIN (optional)', 'user.create': 'Create user', 'user.haspin': 'PIN',
      'user.enabled': 'Enabled', 'user.actions': 'Actions', 'user.photos': 'Enroll photos', 'user.setpin': 'Set PIN',
      'user.newpin': 'New PIN (empty removes it)', 'user.delete': 'Delete', 'user.really': 'Really delete?',
      'user.created': 'User {name} created', 'user.enrolled': '{n} photo(s) enrolled for {name}',
      'user.pinset': 'PIN changed for {name}', 'user.deleted': 'User {name} deleted',
      'user.enable': 'Enable', 'user.disable': 'Disable', 'user.enabled.now': '{name} may enter again',
      'user.disabled.now': '{name} is disabled: refused at the door', 'yes': 'yes', 'no': 'no',
      'audit.since': 'From', 'audit.until': 'Until', 'audit.user': 'User', 'audit.outcome': 'Outcome', 'audit.any': 'any',
      'audit.show': 'Show', 'audit.verify': 'Verify the audit chain', 'audit.ok': 'Chain intact: {n} records',
      'audit.broken': 'Chain BROKEN at record {seq}: {p}', 'audit.csv': 'Export CSV', 'audit.jsonl': 'Export JSON Lines',
      'audit.pruned': 'deleted by retention', 'audit.thumb': 'Evidence frame of {id}',
      'h.version': 'Version', 'h.models': 'Models', 'h.tls': 'Certificate (SHA-256)', 'h.notls': 'no TLS',
      'h.disk': 'Disk free', 'h.db': 'Database', 'h.missing': 'missing'
    },
    ko: {
      'link.connecting': '연결 중…', 'link.connected': '연결됨', 'link.reconnecting': '다시 연결 중…',
      'link.unreachable': '서버에 연결할 수 없음',
      'door.idle': '문을 열려면 카메라를 보세요', 'door.recognizing': '얼굴 확인 중…',
      'door.welcome': '{name}님, 환영합니다', 'door.open': '문이 열렸습니다 — 들어오세요', 'door.opennoname': '문이 열렸습니다',
      'door.cooldown': '문이 다시 잠겼습니다', 'door.denied': '출입이 거부되었습니다', 'door.timeout': '확인하지 못했습니다 — 다시 시도하세요',
      'door.lockedout': '비밀번호 오류가 너무 많습니다 — 잠김', 'door.cancelled': '취소되었습니다',
      'door.down': '출입 시스템에 연결할 수 없습니다', 'door.downhelp': '다시 연결될 때까지 사진을 보내지 않습니다. 열쇠를 사용하세요.',
      'door.nocam': '카메라를 사용할 수 없습니다', 'door.unpaired': '이 태블릿의 연결이 해제되었습니다',
      'q.no_face': '카메라를 보세요', 'q.too_dark': '너무 어둡습니다 — 밝은 곳으로 오세요',
      'q.too_bright': '너무 밝습니다 — 빛을 피해 주세요', 'q.multiple_faces': '한 번에 한 사람씩 서 주세요',
      'q.too_small': '더 가까이 오세요', 'q.blurry': '움직이지 마세요', 'q.ok': '얼굴을 찾았습니다 — 움직이지 마세요',
      'pin.enter': '얼굴을 확인하지 못했습니다 — 비밀번호를 입력하세요', 'pin.ok': '확인', 'pin.back': '지우기',
      'pin.wrong': '비밀번호가 틀렸습니다 — {n}번 남음', 'pin.locked': '잠김 — {s}초 후에 다시 시도하세요',
      'pair.title': '이 태블릿을 출입문에 연결하기',
      'pair.help': '관리 페이지에서 “출입문 태블릿 연결”을 누르고 여기에 코드를 입력하세요 (또는 출입문 토큰을 한 번 입력).',
      'pair.code': '연결 코드 또는 출입문 토큰', 'pair.go': '연결', 'pair.bad': '틀렸거나 사용되었거나 만료된 코드입니다',
      'pair.limited': '잘못된 시도가 너무 많습니다 — 1분 후에 다시 하세요',
      'login.title': 'doorface 로그인', 'login.token': '관리자 토큰', 'login.go': '로그인',
      'login.bad': '관리자 토큰이 틀렸습니다', 'admin.logout': '로그아웃',
      'nav.door': '출입문', 'nav.users': '사용자', 'nav.audit': '기록', 'nav.health': '상태',
      'admin.state': '상태', 'admin.relay': '릴레이', 'admin.contact': '문 센서', 'admin.fault': '릴레이 오류',
      'admin.nofault': '없음', 'admin.pair': '출입문 태블릿 연결', 'admin.code': '코드 {code} — {t}까지 유효',
      'admin.last': '최근 결정',
      'col.time': '시각', 'col.outcome': '결과', 'col.method': '방법', 'col.name': '이름', 'col.best': '가장 가까운 사람',
      'col.distance': '거리', 'col.margin': '차이', 'col.frames': '프레임', 'col.evidence': '증거',
      'user.name': '이름', 'user.pin': '비밀번호 (선택)', 'user.create': '사용자 만들기', 'user.haspin': '비밀번호',
      'user.enabled': '사용', 'user.actions': '작업', 'user.photos': '사진 등록', 'user.setpin': '비밀번호 설정',
      'user.newpin': '새 비밀번호 (비우면 삭제)', 'user.delete': '삭제', 'user.really': '정말 삭제할까요?',
      'user.created': '{name} 사용자를 만들었습니다', 'user.enrolled': '{name}: 사진 {n}장 등록',
      'user.pinset': '{name}의 비밀번호를 바꿨습니다', 'user.deleted': '{name} 사용자를 삭제했습니다',
      'user.enable': '사용', 'user.disable': '사용 중지', 'user.enabled.now': '{name} 님이 다시 출입할 수 있습니다',
      'user.disabled.now': '{name} 님은 사용 중지되어 출입이 거부됩니다', 'yes': '예', 'no': '아니요',
      'audit.since': '부터', 'audit.until': '까지', 'audit.user': '사용자', 'audit.outcome': '결과', 'audit.any': '전체',
      'audit.show': '보기', 'audit.verify': '기록 무결성 검사', 'audit.ok': '정상: 기록 {n}개',
      'audit.broken': '기록 {seq}번에서 손상됨: {p}', 'audit.csv': 'CSV 내보내기', 'audit.jsonl': 'JSON Lines 내보내기',
      'audit.pruned': '보존 기간이 지나 삭제됨', 'audit.thumb': '{id}의 증거 사진',
      'h.version': '버전', 'h.models': '모델', 'h.tls': '인증서 (SHA-256)', 'h.notls': 'TLS 없음',
      'h.disk': '남은 디스크', 'h.db': '데이터베이스', 'h.missing': '없음'
    }
  };
  var lang = localStorage.getItem('doorface.lang') ||
    ((navigator.language || 'en').toLowerCase().indexOf('ko') === 0 ? 'ko' : 'en');
  var listeners = [];

  function t(key, vars) {
    var s = (T[lang] && T[lang][key]) || T.en[key] || key;
    return s.replace(/\{(\w+)\}/g, function (_, k) { return vars && vars[k] !== undefined ? String(vars[k]) : ''; });
  }

  function apply() {
    document.documentElement.lang = lang;
    document.querySelectorAll('[data-t]').forEach(function (el) { el.textContent = t(el.dataset.t); });
    document.querySelectorAll('[data-t-label]').forEach(function (el) { el.setAttribute('aria-label', t(el.dataset.tLabel)); });
    var b = document.getElementById('lang');
    if (b) { b.textContent = lang === 'ko' ? 'English' : '한국어'; }
    listeners.forEach(function (f) { f(); });
  }

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.content : '';
  }

  var csrf = meta('doorface-csrf');

  // api calls the daemon with the session cookie and the CSRF token; it never throws for an HTTP
  // status (the answer says), only for a network failure or the timeout.
  function api(method, path, body, type, timeoutMS) {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, timeoutMS || 10000);
    var headers = { 'X-Doorface-CSRF': csrf };
    if (type) { headers['Content-Type'] = type; }
    if (body !== undefined && !type) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    }
    return fetch(path, { method: method, headers: headers, body: body, signal: ctl.signal, cache: 'no-store',
      credentials: 'same-origin' })
      .then(function (res) {
        var ct = res.headers.get('Content-Type') || '';
        var p = ct.indexOf('application/json') === 0 ? res.json() : res.text();
        return p.then(function (data) { return { status: res.status, ok: res.ok, data: data, headers: res.headers }; });
      })
      .finally(function () { clearTimeout(timer); });
  }

  // stream follows GET /v1/events with fetch (an EventSource hides the ": ping" heartbeats, so it
  // cannot tell a quiet door from a dead link). onEvent(name, data) gets every event; onLink(state)
  // gets connected, reconnecting or unreachable; onAuth() is called on 401/403 and ends the stream.
  // The link counts as lost when nothing (not even a ping) arrives for three heartbeats.
  function stream(heartbeatMS, onEvent, onLink, onAuth) {
    var failures = 0, lostAt = 0;
    function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
    function once() {
      var ctl = new AbortController(), last = Date.now();
      var dog = setInterval(function () { if (Date.now() - last > 3 * heartbeatMS) { ctl.abort(); } }, 500);
      var connect = setTimeout(function () { ctl.abort(); }, 5000);
      return fetch('/v1/events', { signal: ctl.signal, cache: 'no-store', credentials: 'same-origin',
        headers: { Accept: 'text/event-stream' } })
        .then(function (res) {
          clearTimeout(connect);
          if (res.status === 401 || res.status === 403) { return 'auth'; }
          if (!res.ok) { throw new Error('status ' + res.status); }
          failures = 0; lostAt = 0;
          onLink('connected');
          var reader = res.body.getReader(), dec = new TextDecoder(), buf = '';
          function pump() {
            return reader.read().then(function (r) {
              if (r.done) { return 'done'; }
              last = Date.now();
              buf += dec.decode(r.value, { stream: true });
              var i;
              while ((i = buf.indexOf('\n\n')) >= 0) {
                var block = buf.slice(0, i), ev = 'message', data = '';
                buf = buf.slice(i + 2);
                block.split('\n').forEach(function (line) {
                  if (line.indexOf('event:') === 0) { ev = line.slice(6).trim(); }
                  else if (line.indexOf('data:') === 0) { data += line.slice(5).trim(); }
                });
                if (data) {
                  try { onEvent(ev, JSON.parse(data)); } catch (e) { console.error(e); }
                }
              }
              return pump();
            });
          }
          return pump();
        })
        .catch(function () { return 'error'; })
        .finally(function () { clearInterval(dog); clearTimeout(connect); });
    }
    function loop() {
      return once().then(function (how) {
        if (how === 'auth') { onAuth(); return; }
        failures++;
        if (!lostAt) { lostAt = Date.now(); }
        onLink(failures > 2 || Date.now() - lostAt > 3000 ? 'unreachable' : 'reconnecting');
        return sleep(Math.min(500 * failures, 3000)).then(loop);
      });
    }
    loop();
  }

  window.doorface = {
    t: t, api: api, stream: stream, meta: meta, csrf: csrf,
    lang: function () { return lang; },
    onLang: function (f) { listeners.push(f); },
    setLang: function (l) { lang = l; localStorage.setItem('doorface.lang', l); apply(); }
  };
  document.addEventListener('DOMContentLoaded', function () {
    var b = document.getElementById('lang');
    if (b) { b.addEventListener('click', function () { window.doorface.setLang(lang === 'ko' ? 'en' : 'ko'); }); }
    apply();
  });
})();
