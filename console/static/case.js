// A case's page: when the server says the case changed (someone else's step, a taxpayer's
// answer), its body is fetched again and put in place (taxdesk.liveFragment), keeping what
// is being typed, the chosen document and the focus.
"use strict";
(function () {
  var box = document.getElementById("case-body");
  if (!box || !window.taxdesk) return;
  var FIELDS = "form.act textarea, form.act select, form.act input[type=file]";

  function keyOf(el) { return el.form.getAttribute("action") + "|" + el.name; }

  window.taxdesk.liveFragment(box, {
    before: function () {
      var kept = {};
      box.querySelectorAll(FIELDS).forEach(function (el) {
        kept[keyOf(el)] = el.type === "file" ? el.files : el.value;
      });
      var focused = document.activeElement;
      return { kept: kept, focus: focused && focused.form ? keyOf(focused) : null };
    },
    after: function (it) {
      box.querySelectorAll(FIELDS).forEach(function (el) {
        var key = keyOf(el);
        if (el.type === "file") {
          if (it.kept[key] && it.kept[key].length) el.files = it.kept[key];  // the document stays
        } else if (it.kept[key] !== undefined && it.kept[key] !== "") el.value = it.kept[key];
        if (key === it.focus) el.focus();
      });
    }
  });
})();
