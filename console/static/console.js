// taxdesk console: helpers for the live parts. No inline scripts (the CSP allows only this
// origin's files); pages add their own file under static/.
"use strict";
window.taxdesk = (function () {
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  // fetch with the session cookie and the CSRF header on unsafe methods
  function send(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = options.headers || {};
    if (options.method && options.method !== "GET") options.headers["X-CSRF-Token"] = csrf();
    return fetch(url, options);
  }
  // an EventSource that reconnects by itself (the browser resends Last-Event-ID)
  function listen(url, handlers) {
    var source = new EventSource(url);
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (e) { handlers[name](e); });
    });
    return source;
  }
  // Keep `box` in step with the server: on each `changed` event of `box.dataset.events` (and
  // after a reconnect, for what changed meanwhile) fetch `box.dataset.fragment` and put it in
  // place, one fetch at a time (a change during a fetch fetches once more). `hooks.before()`
  // returns what `hooks.after(it)` needs once the new HTML is in; `hooks.state` gets the class
  // `offline` while the stream is down. A lost session (401) reloads to the login page.
  function liveFragment(box, hooks) {
    hooks = hooks || {};
    var busy = false, again = false, opened = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      var it = hooks.before ? hooks.before() : null;
      send(box.dataset.fragment, { method: "GET" }).then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html === null || html === undefined) return;
        box.innerHTML = html;
        if (hooks.after) hooks.after(it);
        box.dataset.refreshed = String(Date.now());
      }).catch(function () {}).then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
    }
    var source = listen(box.dataset.events, { changed: refresh });
    source.onopen = function () {
      if (hooks.state) hooks.state.classList.remove("offline");
      if (opened) refresh();
      opened = true;
    };
    source.onerror = function () { if (hooks.state) hooks.state.classList.add("offline"); };
    return source;
  }
  return { csrf: csrf, send: send, listen: listen, liveFragment: liveFragment };
})();
