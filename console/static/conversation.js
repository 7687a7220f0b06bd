// The conversation page: the chat live over server-sent events (the whole chat on each
// change; text is set as text, never as HTML), and the take-over / hand-back buttons
// following the state.
"use strict";
(function () {
  var root = document.getElementById("conversation");
  if (!root) return;
  var chat = document.getElementById("chat");
  var stateEl = document.getElementById("conv-state");
  var labels = { human: "人工服务中", bot: "智能助手" };

  function render(item) {
    var li = document.createElement("li");
    li.className = "msg msg-" + item.who + (item.pending ? " msg-pending" : "");
    li.dataset.key = item.key;
    var meta = document.createElement("div");
    meta.className = "msg-meta";
    meta.textContent = item.label + " · " + item.at + (item.pending ? " · 发送中" : "");
    li.appendChild(meta);
    if (item.text) {
      var text = document.createElement("div");
      text.className = "msg-text";
      text.textContent = item.text;
      li.appendChild(text);
    }
    item.documents.forEach(function (doc) {
      var div = document.createElement("div");
      div.className = "msg-doc";
      var a = document.createElement("a");
      a.href = doc.url;
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = "📎 " + doc.name;
      div.appendChild(a);
      li.appendChild(div);
    });
    return li;
  }

  function show(data) {
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    var fresh = document.createDocumentFragment();
    data.items.forEach(function (item) { fresh.appendChild(render(item)); });
    chat.replaceChildren(fresh);
    root.dataset.state = data.state;
    stateEl.textContent = labels[data.state] || data.state;
    stateEl.className = "state-" + data.state;
    document.getElementById("take-over-form").hidden = data.state === "human";
    document.getElementById("hand-back-form").hidden = data.state !== "human";
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  }

  window.taxdesk.listen(root.dataset.events, {
    chat: function (e) { show(JSON.parse(e.data)); }
  });
  window.scrollTo(0, document.body.scrollHeight);
})();
