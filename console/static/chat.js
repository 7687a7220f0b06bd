// taxdesk web chat: the page's only script (no inline scripts: the CSP allows this origin's
// files only). Everything shown comes from the stream /chat/events (each message once, by
// id); sending is POST /chat/send (text, button payload, phone) or /chat/upload (a file,
// with upload progress). The page's own labels exist in both scripts (data-hans/data-hant).
"use strict";
(function () {
  var root = document.documentElement;
  var log = document.getElementById("log");
  var notice = document.getElementById("notice");
  var composer = document.getElementById("composer");
  var textBox = document.getElementById("text");
  var fileInput = document.getElementById("file");
  var phoneForm = document.getElementById("phone-form");
  var phoneInput = document.getElementById("phone");
  var progress = document.getElementById("progress");
  var bar = document.getElementById("progress-bar");
  var barText = document.getElementById("progress-text");
  var shown = {};          // message ids already on the page
  var titles = {};         // button payload -> its title (a press shows the title)
  var serverScript = root.getAttribute("data-script") || "hans";

  var WORDS = {
    hans: { sending: "发送中…", uploading: "上传中 ", failed: "发送失败，请重试。",
            offline: "连接中断，正在重新连接…", expired: "会话已过期，请刷新页面。",
            staff: "工作人员", file: "文件", me: "我", bot: "税务助手", download: "下载",
            tooLarge: "文件「{name}」{size} MB，超过 {max} MB 的上限：请压缩后再发，或拍照分页发送。" },
    hant: { sending: "發送中…", uploading: "上傳中 ", failed: "發送失敗，請重試。",
            offline: "連線中斷，正在重新連線…", expired: "會話已過期，請重新整理頁面。",
            staff: "工作人員", file: "檔案", me: "我", bot: "稅務助手", download: "下載",
            tooLarge: "檔案「{name}」{size} MB，超過 {max} MB 的上限：請壓縮後再發，或拍照分頁發送。" }
  };
  function script() { return root.getAttribute("data-script") === "hant" ? "hant" : "hans"; }
  function word(key) { return WORDS[script()][key]; }

  function applyScript(s) {
    root.setAttribute("data-script", s);
    root.setAttribute("lang", s === "hant" ? "zh-Hant" : "zh-CN");
    document.querySelectorAll("[data-hans]").forEach(function (el) {
      el.textContent = el.getAttribute("data-" + s);
    });
    document.querySelectorAll("[data-hans-placeholder]").forEach(function (el) {
      el.setAttribute("placeholder", el.getAttribute("data-" + s + "-placeholder"));
    });
  }

  function say(text, isError) {
    notice.textContent = text || "";
    notice.hidden = !text;
    notice.classList.toggle("error", !!isError);
  }

  function beijing(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var bj = new Date(d.getTime() + 8 * 3600 * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(bj.getUTCHours()) + ":" + two(bj.getUTCMinutes());
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function render(m) {
    if (shown[m.id]) return;
    shown[m.id] = true;
    (m.buttons || []).forEach(function (row) {
      row.forEach(function (b) { titles[b.payload] = b.title; });
    });
    var who = m.dir === "in" ? "me" : (m.from === "staff" ? "staff" : "bot");
    var item = el("article", "msg msg-" + who);
    item.setAttribute("data-id", m.id);
    if (m.kind) item.setAttribute("data-kind", m.kind);
    var text = m.text;
    if (m.dir === "in" && titles[text]) text = titles[text];   // a press: the button's title
    if (who === "staff") item.appendChild(el("div", "msg-who", word("staff")));
    if (text) item.appendChild(el("div", "msg-text", text));
    if (m.file) item.appendChild(el("div", "msg-file", "📎 " + m.file));
    if (m.template) {
      var t = el("a", "msg-doc", "📎 " + m.template.name);
      t.href = m.template.url;
      t.setAttribute("download", m.template.name);
      item.appendChild(t);
    }
    (m.documents || []).forEach(function (d) {
      var a = el("a", "msg-doc", "📎 " + (d.name || word("file")));
      a.href = d.url;
      a.setAttribute("download", d.name || "");
      item.appendChild(a);
    });
    (m.buttons || []).forEach(function (row) {
      var line = el("div", "msg-buttons");
      row.forEach(function (b) {
        var button = el("button", "msg-button", b.title);
        button.type = "button";
        button.setAttribute("data-payload", b.payload);
        if (b.contact) button.setAttribute("data-contact", "1");
        line.appendChild(button);
      });
      item.appendChild(line);
    });
    item.appendChild(el("time", "msg-time", beijing(m.at)));
    // keep id order even when a late row arrives
    var after = null;
    var items = log.querySelectorAll("article.msg");
    for (var i = items.length - 1; i >= 0; i--) {
      if (Number(items[i].getAttribute("data-id")) < m.id) break;
      after = items[i];
    }
    log.insertBefore(item, after);
    log.scrollTop = log.scrollHeight;
  }

  function answered(resp) {
    return resp.json().catch(function () { return {}; }).then(function (body) {
      if (resp.status === 401 || resp.status === 403) { say(word("expired"), true); return; }
      if (!resp.ok) { say(body.error || word("failed"), true); return; }
      say("");
      if (body.script && body.script !== serverScript) {
        serverScript = body.script;
        applyScript(body.script);
      }
    });
  }

  function post(body) {
    say(word("sending"));
    return taxdesk.send("/chat/send", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(answered, function () { say(word("failed"), true); });
  }

  composer.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = textBox.value;
    post({ text: text }).then(function () {
      if (!notice.classList.contains("error")) textBox.value = "";
    });
  });
  textBox.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });

  log.addEventListener("click", function (e) {
    var button = e.target.closest("button.msg-button");
    if (!button) return;
    if (button.getAttribute("data-contact")) {
      phoneForm.hidden = false;
      phoneInput.focus();
      return;
    }
    post({ payload: button.getAttribute("data-payload") });
  });

  phoneForm.addEventListener("submit", function (e) {
    e.preventDefault();
    post({ phone: phoneInput.value }).then(function () {
      if (!notice.classList.contains("error")) { phoneInput.value = ""; phoneForm.hidden = true; }
    });
  });
  document.getElementById("phone-cancel").addEventListener("click", function () {
    phoneForm.hidden = true;
  });

  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    if (!file) return;
    var max = parseInt(fileInput.dataset.maxUpload, 10);
    if (max && file.size > max) {  // refused here: the typed words stay in the box
      fileInput.value = "";
      say(word("tooLarge").replace("{name}", file.name)
        .replace("{size}", (file.size / 1048576).toFixed(1))
        .replace("{max}", Math.round(max / 1048576)), true);
      return;
    }
    var form = new FormData();
    form.append("file", file, file.name);
    if (textBox.value.trim()) form.append("caption", textBox.value.trim());
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/chat/upload");
    xhr.setRequestHeader("X-CSRF-Token", taxdesk.csrf());
    progress.hidden = false;
    bar.value = 0;
    barText.textContent = word("uploading") + file.name;
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) bar.value = Math.round(100 * ev.loaded / ev.total);
    });
    xhr.addEventListener("load", function () {
      progress.hidden = true;
      fileInput.value = "";
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status >= 200 && xhr.status < 300) {
        textBox.value = "";
        answered({ ok: true, status: xhr.status, json: function () { return Promise.resolve(body); } });
      } else {
        answered({ ok: false, status: xhr.status, json: function () { return Promise.resolve(body); } });
      }
    });
    xhr.addEventListener("error", function () {
      progress.hidden = true;
      fileInput.value = "";
      say(word("failed"), true);
    });
    xhr.send(form);
  });

  document.getElementById("script-toggle").addEventListener("click", function () {
    applyScript(script() === "hant" ? "hans" : "hant");
  });

  var source = taxdesk.listen("/chat/events", {
    message: function (e) {
      try { render(JSON.parse(e.data)); } catch (err) { /* a malformed event: skip it */ }
    },
    ready: function () {
      if (notice.textContent === word("offline")) say("");
    }
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) say(word("expired"), true);
    else say(word("offline"));
  });

  applyScript(script());
})();
