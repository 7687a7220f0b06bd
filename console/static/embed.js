// taxdesk web chat for the office's own site: one line,
//   <script src="https://taxdesk.example.gov.cn/static/embed.js" async></script>
// adds a chat button (bottom right) that opens the chat (/chat on the same server as this
// script) in a panel. The server must allow the site to frame it: CHAT_FRAME_ANCESTORS.
// Options as data attributes on the script tag: data-label="在线咨询", data-color="#b22222".
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__taxdeskChat) return;
  window.__taxdeskChat = true;
  var origin = new URL(me.src, document.baseURI).origin;
  var label = me.getAttribute("data-label") || "在线咨询";
  var color = me.getAttribute("data-color") || "#b22222";

  function css(node, rules) { Object.keys(rules).forEach(function (k) { node.style[k] = rules[k]; }); }

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "💬 " + label;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("data-taxdesk", "chat-button");
  css(button, {
    position: "fixed", right: "16px", bottom: "16px", zIndex: "2147483646",
    padding: "12px 18px", border: "0", borderRadius: "24px", background: color,
    color: "#fff", fontSize: "16px", boxShadow: "0 2px 10px rgba(0,0,0,.25)", cursor: "pointer"
  });

  var frame = null;
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = origin + "/chat";
      frame.title = label;
      frame.setAttribute("data-taxdesk", "chat-frame");
      frame.setAttribute("allow", "clipboard-write");
      var small = window.innerWidth < 600;
      css(frame, {
        position: "fixed", zIndex: "2147483647", border: "0", background: "#fff",
        right: small ? "0" : "16px", bottom: small ? "0" : "76px",
        width: small ? "100%" : "380px", height: small ? "calc(100% - 64px)" : "600px",
        maxHeight: "calc(100% - 90px)", borderRadius: small ? "0" : "12px",
        boxShadow: "0 4px 24px rgba(0,0,0,.3)"
      });
      document.body.appendChild(frame);
    } else {
      frame.style.display = "block";
    }
    button.setAttribute("aria-expanded", "true");
  }
  function close() {
    if (frame) frame.style.display = "none";
    button.setAttribute("aria-expanded", "false");
  }
  button.addEventListener("click", function () {
    if (button.getAttribute("aria-expanded") === "true") close(); else open();
  });
  function mount() { document.body.appendChild(button); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
