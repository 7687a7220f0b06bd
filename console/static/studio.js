// taxdesk studio: entity annotation by selection, and the training job's progress.
"use strict";
(function () {
  // Select text in an example's input, then press an entity button: the selection becomes
  // [text](entity), Rasa's annotation.
  var lastInput = null;
  document.querySelectorAll("input.annotate-input").forEach(function (input) {
    ["select", "keyup", "mouseup", "focus"].forEach(function (ev) {
      input.addEventListener(ev, function () { lastInput = input; });
    });
  });
  document.querySelectorAll("button.entity").forEach(function (button) {
    button.addEventListener("mousedown", function (e) { e.preventDefault(); });
    button.addEventListener("click", function () {
      var form = button.closest("form");
      var input = (lastInput && lastInput.form === form) ? lastInput : form.querySelector("input.annotate-input");
      if (!input) return;
      var start = input.selectionStart, end = input.selectionEnd;
      if (start === null || end === null || start === end) return;
      var v = input.value;
      input.value = v.slice(0, start) + "[" + v.slice(start, end) + "](" + button.dataset.entity + ")" + v.slice(end);
      input.focus();
    });
  });
  // The training job: poll its state while it runs, reload the page when it ends.
  var job = document.getElementById("job");
  if (job && job.dataset.status === "running") {
    var timer = setInterval(function () {
      window.taxdesk.send("/console/studio/job").then(function (r) { return r.json(); }).then(function (s) {
        var stage = document.getElementById("job-stage");
        var bar = document.getElementById("job-progress");
        if (stage) stage.textContent = s.stage || "";
        if (bar) bar.value = s.progress || 0;
        if (s.status !== "running") { clearInterval(timer); window.location.reload(); }
      }).catch(function () {});
    }, 1000);
  }
})();
