// The queue page: re-fetch the table fragment whenever the server says a case changed (no
// reload); rows that were not there before are highlighted for a few seconds.
"use strict";
(function () {
  var box = document.getElementById("queue-table");
  if (!box || !window.taxdesk) return;
  var state = document.getElementById("queue-live");
  var busy = false, again = false, opened = false;

  function numbers() {
    var seen = {};
    box.querySelectorAll("tr[data-number]").forEach(function (tr) { seen[tr.dataset.number] = true; });
    return seen;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var before = numbers();
    window.taxdesk.send(box.dataset.fragment, { method: "GET" }).then(function (r) {
      if (r.status === 401) { window.location.reload(); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null || html === undefined) return;
      box.innerHTML = html;
      box.querySelectorAll("tr[data-number]").forEach(function (tr) {
        if (!before[tr.dataset.number]) {
          tr.classList.add("fresh");
          setTimeout(function () { tr.classList.remove("fresh"); }, 4000);
        }
      });
      box.dataset.refreshed = String(Date.now());
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  var source = window.taxdesk.listen(box.dataset.events, { changed: refresh });
  source.onopen = function () {
    if (state) state.classList.remove("offline");
    if (opened) refresh();  // reconnected: what changed meanwhile
    opened = true;
  };
  source.onerror = function () { if (state) state.classList.add("offline"); };
})();
