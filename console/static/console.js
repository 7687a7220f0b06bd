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
  return { csrf: csrf, send: send, listen: listen };
})();
