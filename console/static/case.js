// A case's page: when the server says the case changed (someone else's step, a taxpayer's
// answer), fetch the page's body again and put it in place, keeping what is being typed.
"use strict";
(function () {
  var box = document.getElementById("case-body");
  if (!box || !window.taxdesk) return;
  var busy = false, again = false, opened = false;

  function typed() {
    var out = {};
    box.querySelectorAll("form.act textarea, form.act select, form.act input[type=file]").forEach(function (el) {
      out[el.form.getAttribute("action") + "|" + el.name] = el.type === "file" ? el.files : el.value;
    });
    return out;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var kept = typed();
    var focused = document.activeElement;
    var focusKey = focused && focused.form ? focused.form.getAttribute("action") + "|" + focused.name : null;
    window.taxdesk.send(box.dataset.fragment, { method: "GET" }).then(function (r) {
      if (r.status === 401) { window.location.reload(); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null || html === undefined) return;
      box.innerHTML = html;
      box.querySelectorAll("form.act textarea, form.act select, form.act input[type=file]").forEach(function (el) {
        var key = el.form.getAttribute("action") + "|" + el.name;
        if (el.type === "file") {
          if (kept[key] && kept[key].length) el.files = kept[key];  // the chosen document stays
        } else if (kept[key] !== undefined && kept[key] !== "") el.value = kept[key];
        if (key === focusKey) el.focus();
      });
      box.dataset.refreshed = String(Date.now());
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  var source = window.taxdesk.listen(box.dataset.events, { changed: refresh });
  source.onopen = function () { if (opened) refresh(); opened = true; };
})();
