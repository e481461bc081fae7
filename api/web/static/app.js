// kefu chat page: sends each message to POST /v1/chat and reads the
// server-sent events (start, delta, done, error) from a fetch stream,
// since EventSource cannot POST. Plain JS, no build step.
(function () {
  "use strict";

  var KEY = "kefu.session_id";
  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var send = document.getElementById("send");
  var reset = document.getElementById("reset");
  var busy = false;

  function newID() {
    if (window.crypto && crypto.randomUUID) return "web-" + crypto.randomUUID();
    var s = "web-";
    for (var i = 0; i < 24; i++) s += Math.floor(Math.random() * 36).toString(36);
    return s;
  }

  var memoryID = null;
  function sessionID() {
    if (memoryID) return memoryID;
    var id = null;
    try { id = localStorage.getItem(KEY); } catch (e) { /* storage blocked */ }
    if (!id) {
      id = newID();
      try { localStorage.setItem(KEY, id); } catch (e) { /* keep it in memory */ }
    }
    memoryID = id;
    return id;
  }

  var ROUTES = {
    flow: "流程", knowledge: "知识库", generative: "大模型生成",
    handoff: "转人工", fallback: "兜底回复", agent: "人工客服"
  };

  var ERRORS = {
    text_empty: "请输入内容后再发送。",
    text_too_long: "消息太长了，请精简后再发送。",
    rate_limited: "您发送得太快了，请稍等片刻再试。",
    overloaded: "当前咨询人数较多，请稍后再试。",
    unavailable: "服务暂时不可用，请稍后再试。",
    not_ready: "客服系统正在启动，请稍后再试。",
    deadline_exceeded: "回复超时了，请稍后再试。",
    unauthenticated: "暂时无法连接客服，请联系店铺。",
    permission_denied: "暂时无法连接客服，请联系店铺。"
  };
  var POLITE = "抱歉，系统开了个小差，请稍后再试。";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function scroll() { list.scrollTop = list.scrollHeight; }

  function addUser(text) {
    var li = el("li", "msg user");
    li.appendChild(el("div", "bubble", text));
    list.appendChild(li);
    scroll();
  }

  function addBot() {
    var li = el("li", "msg bot");
    li.setAttribute("data-state", "streaming");
    li.setAttribute("aria-busy", "true");
    var bubble = el("div", "bubble");
    li.appendChild(bubble);
    list.appendChild(li);
    scroll();
    return { li: li, bubble: bubble };
  }

  function finish(m, state) {
    m.li.setAttribute("data-state", state);
    m.li.removeAttribute("aria-busy");
  }

  function showError(m, err) {
    var code = err && err.code;
    m.bubble.textContent = ERRORS[code] || POLITE;
    if (err && (code || err.request_id)) {
      var n = el("div", "note");
      n.textContent = "错误码 " + (code || "unknown") + (err.request_id ? " · 请求 " + err.request_id : "");
      m.li.appendChild(n);
    }
    finish(m, "error");
    scroll();
  }

  function num(v, d) {
    return typeof v === "number" ? v.toFixed(d) : "-";
  }

  function row(dl, label, value) {
    dl.appendChild(el("dt", null, label));
    var dd = el("dd");
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
    dl.appendChild(dd);
  }

  // trace builds the "为什么这样回答" panel from the done event's reply.
  function trace(rep) {
    var d = el("details", "trace");
    d.appendChild(el("summary", null, "为什么这样回答"));
    var dl = el("dl");
    var route = rep.route || "-";
    row(dl, "路由", (ROUTES[route] ? ROUTES[route] + " " : "") + "(" + route + ")" + (rep.reason ? " · 原因：" + rep.reason : ""));
    var it = rep.intent || {};
    row(dl, "意图", (it.name || "-") + " · 置信度 " + num(it.confidence, 2));
    if (rep.flow) {
      row(dl, "流程", rep.flow.name + " → 步骤 " + (rep.flow.step || "-") + (rep.flow.active ? "（等待回答）" : "（已结束）"));
    }
    if (rep.sources && rep.sources.length) {
      var ul = el("ul");
      rep.sources.forEach(function (s) {
        var li = el("li", null, (s.used ? "✓ " : "· ") + (s.title || s.doc_id || s.id) + "  " + num(s.score, 3));
        li.title = "文档 " + s.doc_id + " / 片段 " + s.id + (s.used ? "（已采用）" : "（未采用）");
        ul.appendChild(li);
      });
      row(dl, "知识来源", ul);
    }
    if (rep.calls && rep.calls.length) {
      row(dl, "服务调用", rep.calls.map(function (c) {
        return c.service + "." + c.operation + (c.ok ? " ✓" : " ✗ " + (c.error || ""));
      }).join("；"));
    }
    if (rep.provider || rep.usage) {
      var u = rep.usage;
      row(dl, "模型", (rep.provider || "-") + (u ? " · tokens " + u.prompt_tokens + " + " + u.completion_tokens + " = " + u.total_tokens : ""));
    }
    if (rep.handoff) row(dl, "转人工", "是");
    var t = rep.timings || {};
    var parts = [];
    ["normalize", "classify", "entities", "lock", "dialog", "retrieve", "generate", "services", "save"].forEach(function (k) {
      var v = t[k + "_ms"];
      if (typeof v === "number" && v > 0) parts.push(k + " " + v.toFixed(1));
    });
    var timing = el("code", null, "总计 " + num(t.total_ms, 1) + " ms" + (parts.length ? "（" + parts.join(" · ") + "）" : ""));
    row(dl, "耗时", timing);
    d.appendChild(dl);
    return d;
  }

  function done(m, rep) {
    var text = (rep.replies || []).map(function (p) { return p.text; }).join("\n");
    if (text) m.bubble.textContent = text;
    else if (!m.bubble.textContent) m.bubble.textContent = "（没有回复内容）";
    if (rep.handoff) m.li.appendChild(el("div", "note", "已为您转接人工客服，请稍候。"));
    m.li.appendChild(trace(rep));
    finish(m, "done");
    scroll();
  }

  // parse splits an SSE block into its event name and JSON data.
  function parse(block) {
    var name = "message", data = [];
    block.split("\n").forEach(function (line) {
      if (line === "" || line.charAt(0) === ":") return;
      var i = line.indexOf(":");
      var field = i < 0 ? line : line.slice(0, i);
      var value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    });
    if (!data.length) return null;
    try { return { name: name, data: JSON.parse(data.join("\n")) }; } catch (e) { return null; }
  }

  async function ask(text) {
    var m = addBot();
    var res;
    try {
      res = await fetch("v1/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
        body: JSON.stringify({ session_id: sessionID(), channel: "web", text: text })
      });
    } catch (e) {
      showError(m, { code: "network" });
      m.bubble.textContent = "网络连接失败，请检查网络后重试。";
      return;
    }
    if (!res.ok || !res.body) {
      var env = null;
      try { env = await res.json(); } catch (e) { /* not JSON */ }
      showError(m, (env && env.error) || { code: "http_" + res.status });
      return;
    }
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buf = "", ended = false;
    function handle(ev) {
      if (!ev) return;
      if (ev.name === "delta") {
        m.bubble.textContent += ev.data.text || "";
        scroll();
      } else if (ev.name === "done") {
        ended = true;
        done(m, ev.data);
      } else if (ev.name === "error") {
        ended = true;
        showError(m, ev.data.error);
      }
    }
    try {
      for (;;) {
        var r = await reader.read();
        if (r.done) break;
        buf += decoder.decode(r.value, { stream: true }).replace(/\r\n?/g, "\n");
        var i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          handle(parse(buf.slice(0, i)));
          buf = buf.slice(i + 2);
        }
      }
      buf += decoder.decode();
      if (buf.trim()) handle(parse(buf));
    } catch (e) {
      /* the connection broke; reported below */
    }
    if (!ended) {
      var partial = m.bubble.textContent;
      showError(m, null);
      m.bubble.textContent = (partial ? partial + "\n" : "") + "连接中断了，请重新发送。";
    }
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    busy = true;
    send.disabled = true;
    input.value = "";
    addUser(text);
    try { await ask(text); } finally {
      busy = false;
      send.disabled = false;
      input.focus();
    }
  });

  reset.addEventListener("click", async function () {
    if (busy) return;
    var old = sessionID();
    try { localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    memoryID = null;
    list.textContent = "";
    sessionID();
    try { await fetch("v1/sessions/" + encodeURIComponent(old), { method: "DELETE" }); } catch (e) { /* best effort */ }
    list.appendChild(el("li", "note", "已开始新的会话。"));
    input.focus();
  });
})();
