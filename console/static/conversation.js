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
    if (item.reviewable) li.appendChild(reviewForm(item.key));
    return li;
  }

  // "交管理员复核": the message goes to the studio's review inbox (a plain form post).
  function reviewForm(key) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/console/conversations/" + root.dataset.id + "/review";
    form.className = "msg-review";
    [["_csrf", window.taxdesk.csrf()], ["message", key]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      form.appendChild(input);
    });
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "link";
    button.title = "智能助手没理解这句话？交给管理员复核";
    button.textContent = "交管理员复核";
    form.appendChild(button);
    return form;
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

// The list of conversations: re-rendered from each `rows` event (the page's filters apply).
(function () {
  var table = document.getElementById("conversation-list");
  if (!table) return;
  var body = document.getElementById("conversation-rows");

  function cell(tr, build) {
    var td = document.createElement("td");
    build(td);
    tr.appendChild(td);
  }
  function text(parent, value, className) {
    var el = document.createElement("span");
    if (className) el.className = className;
    el.textContent = value;
    parent.appendChild(el);
    return el;
  }

  function render(rows) {
    var fresh = document.createDocumentFragment();
    if (!rows.length) {
      var tr = document.createElement("tr");
      cell(tr, function (td) { td.colSpan = 6; td.className = "muted"; td.textContent = "没有符合条件的会话。"; });
      fresh.appendChild(tr);
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.className = "conv-" + row.state;
      tr.dataset.conversation = row.id;
      cell(tr, function (td) {
        var a = document.createElement("a");
        a.href = row.url;
        a.textContent = "#" + row.id;
        td.appendChild(a);
      });
      cell(tr, function (td) { td.textContent = row.name; });
      cell(tr, function (td) { td.textContent = row.channel; });
      cell(tr, function (td) {
        if (row.state === "human") {
          var strong = document.createElement("strong");
          strong.className = "state-human";
          strong.textContent = row.state_label;
          td.appendChild(strong);
          td.appendChild(document.createElement("br"));
          text(td, "自 " + row.since, "muted");
        } else {
          td.textContent = row.state_label;
        }
      });
      cell(tr, function (td) {
        if (!row.last_at) return;
        text(td, row.last_at, "muted");
        td.appendChild(document.createElement("br"));
        text(td, row.last_text);
      });
      cell(tr, function (td) { td.textContent = String(row.open_cases); });
      fresh.appendChild(tr);
    });
    body.replaceChildren(fresh);
  }

  window.taxdesk.listen(table.dataset.events, {
    rows: function (e) { render(JSON.parse(e.data)); }
  });
})();
