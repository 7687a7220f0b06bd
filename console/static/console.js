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
  // A file larger than its input's data-max-bytes: say so beside the input and do not send
  // (the server would answer 413 with a page of its own and what was typed would be lost).
  function mb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }
  function tooLarge(input) {
    var max = parseInt(input.dataset.maxBytes, 10);
    var big = Array.prototype.filter.call(input.files || [], function (f) { return f.size > max; });
    var total = Array.prototype.reduce.call(input.files || [], function (n, f) { return n + f.size; }, 0);
    if (big.length) return "文件「" + big[0].name + "」" + mb(big[0].size) + "，超过 " + mb(max) + " 的上限：请压缩或分开发送。已填写的内容已保留。";
    if (total > max) return "所选文件合计 " + mb(total) + "，超过 " + mb(max) + "：请分几次发送。已填写的内容已保留。";
    return "";
  }
  function showFileError(input, text) {
    var box = input.parentNode.querySelector(".file-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "error file-error";
      box.setAttribute("role", "alert");
      input.parentNode.appendChild(box);
    }
    box.textContent = text;
    box.hidden = !text;
  }
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (input && input.type === "file" && input.dataset && input.dataset.maxBytes && input.form) {
      showFileError(input, tooLarge(input));
    }
  }, true);
  document.addEventListener("submit", function (e) {
    var inputs = e.target.querySelectorAll ? e.target.querySelectorAll("input[type=file][data-max-bytes]") : [];
    Array.prototype.forEach.call(inputs, function (input) {
      var text = tooLarge(input);
      showFileError(input, text);
      if (text) e.preventDefault();
    });
  }, true);
  return { csrf: csrf, send: send, listen: listen, liveFragment: liveFragment, tooLarge: tooLarge };
})();
