// The queue page: the table follows the server's changes (taxdesk.liveFragment, no reload);
// rows that were not there before are highlighted for a few seconds.
"use strict";
(function () {
  var box = document.getElementById("queue-table");
  if (!box || !window.taxdesk) return;

  function numbers() {
    var seen = {};
    box.querySelectorAll("tr[data-number]").forEach(function (tr) { seen[tr.dataset.number] = true; });
    return seen;
  }

  window.taxdesk.liveFragment(box, {
    state: document.getElementById("queue-live"),
    before: numbers,
    after: function (before) {
      box.querySelectorAll("tr[data-number]").forEach(function (tr) {
        if (!before[tr.dataset.number]) {
          tr.classList.add("fresh");
          setTimeout(function () { tr.classList.remove("fresh"); }, 4000);
        }
      });
    }
  });
})();
